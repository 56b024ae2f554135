"""``custom_header``: several headers, each a literal or a referenced secret."""

from __future__ import annotations

from ._credentials import Credentials
from ._parts import Part
from ._static import StaticAuthenticator


class CustomHeaders(StaticAuthenticator):
    type = "custom_header"

    def __init__(self, headers: list[tuple[str, Part]]) -> None:
        self._headers = headers
        self.header_names = frozenset(name.lower() for name, _ in headers)

    def current(self) -> Credentials:
        sent = tuple((name, part.value()) for name, part in self._headers)
        secrets = tuple(value for (_, value), (_, part) in zip(sent, self._headers, strict=True) if part.secret)
        return Credentials(headers=sent, secrets=secrets)
