"""What an authenticator hands the pipeline for one call, and the protocol it implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Credentials:
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    # Every form of a secret value the upstream receives (raw, as sent, encoded), never to be
    # returned: a response header that carries one is dropped, whatever its name, and the body and
    # reason phrase show it as REDACTED (pipeline/redact.py finds each in its echoed forms).
    secrets: tuple[str, ...] = ()


class Authenticator(Protocol):
    """Injects one API's credentials. Static types read the secret store (memory only);
    OAuth2 reads its cached token. ``header_names`` are lower-cased."""

    type: str
    header_names: frozenset[str]
    query_names: frozenset[str]

    async def credentials(self, timeout: float) -> Credentials:
        """The credentials for one call; ``timeout`` bounds any wait (OAuth2 with no usable token)."""
        ...

    def rejected(self, credentials: Credentials) -> bool:
        """The upstream answered 401 to ``credentials``: drop them if they can be renewed,
        and say whether one retry with fresh credentials is worthwhile."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...
