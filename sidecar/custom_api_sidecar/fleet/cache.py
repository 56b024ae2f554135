"""Cached answers shared by the fleet (``redis.cache: true``).

An answer sits under ``<prefix>:{<env>:<api>}:cache:<HMAC key>`` (the API's hash tag: one shard
per API on a cluster) with a Redis TTL equal to what remains of its own, **sealed** with
AES-256-GCM under ``redis.cache_key`` with the Redis key as associated data: whoever can write
to Redis can neither read an answer nor forge or move one. A value that is too large, does not
open, or does not parse is refused (counted in ``custom_api_sidecar.cache.refused``, logged
once per reason) and never served: the call goes upstream and its answer replaces it.

Every command runs under ``redis.timeout_ms`` (``FleetRedis.run``); Redis unavailable means a
miss (counted as a fallback of the ``cache`` feature), never a failed call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from opentelemetry import metrics

from ..cache import CachedAnswer, CacheKey
from ..cache._entry import Malformed
from ._seal import NONCE_BYTES, Seal, Unopenable
from .redis import FleetRedis, RedisUnavailable

log = logging.getLogger("custom_api_sidecar.cache")
SEALED_OVERHEAD = NONCE_BYTES + 16 + 8 + 64  # nonce, tag, expiry, protobuf framing
KEY_LABEL = b"custom-api-sidecar cache keys v1"
# KEYS: the entry. ARGV: the largest value to read. The value, nil, or its length when larger: whoever
# can write to Redis could put 512 MB there, and a GET would bring it all into this sidecar first.
READ = """
local size = redis.call('STRLEN', KEYS[1])
if size == 0 then return false end
if size > tonumber(ARGV[1]) then return size end
return redis.call('GET', KEYS[1])
"""


class FleetCache:
    def __init__(
        self,
        redis: FleetRedis,
        seal: Seal,
        max_entry_bytes: int,
        *,
        meter_provider: metrics.MeterProvider | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._seal = seal
        self._max_value = max_entry_bytes + SEALED_OVERHEAD
        self._clock = wall_clock
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("custom_api_sidecar.cache")
        self._refused = meter.create_counter(
            "custom_api_sidecar.cache.refused",
            description="Shared cache entries refused, by api and reason (too_large, unopenable, malformed)",
        )
        self.refused = 0
        self._logged: set[str] = set()

    def key_secret(self) -> bytes:
        """The HMAC key every sidecar of the fleet files answers under (derived, not the seal key)."""
        return self._seal.derive(KEY_LABEL)

    def _redis_key(self, key: CacheKey) -> str:
        return self._redis.key(key.api, f"cache:{key.hex}")

    async def get(self, key: CacheKey) -> CachedAnswer | None:
        name = self._redis_key(key)
        try:
            raw: Any = await self._redis.run(lambda c: cast("Awaitable[Any]", c.eval(READ, 1, name, self._max_value)))
        except RedisUnavailable:
            self._redis.fell_back("cache")
            return None
        if raw is None:
            return None
        if not isinstance(raw, bytes) or len(raw) > self._max_value:  # its length (an int): never read
            self._refuse(key, "too_large", "is larger than the largest entry the cache stores")
            return None
        try:
            answer = CachedAnswer.from_bytes(self._seal.open(raw, name.encode()))
        except Unopenable:
            self._refuse(key, "unopenable", "does not open with redis.cache_key (forged, tampered or moved)")
            return None
        except Malformed:
            self._refuse(key, "malformed", "opened but is not a cached answer")
            return None
        return answer if answer.expires_at > self._clock() else None

    async def put(self, key: CacheKey, answer: CachedAnswer, ttl: float) -> None:
        name = self._redis_key(key)
        payload = self._seal.seal(answer.to_bytes(), name.encode())
        try:
            await self._redis.run(lambda c: c.set(name, payload, px=max(1, int(ttl * 1000))))
        except RedisUnavailable:
            self._redis.fell_back("cache")

    def _refuse(self, key: CacheKey, reason: str, why: str) -> None:
        self.refused += 1
        self._refused.add(1, {"custom_api.api": key.api, "reason": reason})
        if reason not in self._logged:  # once per reason: a flood of forged entries is one line
            self._logged.add(reason)
            log.warning("shared cache entry of api %r refused: it %s; calling the upstream instead", key.api, why)
