"""The composition root: config + environment -> registry, pipeline, catalog."""

from __future__ import annotations

from typing import Protocol

from opentelemetry.sdk.trace import TracerProvider

from .activity import Activity, ConnectionStatus
from .audit import AccessLog, AuditLog
from .auth import Authentications, build_authenticators
from .config import Config
from .conv_log import ConvLogSink
from .describe import Catalog
from .egress import Lookup, ProxySettings, build_egress, system_lookup, token_egress
from .metrics import CallMetrics, Metrics, observe_token_fetches
from .pipeline import compose
from .pipeline.authenticate import Authenticate
from .pipeline.bind import BindArguments
from .pipeline.build import BuildRequest
from .pipeline.check_response import ValidateResponse
from .pipeline.context import ConversationContext
from .pipeline.observe import Observe
from .pipeline.record import CallObserver, Record
from .pipeline.resolve import Resolve
from .pipeline.retry import Retry
from .pipeline.security import RateLimiter, UrlAllowlist
from .pipeline.send import Send
from .pipeline.shape import ShapeResponse
from .registry import Registry
from .secrets import SecretStore, build_secret_store
from .secrets.vault import VaultSettings
from .tracing import get_tracer
from .transport import AiohttpTransport, TransportFactory, default_transport
from .validation import ValidatorWarmup


class Service(Protocol):
    """Background work with a lifetime (secret refresh, token refresh).

    ``start`` runs before the first call is accepted, so caches are warm;
    ``aclose`` after the last call has drained."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Sidecar:
    """Everything one sidecar process serves. ``handle`` runs one Invoke."""

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
    ) -> None:
        """``secret_store`` defaults to one built from ``vault_settings`` (CLI flags), then the
        ``VAULT_*`` environment variables, then the config's ``vault:`` section; ValueError if unusable.
        ``proxies`` default to the ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` variables; ``dns_lookup``
        is how upstream names resolve before the egress check (tests answer names themselves).
        ``metrics`` (from ``make_metrics``) feeds OTLP and ``/metrics``; ``audit`` writes the JSON audit
        stream; ``access_log`` the human line per call."""
        self.config = config
        self.registry = Registry(config, environment)
        self.environment = self.registry.environment
        self.catalog = Catalog(self.registry)
        self.tracer_provider = tracer_provider
        tracer = get_tracer(tracer_provider)
        self.metrics = metrics or Metrics(None, None)
        self.secrets = secret_store or build_secret_store(
            VaultSettings.layered(vault_settings, VaultSettings.from_env(), config.vault),
            config.secrets,
            meter_provider=self.metrics.provider,
        )
        self._services: list[Service] = [self.secrets]  # first: later services (OAuth2 tokens) read secrets
        proxies = proxies or ProxySettings.from_env()
        self.egress = {
            name: build_egress(api.config, self.secrets, self.environment, proxies, dns_lookup)
            for name, api in self.registry.apis.items()
        }
        self._send = Send(self.registry, tracer, self.egress, transport_factory)
        self.authentications = Authentications(
            build_authenticators(
                {name: api.config for name, api in self.registry.apis.items()},
                self.environment,
                self.secrets,
                tracer,
                token_transport=lambda name: AiohttpTransport(token_egress(self.egress[name])),
            )
        )
        self._services.append(self.authentications)  # after the secret store: tokens need client credentials
        self._services.append(ValidatorWarmup(self.registry.validators()))  # speeds validation up after start
        observe_token_fetches(self.authentications.by_api, self.metrics.provider)
        self.connection_status = ConnectionStatus()
        self.activity = Activity(self.registry, self.connection_status)
        observers: list[CallObserver] = [CallMetrics(self.metrics.provider), self.activity]
        if access_log:
            observers.append(AccessLog())
        if audit is not None:
            observers.append(audit)
            self._services.insert(0, audit)  # open before calls, closed (flushed) after the last one
        self.conv_log = ConvLogSink(tracer, audit, self.metrics.provider)
        self.handle = compose(
            [
                ConversationContext(),
                Observe(tracer, self.environment),
                Record(observers),
                Resolve(self.registry),
                BindArguments(),
                BuildRequest(),
                UrlAllowlist(),
                RateLimiter(self.registry),
                ShapeResponse(self.registry),
                ValidateResponse(),
                Authenticate(self.authentications.by_api),  # outside Retry: retries reuse the credentials
                Retry(),
            ],
            self._send,
        )

    @property
    def max_request_bytes(self) -> int:
        return max(api.config.security.max_request_bytes for api in self.registry.apis.values())

    @property
    def max_response_bytes(self) -> int:
        return max(api.config.security.max_response_bytes for api in self.registry.apis.values())

    async def start(self) -> None:
        for service in self._services:
            await service.start()

    async def aclose(self) -> None:
        for service in reversed(self._services):
            await service.aclose()
        await self._send.aclose()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self.metrics.shutdown()
