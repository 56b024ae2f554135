"""Kubernetes auth: the pod's service account token (re-read at each login, since
projected tokens rotate) and a Vault role."""

from __future__ import annotations

import hvac

from ._login import Credential, Login, login_from_response


class KubernetesAuth:
    can_log_in_again = True

    def __init__(self, role: str, jwt: Credential, mount: str = "kubernetes") -> None:
        self._role = role
        self._jwt = jwt
        self._mount = mount
        self.description = f"kubernetes role {role!r} at auth/{mount}"

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.kubernetes.login(role=self._role, jwt=self._jwt(), mount_point=self._mount)
        return login_from_response(response)
