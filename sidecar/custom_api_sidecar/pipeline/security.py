"""Stages of the security layer: URL allowlist and per-API rate limits."""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Collection

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


class RateLimiter:
    """Fixed-window per-minute and per-day limits per API, local to this sidecar."""

    def __init__(
        self,
        registry: Registry,
        previous: RateLimiter | None = None,
        keep: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``previous``/``keep``: after a config reload, the APIs in ``keep`` (unchanged) keep
        their windows, so a reload neither resets nor doubles a limit."""
        self._clock = clock
        self._windows: dict[str, list[tuple[str, _Window]]] = {}
        for name, api in registry.apis.items():
            if previous is not None and name in keep and name in previous._windows:
                self._windows[name] = previous._windows[name]
                continue
            limit: RateLimit | None = api.config.security.rate_limit
            windows = []
            if limit and limit.requests_per_minute:
                windows.append(("minute", _Window(limit.requests_per_minute, 60.0)))
            if limit and limit.requests_per_day:
                windows.append(("day", _Window(limit.requests_per_day, 86_400.0)))
            if windows:
                self._windows[name] = windows

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        windows = self._windows.get(op.api.name)
        if windows:
            now = self._clock()
            for period, window in windows:
                wait = window.retry_after(now)
                if wait is not None:
                    raise SidecarError(
                        ErrorCode.RATE_LIMITED,
                        f"{op.api.name}: rate limit of {window.limit} requests per {period} reached; "
                        f"retry in {math.ceil(wait)} s",
                        api=op.api.name,
                        operation=op.name,
                    )
            for _, window in windows:
                window.count += 1
        return await call_next(call)
