"""The response cache one sidecar serves from: its own LRU in front of the fleet's shared store.

A lookup tries the local entries, then (fleet mode, ``redis.cache: true``) the shared store,
whose answer is then kept locally for what remains of its TTL. A new answer is stored locally
at once and written to the shared store in the background: the call that fetched it never
waits on Redis for that, and a lookup waits at most ``redis.timeout_ms``; Redis down means
local entries only (the cache never fails a call, whatever ``redis.on_unavailable`` says).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from opentelemetry import metrics

from ._entry import CachedAnswer
from ._keys import CacheKey, KeyMaker
from ._lru import DEFAULT_MAX_BYTES, LocalCache

log = logging.getLogger("custom_api_sidecar.cache")
MAX_PENDING_WRITES = 256  # shared-store writes in flight; past it a new answer stays local only


class SharedStore(Protocol):
    """The fleet's entries (``custom_api_sidecar.fleet.cache``): None for a miss, an unavailable
    store or a refused (forged, tampered, oversized) value alike."""

    async def get(self, key: CacheKey) -> CachedAnswer | None: ...

    async def put(self, key: CacheKey, answer: CachedAnswer, ttl: float) -> None: ...


class ResponseCache:
    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        keys: KeyMaker | None = None,
        shared: SharedStore | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        """``max_bytes`` 0 turns caching off (every call goes upstream)."""
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("custom_api_sidecar.cache")
        self._lookups = meter.create_counter(
            "custom_api_sidecar.cache.lookups",
            description="Calls to operations configured with cache:, by api, operation and result (hit or miss)",
        )
        self._evictions = meter.create_counter(
            "custom_api_sidecar.cache.evictions",
            description="Cached answers pushed out of the byte budget before they expired, by api",
        )
        self.local = LocalCache(max_bytes, on_evict=lambda api: self._evictions.add(1, {"custom_api.api": api}))
        meter.create_observable_gauge(
            "custom_api_sidecar.cache.bytes",
            callbacks=[lambda _options: [metrics.Observation(self.local.bytes)]],
            description="Bytes held by this sidecar's cached answers (body, headers, key, overhead)",
            unit="By",
        )
        self.keys = keys or KeyMaker()
        self.shared = shared
        self.enabled = max_bytes > 0
        self.hits = self.misses = 0  # the counters' totals, for tests and status pages
        self._writes: set[asyncio.Task[None]] = set()

    def counted(self, api: str, operation: str, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        self._lookups.add(
            1, {"custom_api.api": api, "custom_api.operation": operation, "result": "hit" if hit else "miss"}
        )

    async def get(self, key: CacheKey, now: float) -> CachedAnswer | None:
        """``now``: the wall clock (a shared answer keeps its expiry time)."""
        answer = self.local.get(key)
        if answer is not None or self.shared is None:
            return answer
        answer = await self.shared.get(key)
        if answer is None:
            return None
        remaining = answer.expires_at - now
        if remaining <= 0:
            return None
        self.local.put(key, answer, remaining)
        return answer

    def put(self, key: CacheKey, answer: CachedAnswer, ttl: float) -> None:
        stored = self.local.put(key, answer, ttl)
        if self.shared is None or not stored or len(self._writes) >= MAX_PENDING_WRITES:
            return  # too large for this sidecar is too large for the fleet
        task = asyncio.create_task(self.shared.put(key, answer, ttl), name="cache-share")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def keep_only(self, digests: dict[str, str]) -> None:
        """After a reload: drop the entries of every API that changed or is gone."""
        dropped = self.local.keep_only(digests)
        if dropped:
            log.info("response cache: dropped %d cached answers of changed or removed APIs", dropped)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pending: Iterable[asyncio.Task[None]] = list(self._writes)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task
