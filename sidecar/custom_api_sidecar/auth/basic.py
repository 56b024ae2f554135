"""``basic_auth``: ``Authorization: Basic base64(username:password)`` (RFC 7617, UTF-8)."""

from __future__ import annotations

import base64

from ._credentials import Credentials
from ._parts import Part
from ._static import StaticAuthenticator


class BasicAuth(StaticAuthenticator):
    type = "basic_auth"
    header_names = frozenset({"authorization"})

    def __init__(self, username: Part, password: Part) -> None:
        self._username = username
        self._password = password

    def current(self) -> Credentials:
        username, password = self._username.value(), self._password.value()
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        sent = f"Basic {encoded}"
        secrets = (password, encoded, sent, *((username,) if self._username.secret else ()))
        return Credentials(headers=(("Authorization", sent),), secrets=secrets)
