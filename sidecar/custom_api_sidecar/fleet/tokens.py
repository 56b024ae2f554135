"""OAuth2 tokens shared by the fleet: one token fetch per (API, environment, client) per
token lifetime, however many sidecars there are.

The token sits in Redis under ``<prefix>:{<env>:<api>}:oauth2:<client hash>`` with a TTL
of its lifetime, **encrypted** with AES-256-GCM (the key from ``redis.token_key``, a
secret reference; the Redis key is the associated data, so a ciphertext cannot be
replayed under another API's key). A sidecar that needs a token:

1. uses the cached one while it is fresh (before its refresh time, 80% of its life);
2. else takes a short lock (``SET NX PX``) and fetches, then stores it for everyone;
3. else (another sidecar holds the lock) polls for the token that sidecar is fetching,
   for at most the token endpoint's timeout; still nothing: fetches its own.

A token an upstream rejected (401) is deleted from Redis only if it is still the cached
one (compare and delete), so one 401 causes one new fetch fleet-wide. With Redis
unavailable each sidecar fetches its own tokens (or fails closed), as before sharing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as aioredis

from ..auth._shared import SharedToken, SharedTokenUnavailable
from ._seal import Seal, SealKeyError, Unopenable
from .redis import FleetRedis, RedisUnavailable

POLL_S = 0.05  # while another sidecar fetches
LOCK_MARGIN_S = 2.0  # the lock outlives the token request's timeout by this much

# Delete KEYS[1] only while it still holds ARGV[1] (the rejected token's ciphertext).
COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TokenKeyError(SealKeyError):
    """``redis.token_key`` does not hold a usable key (the message never shows it)."""


class TokenShare:
    """One per OAuth2 API; ``obtain`` is what ``ClientCredentials`` calls instead of fetching."""

    def __init__(
        self,
        redis: FleetRedis,
        api: str,
        client_identity: Callable[[], str],
        *,
        fetch_timeout: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._api = api
        self._identity = client_identity  # token URL, client id, scopes...: which token this is
        self._fetch_timeout = fetch_timeout
        self._clock = wall_clock
        self._seal = Seal(redis.token_key, "redis.token_key", "OAuth2 tokens cannot be shared encrypted", TokenKeyError)
        self.fetched_here = 0  # fetches this sidecar made for the fleet
        self.adopted = 0  # tokens taken from Redis instead of fetching
        self.round_trips = 0

    def check_key(self) -> None:
        """Decode the encryption key now (at start), so a bad key is a startup error."""
        self._seal.check()

    def _key(self) -> str:
        digest = hashlib.sha256(self._identity().encode()).hexdigest()[:24]
        return self._redis.key(self._api, f"oauth2:{digest}")

    # --- the protocol ----------------------------------------------------------------------

    async def obtain(
        self, fetch: Callable[[], Awaitable[SharedToken]], rejected: str | None = None
    ) -> SharedToken | None:
        """A fresh token for the fleet, fetched here only if no sidecar has one; None when Redis
        is unavailable and the policy is to fall back (the caller fetches its own)."""
        key = self._key()
        try:
            return await self._obtain(key, fetch, rejected)
        except RedisUnavailable as exc:
            self._redis.fell_back("oauth2_token")
            if self._redis.fail_closed:
                raise SharedTokenUnavailable(
                    "the fleet's shared token store (Redis) is unavailable and redis.on_unavailable "
                    f"is fail_closed: {exc}"
                ) from None
            return None

    async def _obtain(
        self, key: str, fetch: Callable[[], Awaitable[SharedToken]], rejected: str | None
    ) -> SharedToken | None:
        cached, raw = await self._read(key)
        if cached is not None and raw is not None and rejected is not None and cached.value == rejected:
            self.round_trips += 1
            await self._redis.run(lambda c: _compare_and_delete(c, key, raw))
            cached = None
        if cached is not None and self._clock() < cached.refresh_at:
            self.adopted += 1
            return cached
        lock = f"{key}:lock"
        owner = self._redis.instance_id
        ttl_ms = int((self._fetch_timeout + LOCK_MARGIN_S) * 1000)
        self.round_trips += 1
        if await self._redis.run(lambda c: c.set(lock, owner, nx=True, px=ttl_ms)):
            try:
                return await self._fetch_and_store(key, fetch)
            finally:
                self.round_trips += 1
                await self._redis.run(lambda c: _compare_and_delete(c, lock, owner))
        return await self._await_other(key, cached)

    async def _fetch_and_store(self, key: str, fetch: Callable[[], Awaitable[SharedToken]]) -> SharedToken:
        again, _ = await self._read(key)  # another sidecar may have stored one while we took the lock
        if again is not None and self._clock() < again.refresh_at:
            self.adopted += 1
            return again
        token = await fetch()
        self.fetched_here += 1
        lifetime = (token.expires_at if token.expires_at is not None else token.refresh_at) - self._clock()
        if lifetime > 0:
            payload = self._encrypt(key, token)
            self.round_trips += 1
            await self._redis.run(lambda c: c.set(key, payload, px=max(1, int(lifetime * 1000))))
        return token

    async def _await_other(self, key: str, stale: SharedToken | None) -> SharedToken | None:
        deadline = time.monotonic() + self._fetch_timeout + LOCK_MARGIN_S
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            token, _ = await self._read(key)
            if token is not None and self._clock() < token.refresh_at and token != stale:
                self.adopted += 1
                return token
        if stale is not None and (stale.expires_at is None or self._clock() < stale.expires_at):
            return stale  # the other fetch failed or is slow; the old token still works
        return None  # fetch our own

    async def _read(self, key: str) -> tuple[SharedToken | None, bytes | None]:
        self.round_trips += 1
        raw: Any = await self._redis.run(lambda c: _get(c, key))
        if raw is None:
            return None, None
        return self._decrypt(key, raw), raw

    # --- at rest --------------------------------------------------------------------------

    def _encrypt(self, key: str, token: SharedToken) -> bytes:
        body = json.dumps({"v": token.value, "r": token.refresh_at, "e": token.expires_at}).encode()
        return self._seal.seal(body, key.encode())

    def _decrypt(self, key: str, raw: bytes) -> SharedToken | None:
        """None for anything unreadable (another key, tampering): it is then fetched anew and replaced."""
        try:
            data = json.loads(self._seal.open(raw, key.encode()))
            return SharedToken(str(data["v"]), float(data["r"]), None if data["e"] is None else float(data["e"]))
        except (Unopenable, ValueError, KeyError, TypeError):
            return None


async def _get(client: aioredis.Redis, key: str) -> Any:
    return await client.get(key)


async def _compare_and_delete(client: aioredis.Redis, key: str, expected: Any) -> Any:
    # redis-py types eval for its sync and asyncio clients at once (Awaitable[str] | str)
    return await cast("Awaitable[Any]", client.eval(COMPARE_AND_DELETE, 1, key, expected))
