"""JWT auth: a signed JWT (from a file or the environment) and a Vault role."""

from __future__ import annotations

import hvac

from ._login import Credential, Login, login_from_response


class JwtAuth:
    can_log_in_again = True

    def __init__(self, role: str, jwt: Credential, mount: str = "jwt") -> None:
        self._role = role
        self._jwt = jwt
        self._mount = mount
        self.description = f"jwt role {role!r} at auth/{mount}"

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.jwt.jwt_login(role=self._role, jwt=self._jwt(), path=self._mount)
        return login_from_response(response)
