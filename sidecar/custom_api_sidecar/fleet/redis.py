"""The Redis connection shared by fleet features, and what happens when Redis is gone.

Every command runs under ``redis.timeout_ms``: no call waits on Redis longer than that.
A connection failure (or three timeouts in a row) marks Redis unavailable: from
then on features fail over at once (their ``fallback``: local limits, own tokens,
the SQLite job store; or fail closed with ``redis.on_unavailable: fail_closed``),
with one WARNING and a counter per fallen-back call, while a background probe
pings Redis; when it answers, sharing resumes (one INFO line).

Keys are ``<key_prefix>:{<environment>:<api>}:<what>``: the braces are a Redis Cluster
hash tag, so every key of one API (its limits, token) lives on one shard, and different APIs
and environments spread over the shards.

The topology (one Redis, Redis Cluster, Sentinel) is ``topology.py``'s alone. Availability is
one flag for the whole topology: when any shard has no primary (a cluster failover), or Sentinel's
primary is gone, every feature falls back until the probe sees a primary answer for every shard
again (simple and predictable; a failover lasts seconds). After that, sharing resumes everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from opentelemetry import metrics
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, RedisClusterException, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError

from ..auth._parts import Part
from ..config import RedisSettings
from ..errors import SidecarError
from ..secrets import SecretStore
from . import topology

log = logging.getLogger("custom_api_sidecar.redis")
# No primary to answer: the connection failed, or (Redis Cluster) a slot has no primary now or the
# client cannot build a slot map. Redis is down until the probe sees every primary answer.
NO_PRIMARY = (RedisConnectionError, ClusterDownError, TryAgainError, RedisClusterException, OSError)
FAILED = (RedisError, RedisClusterException, OSError, TimeoutError)
T = TypeVar("T")
PROBE_INTERVAL_S = 0.5  # how often an unavailable Redis is pinged
TIMEOUTS_BEFORE_DOWN = 3


class RedisUnavailable(Exception):
    """Redis did not answer in time (or is known to be down); the feature falls back."""


class FleetRedis:
    def __init__(
        self,
        settings: RedisSettings,
        store: SecretStore,
        environment: str,
        *,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.settings = settings
        self.environment = environment
        self.timeout = settings.timeout_ms / 1000
        self.fail_closed = settings.on_unavailable == "fail_closed"
        self._url = Part(settings.url, store, environment) if settings.url else None
        self._password = Part(settings.password, store, environment) if settings.password else None
        sentinel = settings.sentinel
        self._sentinel_password = (
            Part(sentinel.password, store, environment) if sentinel is not None and sentinel.password else None
        )
        tls = settings.tls
        self._tls = {
            key: Part(value, store, environment)
            for key, value in (
                ("ca_cert", tls.ca_cert if tls else None),
                ("client_cert", tls.client_cert if tls else None),
                ("client_key", tls.client_key if tls else None),
            )
            if value
        }
        self.token_key = Part(settings.token_key, store, environment) if settings.token_key else None
        self.job_key = Part(settings.job_key, store, environment) if settings.job_key else None
        self.cache_key = Part(settings.cache_key, store, environment) if settings.cache_key else None
        self.client: aioredis.Redis | None = None
        self.available = False
        self._timeouts = 0
        self._probe: asyncio.Task[None] | None = None
        self._tls_dir: str | None = None
        # Unique per process: members of sliding-window logs, lock owners, stream consumers.
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("custom_api_sidecar.redis")
        self._fallbacks = meter.create_counter(
            "custom_api_sidecar.redis.fallbacks",
            description="Calls that could not use Redis and fell back (or failed closed), by feature",
        )
        self.fallbacks = 0  # the same count, for tests and status pages

    def key(self, api: str, what: str) -> str:
        return f"{self.settings.key_prefix}:{{{self.environment}:{api}}}:{what}"

    # --- lifetime ---------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self.client = self._connect()
        except SidecarError as err:  # a reference that does not resolve (yet): named, never a value
            log.warning("redis: cannot connect: %s; %s until it can", err.message, self._policy())
            self._probe = asyncio.create_task(self._probe_forever(), name="redis-probe")
            return
        try:
            async with asyncio.timeout(max(self.timeout, 1.0)):
                await topology.ping(self.client)
            self.available = True
            log.info("redis: connected; fleet-wide sharing is on")
        except FAILED as exc:
            log.warning("redis: unavailable at startup (%s); %s until it answers", _why(exc), self._policy())
        self._probe = asyncio.create_task(self._probe_forever(), name="redis-probe")

    def _connect(self) -> aioredis.Redis:
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": max(self.timeout, 0.5),
            # One immediate retry on a fresh connection (a pooled one may predate a Redis restart);
            # redis-py's default (10, with backoff) would spend the whole bound on a dead Redis.
            "retry": Retry(NoBackoff(), 1),
            "max_connections": 64,
        }
        if self._password is not None:
            kwargs["password"] = self._password.value()
        if self.settings.username:
            kwargs["username"] = self.settings.username
        if "ca_cert" in self._tls:
            kwargs["ssl_ca_data"] = self._tls["ca_cert"].value()
        if "client_cert" in self._tls:
            # The TLS library reads a client certificate and key only from files: private ones, removed at close.
            self._tls_dir = tempfile.mkdtemp(prefix="custom-api-sidecar-redis-tls-")
            for name in ("client_cert", "client_key"):
                path = os.path.join(self._tls_dir, name)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(self._tls[name].value())
                kwargs["ssl_certfile" if name == "client_cert" else "ssl_keyfile"] = path
        url = self._url.value() if self._url is not None else None
        sentinel_password = self._sentinel_password.value() if self._sentinel_password is not None else None
        return topology.build(self.settings, url, kwargs, sentinel_password)

    async def aclose(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)

    # --- commands -----------------------------------------------------------------------

    async def run(self, fn: Callable[[aioredis.Redis], Awaitable[T]], timeout: float | None = None) -> T:
        """``fn(client)`` within the bound; RedisUnavailable at once when Redis is known to be down."""
        if not self.available or self.client is None:
            raise RedisUnavailable("redis is unavailable")
        bound = timeout or self.timeout
        try:
            async with asyncio.timeout(bound):
                result = await fn(self.client)
        except TimeoutError:
            self._timeouts += 1
            if self._timeouts >= TIMEOUTS_BEFORE_DOWN:
                self._down(f"{self._timeouts} commands in a row took longer than {bound * 1000:g} ms")
            raise RedisUnavailable(f"redis did not answer within {bound * 1000:g} ms") from None
        except NO_PRIMARY as exc:
            self._down(_why(exc))
            raise RedisUnavailable(_why(exc)) from None
        except RedisError as exc:  # a command error (e.g. a script bug): Redis is up
            raise RedisUnavailable(_why(exc)) from None
        self._timeouts = 0
        return result

    async def write_replicated(
        self, key: str, command: Sequence[Any], replicas: int, timeout: float
    ) -> tuple[Any, int]:
        """``command`` (a write to ``key``) on the primary that owns ``key``, then ``WAIT replicas``
        for at most ``redis.timeout_ms`` on that connection: (its reply, the replicas that confirmed)."""
        wait_ms = self.settings.timeout_ms
        return await self.run(
            lambda client: topology.write_then_wait(client, key, command, replicas, wait_ms),
            timeout=timeout + wait_ms / 1000,
        )

    def fell_back(self, feature: str) -> None:
        self.fallbacks += 1
        self._fallbacks.add(1, {"feature": feature, "policy": self.settings.on_unavailable})

    def _down(self, why: str) -> None:
        if self.available:
            self.available = False
            log.warning("redis: unavailable (%s); %s until it answers again", why, self._policy())

    def _policy(self) -> str:
        if self.fail_closed:
            return "failing closed (redis.on_unavailable: fail_closed): rate-limited calls and token fetches fail"
        return "falling back to local rate limits, this sidecar's own OAuth2 tokens and the local job store"

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            if self.available:
                continue
            if self.client is None:
                try:
                    self.client = self._connect()
                except SidecarError:
                    continue
            started = time.monotonic()
            try:
                async with asyncio.timeout(1.0):
                    # Pooled connections from before the outage are dead or hung: start afresh, or each
                    # would fail one call (and mark Redis down again) after sharing resumes.
                    await topology.reset(self.client)
                    await topology.ping(self.client)
            except FAILED:
                continue
            self._timeouts = 0
            self.available = True
            log.info("redis: answering again (ping %.1f ms); fleet-wide sharing resumes",
                     (time.monotonic() - started) * 1000)  # fmt: skip


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("\n")[0][:200]
