"""Fleet mode (the ``redis:`` section): state shared by every sidecar of a deployment.

- ``FleetLimits``: rate limits exact across the fleet (``rate_limit.py``);
- ``TokenShare``: one OAuth2 token fetch per lifetime across the fleet (``tokens.py``);
- ``RedisJobStore`` / ``FleetJobStore``: background jobs in a Redis Stream any sidecar runs,
  with this sidecar's SQLite store as the fallback (``jobs.py``), their records sealed
  (``job_records.py``);
- ``FleetCache``: cached answers shared by the fleet (``cache.py``), sealed under ``redis.cache_key``;
- ``Seal``: AES-256-GCM for what Redis keeps, under ``redis.token_key`` / ``redis.job_key`` /
  ``redis.cache_key`` (``_seal.py``);
- ``FleetRedis``: the connection, its time bound, and the fallback when Redis is gone (``redis.py``);
  which topology it talks to (one Redis, Redis Cluster, Sentinel) is ``topology.py``'s alone.
"""

from __future__ import annotations

from opentelemetry import metrics

from ..config import RedisSettings
from ..secrets import SecretStore
from ._seal import Seal, SealKeyError
from .cache import FleetCache
from .jobs import FleetJobStore, RedisJobStore
from .rate_limit import FleetLimits
from .redis import FleetRedis, RedisUnavailable
from .tokens import TokenKeyError, TokenShare

__all__ = [
    "Fleet",
    "FleetCache",
    "FleetJobStore",
    "FleetLimits",
    "FleetRedis",
    "RedisJobStore",
    "RedisUnavailable",
    "Seal",
    "SealKeyError",
    "TokenKeyError",
    "TokenShare",
]


class Fleet:
    """The Sidecar service for fleet mode: started after the secret store (the Redis URL and
    password are references) and before the authenticators (tokens are shared)."""

    def __init__(
        self,
        settings: RedisSettings,
        store: SecretStore,
        environment: str,
        *,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.settings = settings
        self.redis = FleetRedis(settings, store, environment, meter_provider=meter_provider)
        self.token_shares: dict[str, TokenShare] = {}
        # Background job records are sealed under their own key (the loader requires it with jobs on).
        self.job_seal = (
            Seal(self.redis.job_key, "redis.job_key", "background jobs cannot be kept sealed in Redis")
            if settings.jobs
            else None
        )
        # Cached answers are sealed under their own key (the loader requires it with the cache on).
        self.cache_seal = (
            Seal(self.redis.cache_key, "redis.cache_key", "cached answers cannot be shared sealed")
            if settings.cache
            else None
        )
        self._started = False

    def share_token(self, api: str, manager: object) -> TokenShare | None:
        """A share for the OAuth2 token manager of ``api`` (None when tokens are not shared)."""
        if not self.settings.share_tokens:
            return None
        identity = manager.identity  # type: ignore[attr-defined]
        timeout = manager.settings.timeout_ms / 1000  # type: ignore[attr-defined]
        share = TokenShare(self.redis, api, identity, fetch_timeout=timeout)
        if self._started:
            share.check_key()
        self.token_shares[api] = share
        return share

    async def start(self) -> None:
        for share in self.token_shares.values():
            share.check_key()  # a bad key stops the start, before any token is fetched
        if self.job_seal is not None:
            self.job_seal.check()  # likewise before any job is queued or run
        if self.cache_seal is not None:
            self.cache_seal.check()  # and before any answer is shared
        await self.redis.start()
        self._started = True

    async def aclose(self) -> None:
        await self.redis.aclose()
