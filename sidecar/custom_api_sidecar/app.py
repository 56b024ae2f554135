"""The composition root: config + environment -> registry, pipeline, catalog."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from opentelemetry.sdk.trace import TracerProvider

from custom_api_client.proto import sidecar_pb2 as pb

from ._aio import wait_event
from .activity import Activity, ConnectionStatus
from .admission import DEFAULT_MAX_IN_FLIGHT, Admission
from .audit import AccessLog, AuditLog, config_record
from .auth import Authenticator
from .cache import DEFAULT_MAX_BYTES, KeyMaker, ResponseCache, cached_api_digests
from .config import Config, ConfigChanges, ConfigError, config_changes, normalize_environment
from .conv_log import ConvLogSink
from .describe import Catalog
from .egress import Egress, Lookup, ProxySettings, system_lookup, token_egress
from .errors import SidecarError
from .generation import Generation, Shared, build_generation, close_generation, start_generation
from .jobs import JobQueue, JobStore
from .metrics import CallMetrics, Metrics, config_reloads, observe_token_fetches
from .pipeline import Call, UpstreamResponse
from .pipeline.record import CallObserver
from .policy import OperatorPolicy
from .registry import Registry
from .secrets import SecretStore, build_secret_store
from .secrets.vault import VaultSettings
from .tracing import get_tracer
from .transport import AiohttpTransport, TransportFactory, default_transport
from .validation import ValidatorWarmup

if TYPE_CHECKING:  # fleet mode is imported only when configured
    from .fleet import Fleet

log = logging.getLogger("custom_api_sidecar.reload")


class Service(Protocol):
    """Background work with a lifetime (secret refresh, token refresh).

    ``start`` runs before the first call is accepted, so caches are warm;
    ``aclose`` after the last call has drained."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class ReloadRejected(Exception):
    """A new config was refused; the sidecar keeps serving the old one. ``problems`` name the
    file, API and field (or the secret reference) of each problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ReloadStatus:
    ok: bool
    at: float  # epoch seconds
    source: str
    problems: tuple[str, ...] = ()


class Sidecar:
    """Everything one sidecar process serves. ``handle`` runs one Invoke; ``reload`` swaps in
    a new config while calls keep flowing."""

    def __init__(
        self,
        config: Config,
        environment: str = "sandbox",
        *,
        tracer_provider: TracerProvider | None = None,
        transport_factory: TransportFactory = default_transport,
        secret_store: SecretStore | None = None,
        vault_settings: VaultSettings | None = None,
        proxies: ProxySettings | None = None,
        dns_lookup: Lookup = system_lookup,
        metrics: Metrics | None = None,
        audit: AuditLog | None = None,
        access_log: bool = True,
        job_store: JobStore | None = None,
        job_concurrency: int = 4,
        policy: OperatorPolicy | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        cache_max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """``secret_store`` defaults to one built from ``vault_settings`` (CLI flags), then the
        ``VAULT_*`` environment variables, then the config's ``vault:`` section; ValueError if unusable.
        ``proxies`` default to the ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` variables; ``dns_lookup``
        is how upstream names resolve before the egress check (tests answer names themselves).
        ``metrics`` (from ``make_metrics``) feeds OTLP and ``/metrics``; ``audit`` writes the JSON audit
        stream; ``access_log`` the human line per call. ``job_store`` enables background calls; in fleet
        mode (``redis.jobs``) jobs go to a Redis Stream, and ``job_store`` is the fallback. ``policy`` is the
        operator's policy that ``config`` was loaded under (default: from the environment): reloads of the
        file are checked against it. ``max_in_flight`` caps the Invoke calls at once (gRPC and MCP); past it
        a call gets OVERLOADED. ``cache_max_bytes`` is the byte budget of the response cache (operations
        configured with ``cache:``); 0 turns it off."""
        self.environment = normalize_environment(environment)
        self.policy = policy or OperatorPolicy.from_env()
        self.tracer_provider = tracer_provider
        tracer = get_tracer(tracer_provider)
        self.metrics = metrics or Metrics(None, None)
        self.admission = Admission(max_in_flight, self.metrics.provider)  # caller bounds and the in-flight cap
        self.secrets = secret_store or build_secret_store(
            VaultSettings.layered(vault_settings, VaultSettings.from_env(), config.vault),
            config.secrets,
            meter_provider=self.metrics.provider,
        )
        self._services: list[Service] = [self.secrets]  # first: later services (OAuth2 tokens) read secrets
        self.fleet: Fleet | None = None
        if config.redis is not None:  # fleet mode: after the secrets (its URL is a reference), before tokens
            from .fleet import Fleet  # redis-py and cryptography load only in fleet mode

            self.fleet = Fleet(config.redis, self.secrets, self.environment, meter_provider=self.metrics.provider)
            self._services.append(self.fleet)
        self.response_cache = self._response_cache(cache_max_bytes)
        self._services.append(self.response_cache)  # closed before the fleet: its pending writes first
        self.audit = audit
        self.connection_status = ConnectionStatus()
        self.activity = Activity(self.connection_status)
        observers: list[CallObserver] = [CallMetrics(self.metrics.provider), self.activity]
        if access_log:
            observers.append(AccessLog())
        if audit is not None:
            observers.append(audit)
            self._services.insert(0, audit)  # open before calls, closed (flushed) after the last one
        self._shared = Shared(
            environment=self.environment,
            tracer=tracer,
            secrets=self.secrets,
            observers=observers,
            transport_factory=transport_factory,
            token_transport=lambda egress: AiohttpTransport(token_egress(egress)),
            proxies=proxies or ProxySettings.from_env(),
            dns_lookup=dns_lookup,
            meter_provider=self.metrics.provider,
            fleet=self.fleet,
            cache=self.response_cache,
        )
        self.generation = build_generation(config, self._shared)
        self._audit_config("loaded", config.source, config_changes(None, config))
        self.activity.use(self.generation.registry)
        self.conv_log = ConvLogSink(tracer, audit, self.metrics.provider)
        observe_token_fetches(lambda: self.generation.authenticators, self.metrics.provider)
        self._reloads = config_reloads(self.metrics.provider)
        if job_store is not None and self.fleet is not None and self.fleet.job_seal is not None:
            from .fleet import FleetJobStore, RedisJobStore

            shared = RedisJobStore(
                self.fleet.redis,
                self.fleet.job_seal,
                claim_after=self.fleet.settings.job_claim_after_s,
                max_body_bytes=lambda: max(self.max_request_bytes, self.max_response_bytes),
                meter_provider=self.metrics.provider,
            )
            job_store = FleetJobStore(self.fleet.redis, shared, job_store)
        self.jobs = JobQueue(job_store, self.handle, job_concurrency) if job_store is not None else None
        self._reload_lock = asyncio.Lock()
        self._warmup: ValidatorWarmup | None = None
        self.last_reload: ReloadStatus | None = None
        # called in the loop after a reload swapped a new config in (the MCP server's tool list)
        self.reload_listeners: list[Callable[[], None]] = []

    def _response_cache(self, max_bytes: int) -> ResponseCache:
        """This sidecar's LRU, in front of the fleet's sealed entries with ``redis.cache: true``."""
        cache = ResponseCache(max_bytes, meter_provider=self.metrics.provider)
        if self.fleet is not None and self.fleet.cache_seal is not None and cache.enabled:
            from .fleet import FleetCache

            shared = FleetCache(
                self.fleet.redis,
                self.fleet.cache_seal,
                cache.local.max_entry_bytes,
                meter_provider=self.metrics.provider,
            )
            cache.shared, cache.keys = shared, KeyMaker(shared.key_secret)
        return cache

    # --- the current generation -------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.generation.config

    @property
    def registry(self) -> Registry:
        return self.generation.registry

    @property
    def catalog(self) -> Catalog:
        return self.generation.catalog

    @property
    def egress(self) -> dict[str, Egress]:
        return self.generation.egress

    @property
    def authenticators(self) -> dict[str, Authenticator]:
        return self.generation.authenticators

    async def handle(self, call: Call) -> UpstreamResponse:
        """One Invoke, on the generation current when it arrived (a reload lets it finish there)."""
        generation = self.generation
        generation.in_flight += 1
        try:
            return await generation.handle(call)
        finally:
            generation.in_flight -= 1
            if generation.in_flight == 0:
                generation.drained.set()

    def wants_background(self, request: pb.InvokeRequest) -> bool:
        """``background=True``, or unset on an operation configured ``background: true``."""
        if request.HasField("background"):
            return request.background
        api = self.registry.apis.get(request.api)
        op = api.operations.get(request.operation) if api else None
        return bool(op and op.endpoint.background)

    async def submit(self, call: Call) -> str:
        """Check the call now (unknown operation, bad arguments fail at once), then queue it."""
        if self.jobs is None:
            raise SidecarError(
                pb.ErrorCode.INVALID_ARGUMENT,
                "background calls need a job store: serve with --jobs-db (a SQLite file)",
                api=call.request.api,
                operation=call.request.operation,
            )
        await self.generation.check(call)
        return await self.jobs.submit(call.request, call.metadata)

    @property
    def max_request_bytes(self) -> int:
        return max(api.config.security.max_request_bytes for api in self.registry.apis.values())

    @property
    def max_response_bytes(self) -> int:
        return max(api.config.security.max_response_bytes for api in self.registry.apis.values())

    # --- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        for service in self._services:
            await service.start()
        self._warmup = await start_generation(self.generation)
        if self.jobs is not None:  # last: jobs left from before a restart run on a warm pipeline
            await self.jobs.start()

    async def reload(self, config: Config, drain_timeout: float = 60.0) -> None:
        """Check ``config`` fully off the call path (registry, egress, secret references, OAuth2
        tokens, validators), then swap it in: new calls use it at once, in-flight ones finish on
        the old one. ReloadRejected (and nothing changes) if anything is wrong. The ``vault:``,
        ``secrets:`` and ``redis:`` sections take effect at the next restart."""
        async with self._reload_lock:
            try:
                candidate = await self._prepare(config)
            except ReloadRejected as rejected:
                self.reload_rejected(config.source, rejected.problems)
                raise
            previous, self.generation = self.generation, candidate
            self.response_cache.keep_only(cached_api_digests(candidate.config.apis))
            self.activity.use(candidate.registry)
            self._reloads.add(1, {"outcome": "applied"})
            self.last_reload = ReloadStatus(True, time.time(), config.source)
            changes = config_changes(previous.config, candidate.config)
            self._audit_config("applied", config.source, changes)
            log.info(
                "config reloaded from %s: %d APIs; %s", config.source, len(candidate.registry.apis), changes.summary()
            )
        for listener in self.reload_listeners:
            listener()
        if previous.in_flight:
            previous.drained.clear()
            await wait_event(previous.drained, drain_timeout)
        await close_generation(previous, candidate)

    def reload_rejected(self, source: str, problems: list[str]) -> None:
        """A rejected reload (or a file that did not even parse): counted, audited and shown."""
        self._reloads.add(1, {"outcome": "rejected"})
        self.last_reload = ReloadStatus(False, time.time(), source, tuple(problems))
        self._audit_config("rejected", source, problems=tuple(problems))

    def _audit_config(
        self, event: str, source: str, changes: ConfigChanges | None = None, problems: tuple[str, ...] = ()
    ) -> None:
        if self.audit is not None:
            self.audit.write(config_record(event, source, changes, problems))

    async def _prepare(self, config: Config) -> Generation:
        try:
            candidate = build_generation(config, self._shared, self.generation)
        except ConfigError as exc:
            raise ReloadRejected([str(problem) for problem in exc.problems]) from None
        except ValueError as exc:
            raise ReloadRejected([f"{config.source}: {exc}"]) from None
        statuses = await self.secrets.load(candidate.new_refs) if candidate.new_refs else []
        failed = [f"{config.source}: secret {s.text} does not resolve: {s.detail}" for s in statuses if not s.ok]
        if failed:
            await close_generation(candidate, self.generation)
            raise ReloadRejected(failed)
        warmup = await start_generation(candidate)
        if self._warmup is not None:
            await self._warmup.aclose()
        self._warmup = warmup
        return candidate

    async def aclose(self) -> None:
        if self.jobs is not None:
            await self.jobs.aclose()
        if self._warmup is not None:
            await self._warmup.aclose()
        await close_generation(self.generation, None)
        for service in reversed(self._services):
            await service.aclose()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self.metrics.shutdown()
