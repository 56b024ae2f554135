"""A generation: everything the sidecar derives from one config file (registry, catalog, egress,
transports, authenticators, the composed pipeline). A config reload builds the next generation
off the call path and swaps it in atomically; an API whose definition did not change carries
its transport (connection pool), authenticator (OAuth2 token), egress and rate-limit windows
over, so a reload costs it nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from opentelemetry import metrics, trace

from .auth import Authenticator, build_authenticator
from .config import ApiConfig, Config
from .describe import Catalog
from .egress import Egress, Lookup, ProxySettings, build_egress
from .pipeline import Call, Handler, UpstreamResponse, compose
from .pipeline.arguments import OperationArguments
from .pipeline.authenticate import Authenticate
from .pipeline.bind import BindArguments
from .pipeline.bound_context import BindFromContext
from .pipeline.breaker import CircuitBreaker
from .pipeline.build import BuildRequest
from .pipeline.cache import NoteCachingHeaders, ResponseCaching
from .pipeline.check_response import ValidateResponse
from .pipeline.context import ConversationContext
from .pipeline.llm_result import LlmResult
from .pipeline.observe import Observe
from .pipeline.record import CallObserver, Record
from .pipeline.resolve import Resolve
from .pipeline.retry import Retry
from .pipeline.security import Limits, LocalLimits, RateLimiter, UrlAllowlist
from .pipeline.send import Send
from .pipeline.shape import ShapeResponse
from .registry import Registry
from .search import SearchIndex
from .secrets import SecretRef, SecretStore
from .transport import TransportFactory
from .validation import ValidatorWarmup

if TYPE_CHECKING:  # fleet mode is imported only when configured
    from .cache import ResponseCache
    from .fleet import Fleet

log = logging.getLogger("custom_api_sidecar.reload")


@dataclass
class Shared:
    """What every generation uses and no reload replaces."""

    environment: str
    tracer: trace.Tracer
    secrets: SecretStore
    observers: Sequence[CallObserver]
    transport_factory: TransportFactory
    token_transport: Callable[[Egress], httpx.AsyncBaseTransport]
    proxies: ProxySettings
    dns_lookup: Lookup
    meter_provider: metrics.MeterProvider | None = None
    fleet: Fleet | None = None  # the redis: section: fleet-wide limits and tokens
    cache: ResponseCache | None = None  # endpoints' cache: answers kept across reloads (unchanged APIs)


@dataclass
class Generation:
    config: Config
    registry: Registry
    catalog: Catalog
    search: SearchIndex  # operation search (conv.api.search / call, MCP search_operations), built at load
    egress: dict[str, Egress]
    transports: dict[str, httpx.AsyncBaseTransport]
    authenticators: dict[str, Authenticator]
    rate_limiter: RateLimiter
    local_limits: LocalLimits
    breaker: CircuitBreaker
    retry: Retry
    handle: Handler
    check: Handler  # binds and builds a call without sending it (a background call's early errors)
    new_refs: list[SecretRef] = field(default_factory=list)  # references this generation added
    # What this generation created itself (not carried over from the previous one).
    own_transports: list[str] = field(default_factory=list)
    own_authenticators: list[str] = field(default_factory=list)
    in_flight: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def api_config(self, name: str) -> ApiConfig | None:
        api = self.registry.apis.get(name)
        return api.config if api is not None else None


def build_generation(config: Config, shared: Shared, previous: Generation | None = None) -> Generation:
    """Build (not start) a generation. ConfigError if the config cannot serve the environment."""
    registry = Registry(config, shared.environment)
    before = set(shared.secrets.references)
    egress: dict[str, Egress] = {}
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    authenticators: dict[str, Authenticator] = {}
    own_transports, own_authenticators = [], []
    for name, api in registry.apis.items():
        kept = previous is not None and previous.api_config(name) == api.config
        if kept and previous is not None:
            egress[name] = previous.egress[name]
            transports[name] = previous.transports[name]
            if name in previous.authenticators:
                authenticators[name] = previous.authenticators[name]
            continue
        egress[name] = build_egress(api.config, shared.secrets, shared.environment, shared.proxies, shared.dns_lookup)
        transports[name] = shared.transport_factory(api.config, egress[name])
        own_transports.append(name)
        auth = build_authenticator(
            api.config, shared.environment, shared.secrets, shared.tracer, _token_transport(shared, egress[name])
        )
        if auth is not None:
            if shared.fleet is not None and hasattr(auth, "share"):  # an OAuth2 token: shared by the fleet
                auth.share = shared.fleet.share_token(name, auth)
            authenticators[name] = auth
            own_authenticators.append(name)
    unchanged = {n for n in registry.apis if n not in own_transports}
    local_limits = LocalLimits(registry, previous.local_limits if previous else None, keep=unchanged)
    limits: Limits = local_limits
    if shared.fleet is not None and shared.fleet.settings.rate_limits:
        from .fleet import FleetLimits  # fleet mode only: redis-py stays unloaded otherwise

        limits = FleetLimits(registry, shared.fleet.redis, local_limits)  # falls back to the local ones
    rate_limiter = RateLimiter(registry, limits)
    breaker = CircuitBreaker(registry, previous.breaker if previous else None, unchanged, shared.meter_provider)
    retry = Retry(registry, previous.retry if previous else None, unchanged)
    arguments = OperationArguments()
    bound_context = BindFromContext()
    caching = [ResponseCaching(registry, shared.cache, authenticators)] if shared.cache is not None else []
    handle = compose(
        [
            ConversationContext(),
            Observe(shared.tracer, registry.environment),
            Record(shared.observers, registry),
            Resolve(registry),
            bound_context,
            arguments,
            BindArguments(),
            BuildRequest(),
            UrlAllowlist(),
            # the shaped text for the LLM, from the final (sanitized) response: outside the cache, so a
            # cached answer reads like a fresh one
            LlmResult(registry),
            *caching,  # before the limits: a cached answer spends none of the upstream's quota
            rate_limiter,
            breaker,  # outside retries: one call, all its attempts, is one result
            ShapeResponse(registry),
            NoteCachingHeaders(),  # inside the shaping: sees Cache-Control even if an API drops it
            ValidateResponse(),
            Authenticate(authenticators),  # outside Retry: retries reuse the credentials
            retry,
        ],
        Send(shared.tracer, transports),
    )
    # a background call's conversation id is checked before it is stored: it decides who may read the job
    # ... and so are its context values: a background call binds them now, and runs with them
    check = compose(
        [ConversationContext(), Resolve(registry), bound_context, arguments, BindArguments(), BuildRequest()],
        _not_sent,
    )
    return Generation(
        config=config,
        registry=registry,
        catalog=Catalog(registry),
        search=SearchIndex(registry),
        egress=egress,
        transports=transports,
        authenticators=authenticators,
        rate_limiter=rate_limiter,
        local_limits=local_limits,
        breaker=breaker,
        retry=retry,
        handle=handle,
        check=check,
        new_refs=[ref for ref in shared.secrets.references if ref not in before],
        own_transports=own_transports,
        own_authenticators=own_authenticators,
    )


async def _not_sent(call: Call) -> UpstreamResponse:
    return UpstreamResponse(status_code=0, reason="", headers=[], body=b"", elapsed=0.0, url="")


def _token_transport(shared: Shared, egress: Egress) -> Callable[[str], httpx.AsyncBaseTransport]:
    return lambda _api: shared.token_transport(egress)


async def start_generation(generation: Generation) -> ValidatorWarmup:
    """Start what the generation created itself (OAuth2 tokens are fetched now)."""
    await asyncio.gather(*(generation.authenticators[name].start() for name in generation.own_authenticators))
    warmup = ValidatorWarmup(generation.registry.validators())
    await warmup.start()
    return warmup


async def close_generation(generation: Generation, successor: Generation | None) -> None:
    """Close what ``generation`` owned and ``successor`` did not carry over."""
    kept_transports = set(successor.transports.values()) if successor else set()
    kept_authenticators = set(successor.authenticators.values()) if successor else set()
    await asyncio.gather(
        *(
            generation.transports[name].aclose()
            for name in generation.transports
            if generation.transports[name] not in kept_transports
        ),
        *(
            generation.authenticators[name].aclose()
            for name in generation.authenticators
            if generation.authenticators[name] not in kept_authenticators
        ),
    )
