"""Rate limits counted once for the whole fleet, in Redis.

A sliding-window log per API and window: one sorted set of admitted calls, scored
by Redis's own clock (so sidecar clocks never matter). One Lua script per limited
call checks every window of the API and admits the call into all of them, or
none, atomically: the limit is exact across any number of sidecars, in any
window of the configured length. Memory is one entry per admitted call in the
window (about 60 bytes): 100/minute is ~6 KB; 100,000/day is ~6 MB.
"""

from __future__ import annotations

import itertools
from typing import Any

import redis.asyncio as aioredis

from ..pipeline.security import Denied, LocalLimits, configured_windows
from ..registry import Registry
from .redis import FleetRedis, RedisUnavailable

# KEYS: one sorted set per window; ARGV[1]: a unique member; then (limit, window ms) per key.
# Returns 0 when admitted, else the milliseconds until the fullest window admits one.
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, denied = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait, denied = w, i end
  end
end
if denied > 0 then return {denied, math.max(wait, 1)} end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 1]))
end
return {0, 0}
"""


class FleetLimits:
    """``Limits`` for the RateLimiter stage: Redis first; when Redis is unavailable, this
    sidecar's local limits (or RATE_LIMITED with ``on_unavailable: fail_closed``)."""

    def __init__(self, registry: Registry, redis: FleetRedis, local: LocalLimits | None = None) -> None:
        self._redis = redis
        self._local = local or LocalLimits(registry)
        self._windows = configured_windows(registry)
        self._keys = {api: [redis.key(api, f"rl:{period}") for period, _, _ in w] for api, w in self._windows.items()}
        self._args = {
            api: [value for _, limit, seconds in w for value in (limit, int(seconds * 1000))]
            for api, w in self._windows.items()
        }
        self._script: Any = None
        self._members = itertools.count()
        self.round_trips = 0  # Redis calls made, for the benchmark

    async def acquire(self, api: str) -> Denied | None:
        windows = self._windows.get(api)
        if not windows:
            return None
        member = f"{self._redis.instance_id}:{next(self._members)}"
        try:
            self.round_trips += 1
            denied, wait_ms = await self._redis.run(
                lambda client: self._evaluate(client, self._keys[api], [member, *self._args[api]])
            )
        except RedisUnavailable:
            self._redis.fell_back("rate_limit")
            if self._redis.fail_closed:
                period, limit, _ = windows[0]
                return Denied(limit, period, 1.0, " across the fleet (its shared counter in Redis is unavailable)")
            return self._local.acquire_now(api)
        if denied:
            period, limit, _ = windows[int(denied) - 1]
            return Denied(limit, period, int(wait_ms) / 1000, " across the fleet")
        return None

    async def _evaluate(self, client: aioredis.Redis, keys: list[str], args: list[Any]) -> list[int]:
        if self._script is None:
            self._script = client.register_script(SLIDING_WINDOW)  # EVALSHA, loading it once if needed
        result: list[int] = await self._script(keys=keys, args=args)
        return result
