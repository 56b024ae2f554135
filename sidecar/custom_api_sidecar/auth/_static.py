"""Base of the auth types whose credentials are plain secrets: nothing to renew on a 401."""

from __future__ import annotations

from ._credentials import Credentials


class StaticAuthenticator:
    type = ""
    header_names: frozenset[str] = frozenset()
    query_names: frozenset[str] = frozenset()

    async def credentials(self, timeout: float) -> Credentials:
        return self.current()

    def current(self) -> Credentials:
        raise NotImplementedError

    def rejected(self, credentials: Credentials) -> bool:
        # The secret store already re-reads rotated values in the background; a retry
        # now would send the same value again.
        return False

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass
