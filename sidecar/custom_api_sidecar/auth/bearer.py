"""``bearer_token``: ``Authorization: Bearer <token>``."""

from __future__ import annotations

from ._credentials import Credentials
from ._parts import Part
from ._static import StaticAuthenticator


class BearerToken(StaticAuthenticator):
    type = "bearer_token"
    header_names = frozenset({"authorization"})

    def __init__(self, token: Part) -> None:
        self._token = token

    def current(self) -> Credentials:
        token = self._token.value()
        sent = f"Bearer {token}"
        return Credentials(headers=(("Authorization", sent),), secrets=(token, sent))
