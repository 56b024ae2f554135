"""The validated, immutable config model. Built only by ``_loader``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from custom_api_client import RESERVED_ARGUMENTS as CLIENT_RESERVED_ARGUMENTS

from ..secrets._settings import SecretSettings
from ..secrets.vault._settings import VaultSettings
from ._auth_model import Authentication, NoAuth
from ._fleet import RedisSettings

ENVIRONMENTS = ("sandbox", "pre-release", "live")
ENVIRONMENT_ALIASES = {"draft": "sandbox"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
PARAMETER_LOCATIONS = ("path", "query", "header")
PARAMETER_TYPES = ("string", "integer", "number", "boolean", "array", "object")
# OpenAPI parameter styles by location; the first is the default.
PARAMETER_STYLES = {
    "query": ("form", "spaceDelimited", "pipeDelimited", "deepObject"),
    "path": ("simple", "label", "matrix"),
    "header": ("simple",),
}
REQUEST_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
RESPONSE_VALIDATION_MODES = ("enforce", "warn", "off")

# An API or operation name: snake_case, at most 64 characters (it becomes conv.api.<name>).
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
# Names that would shadow conv.api's own attributes (conv.api.list(), api.schema()).
RESERVED_NAMES = frozenset({"list", "schema", "tools", "test_connection", "jobs"})
# conv.api.search(text) and conv.api.call(text, ...) are built-ins of conv.api, not of an API: names
# an API may not have (an operation may: conv.api.crm.search is the crm API's own).
RESERVED_API_NAMES = RESERVED_NAMES | {"search", "call"}
# Call arguments with a requests meaning (params=, json=, ...) cannot be parameter names.
RESERVED_ARGUMENTS = CLIENT_RESERVED_ARGUMENTS

PATH_VARIABLE = re.compile(r"\{([^{}]*)\}")  # {name} in a path template
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an RFC 9110 token

# The trace context an API may send upstream (``propagate:``): W3C Trace Context (traceparent,
# tracestate) and W3C Baggage. Baggage is the agent's own context (user ids, emails): opt-in only.
PROPAGATORS = ("tracecontext", "baggage")
DEFAULT_PROPAGATE = ("tracecontext",)

DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024


def normalize_environment(name: str) -> str:
    return ENVIRONMENT_ALIASES.get(name, name)


@dataclass(frozen=True)
class Parameter:
    name: str  # as sent on the wire (a header may be X-Request-Id)
    location: str  # path | query | header
    type: str = "string"
    required: bool = False
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)  # JSON Schema of the value
    # OpenAPI serialization; the loader fills in the location's default.
    style: str = "form"  # query: form|spaceDelimited|pipeDelimited|deepObject; path: simple|label|matrix
    explode: bool = True
    arg: str = ""  # explicit keyword-argument name, when the wire name cannot be one (e.g. `json`, `from`)
    # The trusted context key this parameter's value comes from (pipeline/bound_context.py); "" when the
    # caller gives it. Endpoint.from_context holds the same binding, with the body properties' ones.
    from_context: str = ""

    @property
    def arg_name(self) -> str:
        """The keyword argument name: ``arg`` if given, else the wire name made a Python identifier."""
        return self.arg or arg_name(self.name)


def arg_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out.lower() if out != name else out


CACHE_SCOPES = ("api", "conversation")
CACHEABLE_METHODS = ("GET", "HEAD")
MAX_CACHE_TTL_S = 86_400.0


@dataclass(frozen=True)
class CacheSetting:
    """An endpoint's ``cache:``: reuse a successful answer for at most ``ttl_s`` seconds, for every
    caller with the same credentials (``api``) or only within one conversation (``conversation``)."""

    ttl_s: float = 30.0
    scope: str = "api"  # api | conversation


# `result:` (custom_api_sidecar.shaping): what the LLM reads of a response.
DEFAULT_RESULT_CHARS = 4_000
MAX_RESULT_CHARS = 100_000


@dataclass(frozen=True)
class ResultSettings:
    """``result:``: a JMESPath ``select`` applied to a 2xx JSON body, then at most ``max_chars``
    characters, cut with an explicit marker. Checked (and the expression parsed) by the loader."""

    select: str | None = None
    max_chars: int = DEFAULT_RESULT_CHARS


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    request_body: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    timeout_ms: int | None = None
    request_content_type: str = "application/json"  # how body keyword arguments are encoded
    request_body_required: bool = False
    # Seed 003 "run in background": kept from the config; calls are synchronous until
    # background execution lands.
    background: bool = False
    # Arguments the connection test may call this operation with (then it is called even if it
    # is not a GET/HEAD); None: called only when safe (GET/HEAD with no required argument).
    test_arguments: dict[str, Any] | None = None
    # Arguments bound to the conversation's trusted context: (argument name, context key) pairs, for
    # parameters and top-level body properties alike. Their values come from the call's context only.
    from_context: tuple[tuple[str, str], ...] = ()
    cache: CacheSetting | None = None  # GET and HEAD only (the loader refuses it on other methods)
    result: ResultSettings | None = None  # None: the LLM reads the whole body, as the agent does
    # OpenAPI tags (or the author's own words): what operation search finds the operation by, too.
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsConfig:
    """``connection.tls``: a client certificate (mTLS) and/or the CA bundle this API trusts."""

    client_cert: str | None = None  # a secret reference holding PEM
    client_key: str | None = None  # a secret reference holding PEM
    ca_bundle: str | None = None  # an absolute path, or a secret reference holding PEM


@dataclass(frozen=True)
class RetryPolicy:
    """``connection.retry``: how ``retry_attempts`` are spent (backoff, Retry-After, budget)."""

    backoff_ms: int = 50  # base of exponential backoff with full jitter
    max_backoff_ms: int = 2000
    # Retries may be at most this share of calls (a per-API budget), so they cannot multiply an outage.
    budget_ratio: float = 0.2
    # A POST/PATCH carrying this header may be retried after a 5xx (the upstream can de-duplicate).
    idempotency_key_header: str = "Idempotency-Key"


@dataclass(frozen=True)
class CircuitBreakerPolicy:
    """``connection.circuit_breaker``: stop calling an upstream that keeps failing."""

    enabled: bool = True
    consecutive_failures: int = 5  # open after this many failures in a row ...
    failure_ratio: float = 0.5  # ... or this share of failures ...
    window_s: float = 30.0  # ... over this window ...
    min_calls: int = 20  # ... once it holds this many calls
    open_s: float = 30.0  # how long calls fail at once before probes are let through
    half_open_probes: int = 1  # calls let through to test a recovering upstream


@dataclass(frozen=True)
class Connection:
    base_urls: dict[str, str]  # environment -> URL (draft already folded into sandbox)
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    retry_attempts: int = 0
    verify_ssl: bool = True
    # Egress opt-ins (custom_api_sidecar.egress): plain http, non-public addresses, how to get there.
    allow_http: bool = False
    private_network: bool = False
    ip_allowlist: tuple[str, ...] = ()  # CIDRs; allows exactly these non-public networks
    proxy: str | None = None  # a forward proxy URL, or "direct"; None: HTTPS_PROXY/HTTP_PROXY/NO_PROXY
    tls: TlsConfig | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = field(default_factory=CircuitBreakerPolicy)


@dataclass(frozen=True)
class RateLimit:
    requests_per_minute: int | None = None
    requests_per_day: int | None = None


# Response headers the agent never sees unless an API keeps them: it has no cookie jar, and a
# session cookie must not carry one conversation into another.
DEFAULT_DROPPED_RESPONSE_HEADERS = ("set-cookie", "set-cookie2")


@dataclass(frozen=True)
class ResponseHeaders:
    """``security.response_headers``: more headers to drop, or default-dropped ones to keep."""

    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()


EXTRA_ARGUMENTS_MODES = ("allow", "refuse")
# Arguments that change the method or the route an upstream serves (servers and gateways honour
# them): a caller may not send them unless the API lists them in security.allow_routing.
METHOD_PARAMETER = "_method"  # a query parameter or top-level body field (Rails, Laravel, Symfony)
ROUTING_HEADERS = frozenset(
    {
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-original-url",
        "x-rewrite-url",
        "forwarded",
        "x-real-ip",
        "x-original-host",
        "x-host",
    }
)
ROUTING_HEADER_PREFIXES = ("x-forwarded-", "proxy-")


def is_routing_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in ROUTING_HEADERS or lowered.startswith(ROUTING_HEADER_PREFIXES)


@dataclass(frozen=True)
class Security:
    url_allowlist: tuple[str, ...] = ()
    rate_limit: RateLimit | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    response_headers: ResponseHeaders = field(default_factory=ResponseHeaders)
    # What a caller may add beyond an operation's declared arguments (pipeline/arguments.py):
    # allow (params=/headers=/data= as in requests) or refuse; an operator policy may force refuse.
    extra_arguments: str = "allow"
    allow_routing: tuple[str, ...] = ()  # routing headers (or _method) this API's upstream needs


@dataclass(frozen=True)
class Tunnel:
    """Seed 004's ``tunnel``; only ``enabled: false`` is accepted (the sidecar runs inside the network)."""

    enabled: bool = False
    type: str | None = None
    tunnel_id: str | None = None


@dataclass(frozen=True)
class Informational:
    """Seed 004's bookkeeping fields: shown by discovery and ``validate``, never used to make a
    call, and never a substitute for measured figures (``metadata.total_calls`` is not a count)."""

    id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.user_id is not None:
            out["user_id"] = self.user_id
        if self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass(frozen=True)
class Validation:
    response: str = "warn"  # enforce | warn | off: what a 2xx body not matching response_schema does


@dataclass(frozen=True)
class OpenApiImport:
    """What an ``openapi:`` source imported: shown by ``validate`` and logged at load, never used
    to make a call."""

    spec: str  # as the config gives it
    operations_in_spec: int
    imported: int
    excluded: int = 0  # by include/exclude
    replaced: int = 0  # defined by the entry's own endpoints instead
    skipped: tuple[tuple[str, str], ...] = ()  # (operation, why)

    def summary(self) -> str:
        """``1217 of 1223 operations imported, 6 skipped``."""
        text = f"{self.imported} of {self.operations_in_spec} operations imported"
        if self.excluded:
            text += f", {self.excluded} excluded by include/exclude"
        if self.replaced:
            text += f", {self.replaced} replaced by endpoints"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


@dataclass(frozen=True)
class ApiConfig:
    name: str
    connection: Connection
    endpoints: tuple[Endpoint, ...]
    description: str = ""
    authentication: Authentication = field(default_factory=NoAuth)
    security: Security = field(default_factory=Security)
    validation: Validation = field(default_factory=Validation)
    display_name: str = ""  # seed 004's `name` when `slug` is the code name
    health_check: str = ""  # the operation the connection test uses to check authentication
    informational: Informational = field(default_factory=Informational)
    tunnel: Tunnel = field(default_factory=Tunnel)
    propagate: tuple[str, ...] = DEFAULT_PROPAGATE  # names from PROPAGATORS: what trace context goes upstream
    # what `openapi:` imported (None without one); a record of the load, not part of the definition
    openapi: OpenApiImport | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Config:
    apis: tuple[ApiConfig, ...]
    source: str = "<memory>"
    vault: VaultSettings | None = None  # the vault: section; CLI flags and VAULT_* variables override it
    secrets: SecretSettings = field(default_factory=SecretSettings)  # the secrets: section
    redis: RedisSettings | None = None  # the redis: section (fleet mode)
