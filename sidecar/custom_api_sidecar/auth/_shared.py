"""The hook through which an OAuth2 token manager shares its token with other sidecars
(``custom_api_sidecar.fleet.tokens`` implements it on Redis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SharedToken:
    """A token as the fleet shares it; times are Unix epoch seconds (sidecars share no monotonic clock)."""

    value: str
    refresh_at: float
    expires_at: float | None


class SharedTokenUnavailable(Exception):
    """The shared token store is down and the policy is to fail closed."""


class TokenShareHook(Protocol):
    async def obtain(
        self, fetch: Callable[[], Awaitable[SharedToken]], rejected: str | None = None
    ) -> SharedToken | None:
        """A fresh token: someone else's, or ``fetch()``'s stored for the others; None to fetch
        one's own (sharing unavailable, falling back)."""
        ...

    def check_key(self) -> None: ...
