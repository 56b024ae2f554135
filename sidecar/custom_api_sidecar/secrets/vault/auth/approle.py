"""AppRole auth: role_id + secret_id (each a literal id or an env:// / file:// reference)."""

from __future__ import annotations

import hvac

from ._login import Credential, Login, login_from_response


class AppRoleAuth:
    can_log_in_again = True

    def __init__(self, role_id: Credential, secret_id: Credential | None, mount: str = "approle") -> None:
        self._role_id = role_id
        self._secret_id = secret_id
        self._mount = mount
        self.description = f"approle at auth/{mount}"

    def login(self, client: hvac.Client) -> Login:
        secret_id = self._secret_id() if self._secret_id is not None else None
        response = client.auth.approle.login(role_id=self._role_id(), secret_id=secret_id, mount_point=self._mount)
        return login_from_response(response)
