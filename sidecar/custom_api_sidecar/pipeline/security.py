"""Stages of the security layer: URL allowlist and per-API rate limits."""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..config import RateLimit
from ..errors import SidecarError
from ..registry import Registry
from ._call import Call, UpstreamResponse
from ._compose import Handler


class UrlAllowlist:
    """Refuse any URL outside the API's ``security.url_allowlist`` patterns (when set)."""

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op, out = call.operation, call.outbound
        assert op is not None and out is not None
        patterns = op.api.config.security.url_allowlist
        if patterns:
            url = out.origin + out.path
            if not any(fnmatch.fnmatchcase(url, pattern) for pattern in patterns):
                raise SidecarError(
                    ErrorCode.URL_NOT_ALLOWED,
                    f"{op.api.name}.{op.name}: {url} is not in the API's url_allowlist",
                    api=op.api.name,
                    operation=op.name,
                )
        return await call_next(call)


class _Window:
    __slots__ = ("count", "limit", "seconds", "start")

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds, self.start, self.count = limit, seconds, 0.0, 0

    def retry_after(self, now: float) -> float | None:
        if now - self.start >= self.seconds:
            self.start, self.count = now, 0
        if self.count >= self.limit:
            return self.start + self.seconds - now
        return None


@dataclass(frozen=True, slots=True)
class Denied:
    """A limit that refused a call: which, and how long until it admits one."""

    limit: int
    period: str  # minute | day
    wait: float  # seconds
    scope: str = ""  # "" for this sidecar; " across the fleet" for a shared limit


class Limits(Protocol):
    """Where limits are counted: in this sidecar (LocalLimits) or fleet-wide (fleet.FleetLimits)."""

    async def acquire(self, api: str) -> Denied | None:
        """Count one call to ``api``; None if admitted."""
        ...


def configured_windows(registry: Registry) -> dict[str, list[tuple[str, int, float]]]:
    """Per API with a rate limit: (period, limit, seconds) for each configured window."""
    out: dict[str, list[tuple[str, int, float]]] = {}
    for name, api in registry.apis.items():
        limit: RateLimit | None = api.config.security.rate_limit
        windows = []
        if limit and limit.requests_per_minute:
            windows.append(("minute", limit.requests_per_minute, 60.0))
        if limit and limit.requests_per_day:
            windows.append(("day", limit.requests_per_day, 86_400.0))
        if windows:
            out[name] = windows
    return out


class LocalLimits:
    """Fixed-window per-minute and per-day limits per API, local to this sidecar."""

    def __init__(
        self,
        registry: Registry,
        previous: LocalLimits | None = None,
        keep: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``previous``/``keep``: after a config reload, the APIs in ``keep`` (unchanged) keep
        their windows, so a reload neither resets nor doubles a limit."""
        self._clock = clock
        self._windows: dict[str, list[tuple[str, _Window]]] = {}
        for name, windows in configured_windows(registry).items():
            if previous is not None and name in keep and name in previous._windows:
                self._windows[name] = previous._windows[name]
            else:
                self._windows[name] = [(period, _Window(limit, seconds)) for period, limit, seconds in windows]

    async def acquire(self, api: str) -> Denied | None:
        return self.acquire_now(api)

    def acquire_now(self, api: str) -> Denied | None:
        windows = self._windows.get(api)
        if not windows:
            return None
        now = self._clock()
        for period, window in windows:
            wait = window.retry_after(now)
            if wait is not None:
                return Denied(window.limit, period, wait)
        for _, window in windows:
            window.count += 1
        return None


class RateLimiter:
    """Stage: ``security.rate_limit`` per API, counted by ``limits``: this sidecar's own
    (``LocalLimits``), or the fleet's (``fleet.FleetLimits``, which falls back to local ones)."""

    def __init__(self, registry: Registry, limits: Limits) -> None:
        self._limited = frozenset(configured_windows(registry))
        self.limits = limits

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        if op.api.name in self._limited:
            denied = await self.limits.acquire(op.api.name)
            if denied is not None:
                raise SidecarError(
                    ErrorCode.RATE_LIMITED,
                    f"{op.api.name}: rate limit of {denied.limit} requests per {denied.period}{denied.scope} "
                    f"reached; retry in {math.ceil(denied.wait)} s",
                    api=op.api.name,
                    operation=op.name,
                )
        return await call_next(call)
