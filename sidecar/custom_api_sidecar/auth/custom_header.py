"""``custom_header``: several headers, each a literal or a referenced secret."""

from __future__ import annotations

from ._credentials import Credentials
from ._parts import Part
from ._static import StaticAuthenticator


class CustomHeaders(StaticAuthenticator):
    type = "custom_header"

    def __init__(self, headers: list[tuple[str, str, Part]]) -> None:
        """``(name, prefix, part)``: the header sends ``prefix + value``; the prefix is never secret."""
        self._headers = headers
        self.header_names = frozenset(name.lower() for name, _, _ in headers)

    def current(self) -> Credentials:
        sent: list[tuple[str, str]] = []
        secrets: list[str] = []
        for name, prefix, part in self._headers:
            value = part.value()
            sent.append((name, prefix + value))
            if part.secret:
                secrets.append(value)  # the raw value; a response header containing it is dropped
        return Credentials(headers=tuple(sent), secrets=tuple(secrets))
