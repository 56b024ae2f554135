"""Parse a YAML/JSON config file into the model, collecting every problem.

Each problem names the file, the API, the field and what is wrong; a broken
file never produces a traceback.
"""

from __future__ import annotations

import dataclasses
import keyword
import logging
import pathlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from .._text import shown
from ..config import ConfigError, OAuth2Auth, Problem
from ..config._fleet import parse_redis
from ..config._model import (
    DEFAULT_PROPAGATE,
    ENVIRONMENT_ALIASES,
    ENVIRONMENTS,
    EXTRA_ARGUMENTS_MODES,
    HEADER_NAME,
    IDENTIFIER,
    METHOD_PARAMETER,
    METHODS,
    PARAMETER_LOCATIONS,
    PARAMETER_STYLES,
    PARAMETER_TYPES,
    PATH_VARIABLE,
    PROPAGATORS,
    REQUEST_CONTENT_TYPES,
    RESERVED_API_NAMES,
    RESERVED_ARGUMENTS,
    RESERVED_NAMES,
    RESPONSE_VALIDATION_MODES,
    ApiConfig,
    Config,
    Connection,
    Endpoint,
    Informational,
    OpenApiImport,
    Parameter,
    RateLimit,
    Security,
    Tunnel,
    Validation,
    is_routing_header,
)
from ..config._problems import Problems
from ..egress import ProxySettings
from ..policy import OperatorPolicy, api_problems, egress_problem, path_problem, with_operator_settings
from ..secrets._config import parse_secrets_section, parse_vault_section
from ._amend import amend_imported, amended_bindings, is_amendment
from ._auth import parse_authentication
from ._cache import parse_cache
from ._context_bindings import (
    bind_parameters,
    endpoint_bindings,
    parameter_binding,
)
from ._documents import TOOL_NOTES, merge_documents, resolve_local_refs, tool_problems
from ._egress import EGRESS_CONNECTION_KEYS, check_reachable, parse_connection_egress, parse_response_headers
from ._read import MAX_CONFIG_BYTES, DocumentTooLarge, read_documents
from ._resilience import RESILIENCE_CONNECTION_KEYS, parse_circuit_breaker, parse_retry
from ._result import parse_result

if TYPE_CHECKING:
    from ..openapi import ImportResult

_log = logging.getLogger(__name__)

# Every key a definition may use, with the one line the config reference (docs/reference/config.md,
# written by tools/docs_reference.py) shows for it: a key without a description fails that generator.
_API_KEYS = {
    "name": "The API's code name: snake_case (`[a-z][a-z0-9_]*`, at most 64 characters), unique; agents call "
    f"`conv.api.<name>`. Reserved: {', '.join(sorted(RESERVED_API_NAMES))}.",
    "description": "What the API is for; shown by `conv.api.list()`, `schema()` and operation search.",
    "connection": "Where and how to reach the API: base URL(s), timeouts, retries, egress and TLS settings.",
    "authentication": "`{type, config}`: how credentials are injected (none, api_key, bearer_token, basic_auth, "
    "oauth2, custom_header). Secret parts are references, never literals.",
    "endpoints": "The operations: a list of `{name, method, path, ...}`. With `openapi:`, an entry with neither "
    "method nor path amends an imported operation instead.",
    "security": "Allowlists, rate limits, body size limits and what callers may add to a request.",
    "validation": "`{response: enforce | warn | off}`: what a 2xx body that does not match its response schema "
    "does (default warn: logged, returned).",
    "openapi": "Import operations from an OpenAPI 3.x or Swagger 2.0 spec (a file or an https URL).",
    "display_name": 'A human name for discovery and `validate` ("My Company CRM").',
    "id": "Bookkeeping: shown by `schema()` and `validate`, never used to make a call.",
    "user_id": "Bookkeeping: shown by `schema()` and `validate`, never used to make a call.",
    "metadata": "Bookkeeping mapping: shown by `schema()` and `validate`, never used to make a call (its "
    "figures are not measured ones).",
    "tunnel": "Accepted only as `enabled: false`: the sidecar runs inside the network it calls.",
    "health_check": "The operation the connection test calls to prove the credentials work.",
    "propagate": "Trace context sent upstream: a list of `tracecontext` and `baggage` (default `[tracecontext]`; "
    "`[]` sends none). Baggage also needs the operator policy's `baggage` opt-in.",
}
_TUNNEL_KEYS = {
    "enabled": "Must be false (or absent): `true` is a load error explaining how the sidecar reaches internal APIs.",
    "type": "Informational.",
    "tunnel_id": "Informational.",
}
_OPENAPI_KEYS = {
    "spec": "The spec: a path (relative to the config file, or in a directory the operator policy allows) or an "
    "https URL; JSON or YAML.",
    "include": "Keep only these operations: tags, operation names or operationIds.",
    "exclude": "Leave these out (tags, operation names or operationIds); wins over include.",
    "allow_private_network": "Fetch a spec URL on a private address (needs the operator policy's "
    "`private_network` opt-in).",
    "allow_http": "Fetch the spec over plain http (needs the operator policy's `allow_http` opt-in).",
    "strict": "Refuse the spec when any operation cannot be imported, instead of skipping it with a warning.",
}
_CONNECTION_KEYS = {
    "base_url": "One absolute http(s) base URL for every environment (no query, fragment or credentials); or "
    "give base_urls.",
    "base_urls": "A base URL per environment; the sidecar's environment must have one.",
    "timeout_ms": "Total time for a call, all attempts included (default 30000).",
    "retry_attempts": "0 to 10 retries (default 0): a failed connection for any method; a 502/503/504 for "
    "GET/HEAD/PUT/DELETE, and for POST/PATCH only with an idempotency key. All attempts share one deadline.",
    "verify_ssl": "Verify the upstream's certificate (default true); false only where the operator policy allows "
    "`verify_ssl_off`.",
    **EGRESS_CONNECTION_KEYS,
    **RESILIENCE_CONNECTION_KEYS,
}
MAX_TAGS, MAX_TAG_CHARS = 32, 100
_ENDPOINT_KEYS = {
    "name": "The operation's code name: snake_case, unique within the API; agents call `conv.api.<api>.<name>`.",
    "description": "What the operation does; the LLM tool description and what operation search reads.",
    "method": "GET, POST, PUT, PATCH, DELETE or HEAD (any case).",
    "path": "A template such as `/tickets/{ticket_id}`; a `{variable}` with no parameters entry is a required "
    "string argument, positional in template order or by keyword.",
    "parameters": "Declared path, query and header parameters (see below).",
    "request_body": "JSON Schema of the body; its top-level properties can also be passed as keyword arguments.",
    "response_schema": "JSON Schema of the 2xx body: shown by discovery, checked as `validation.response` says.",
    "timeout_ms": "This operation's total timeout, instead of the connection's.",
    "request_content_type": "How body keyword arguments are encoded: application/json (default), "
    "application/x-www-form-urlencoded or multipart/form-data.",
    "request_body_required": "A call must send a body (default false; an imported operation takes the spec's "
    "`requestBody.required`).",
    "background": "Every call of the operation becomes a background job unless the call says "
    "`background=False` (default false).",
    "test_arguments": "Arguments the connection test calls this operation with; without them it calls only a GET "
    "or HEAD with no required argument.",
    "from_context": "`{argument: context key}`: arguments whose values come only from the conversation's trusted "
    "context, never from the caller.",
    "cache": "`{ttl_s, scope}`: reuse a successful GET/HEAD answer (see below).",
    "result": "`{select, max_chars}`: what the LLM reads of a response (see below).",
    "tags": "Words operation search also finds the operation by (an imported operation has its OpenAPI tags); "
    "at most 32, each at most 100 characters.",
}
_PARAMETER_KEYS = {
    "name": "The name on the wire (a header may be `X-Request-Id`; it is passed as the keyword `x_request_id`).",
    "in": "path, query or header.",
    "type": "string (default), integer, number, boolean, array or object.",
    "required": "The call must give it (default false; a path parameter is always required).",
    "description": "Shown in the tool definition and by discovery.",
    "schema": "JSON Schema of the value (enum, pattern, minimum, items, ...).",
    "style": "OpenAPI serialization: query form (default), spaceDelimited, pipeDelimited or deepObject; path "
    "simple (default), label or matrix.",
    "explode": "OpenAPI explode (default true for form and deepObject, false otherwise).",
    "arg": "The keyword argument name, when the wire name cannot be one (`json`, `from`, ...).",
    "from_context": "The trusted context key this parameter's value comes from; the caller cannot set it.",
}
_SECURITY_KEYS = {
    "url_allowlist": "Glob patterns such as `https://crm.example.com/*`; when set, any other URL is URL_NOT_ALLOWED.",
    "rate_limit": "`{requests_per_minute, requests_per_day}` for the API: per sidecar, or fleet-wide with `redis:`.",
    "max_response_bytes": "Largest decoded response body (default 10 MiB); over it is RESPONSE_TOO_LARGE.",
    "max_request_bytes": "Largest request body (default 10 MiB); over it is REQUEST_TOO_LARGE.",
    "response_headers": "`{drop: [...], keep: [...]}`: more response headers to remove, or default-removed ones "
    "(Set-Cookie) to pass on.",
    "ip_allowlist": "Another spelling of `connection.ip_allowlist`.",
    "extra_arguments": "allow (default: `params=`, `headers=`, `data=` as in requests) or refuse: only declared "
    "arguments. The operator policy can force refuse.",
    "allow_routing": "Routing arguments (`X-Forwarded-Proto`, `_method`, ...) this API's upstream needs from "
    "callers; every other one is refused.",
}
_RATE_LIMIT_KEYS = {
    "requests_per_minute": "Calls allowed per minute (a whole number; absent: no per-minute limit).",
    "requests_per_day": "Calls allowed per day (a whole number; absent: no daily limit).",
}
_VALIDATION_KEYS = {
    "response": "enforce (a mismatching 2xx body is SCHEMA_MISMATCH), warn (default: logged, returned) or off.",
}


def load_config(path: str | pathlib.Path, policy: OperatorPolicy | None = None) -> Config:
    """``policy``: what the definitions may reference and open (default: from the environment)."""
    path = pathlib.Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:  # before reading it all
            raise ConfigError([Problem(str(path), "", "", f"the file is over the {MAX_CONFIG_BYTES}-byte limit")])
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), "", "", f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(path), "", "", "file is not UTF-8 text")]) from None
    return parse_config(text, source=str(path), policy=policy)


def parse_config(text: str, source: str = "<memory>", policy: OperatorPolicy | None = None) -> Config:
    """Parse every document of a config file (see ``_documents`` for the accepted spellings) and
    check each API against the operator's ``policy`` (default: ``OperatorPolicy.from_env()``)."""
    policy = policy or OperatorPolicy.from_env()
    try:
        documents = read_documents(text, json_file=source.endswith(".json"))
    except DocumentTooLarge as exc:
        raise ConfigError([Problem(source, "", "", f"the file {exc}")]) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            [Problem(source, "", "", f"not valid {'JSON' if source.endswith('.json') else 'YAML'}: {exc}")]
        ) from None
    problems = Problems(source)
    # An `openapi: {spec: ...}` path is relative to the config file.
    base_dir = None if source.startswith("<") else pathlib.Path(source).resolve().parent
    if not any(isinstance(d, dict | list) for d in documents):
        problems.add("", "the top level must be a mapping with an 'apis' list (or a seed-004 custom_api document)")
        problems.raise_if_any()
    data = merge_documents(problems, documents)
    vault = parse_vault_section(problems.add, data.get("vault"))
    secrets = parse_secrets_section(problems.add, data.get("secrets"))
    raw_apis = data["apis"]
    if not raw_apis:
        problems.add("apis", "must be a non-empty list of API definitions (or give custom_api: or tools:)")
        problems.raise_if_any()
    apis: list[ApiConfig] = []
    seen: set[str] = set()
    operator = _Operator(policy, base_dir)
    for index, raw in enumerate(raw_apis):
        name = raw.get("name") if isinstance(raw, dict) else None
        problems.api = name if isinstance(name, str) else f"apis[{index}]"
        api = _api(problems, raw, operator)
        if api is not None:
            if api.name in seen:
                problems.add("name", f"duplicate API name {shown(api.name)}")
            seen.add(api.name)
            apis.append(api)
    problems.api = ""
    redis = parse_redis(problems.add, data.get("redis"))
    oauth2 = any(isinstance(api.authentication, OAuth2Auth) for api in apis)
    if redis is not None and redis.share_tokens and redis.token_key is None and oauth2:
        problems.add(
            "redis.token_key",
            "is required to share OAuth2 tokens across the fleet (they are encrypted at rest in Redis): "
            "a secret reference to a base64-encoded 32-byte key; or set redis.share_tokens: false",
        )
    if redis is not None and redis.jobs and redis.job_key is None:
        problems.add(
            "redis.job_key",
            "is required for background jobs in Redis (their records are sealed with AES-256-GCM, since "
            "whoever can write to Redis must not read or forge them): a secret reference to a base64-encoded "
            "32-byte key (generate one with: openssl rand -base64 32); or set redis.jobs: false",
        )
    if redis is not None and redis.cache and redis.cache_key is None:
        problems.add(
            "redis.cache_key",
            "is required to share cached answers across the fleet (they are sealed with AES-256-GCM in Redis, "
            "since whoever can write to Redis must not read or forge them): a secret reference to a "
            "base64-encoded 32-byte key (generate one with: openssl rand -base64 32); or set redis.cache: false",
        )
    problems.raise_if_any()
    return Config(apis=tuple(apis), source=source, vault=vault, secrets=secrets, redis=redis)


@dataclass(frozen=True)
class _Operator:
    """What the operator decides for every API of the file: the policy, and where local specs may be."""

    policy: OperatorPolicy
    base_dir: pathlib.Path | None  # the config file's directory; relative spec paths start there
    proxies: frozenset[str] = field(default_factory=lambda: ProxySettings.from_env().urls())

    def spec_file_problem(self, path: str) -> str | None:
        roots = (*((str(self.base_dir),) if self.base_dir else ()), *self.policy.spec_dirs)
        return path_problem(path, roots, self.policy, "spec_dirs")


def _api(p: Problems, raw: Any, operator: _Operator) -> ApiConfig | None:
    if not isinstance(raw, dict):
        p.add("", "must be a mapping")
        return None
    if TOOL_NOTES in raw:
        tool_problems(p, raw)
    raw = resolve_local_refs(p, raw)
    _unknown_keys(p, "", raw, _API_KEYS)
    name = _identifier(p, "name", raw.get("name"), RESERVED_API_NAMES)
    security_raw = raw.get("security")
    seed_ip_allowlist = security_raw.get("ip_allowlist") if isinstance(security_raw, dict) else None
    validation = _validation(p, raw.get("validation"))
    imported: _Imported | None = None
    if "openapi" in raw:
        explicit = _endpoints(p, raw["endpoints"], amending=True) if "endpoints" in raw else ()
        bindings = amended_bindings(p, raw.get("endpoints"))
        imported = _openapi(p, raw["openapi"], name or "api", operator, validation, explicit or (), bindings)
        raw_connection = _with_spec_base_url(raw.get("connection"), imported and imported.result)
        if raw_connection is None and imported is not None:
            p.add("connection", "the spec names no usable server URL; give connection.base_url (or base_urls)")
            connection = None
        elif raw_connection is None:  # the import failed, and said why: no base URL is known either way
            connection = None
        else:
            connection = _connection(p, raw_connection, seed_ip_allowlist)
        endpoints = _imported_endpoints(p, imported, explicit)
        if endpoints is not None and imported is not None:
            endpoints = amend_imported(p, endpoints, raw.get("endpoints"), set(imported.endpoints))
    else:
        connection = _connection(p, raw.get("connection"), seed_ip_allowlist)
        endpoints = _endpoints(p, raw.get("endpoints"))
    raw_connection_map = raw.get("connection") if isinstance(raw.get("connection"), dict) else {}
    auth = parse_authentication(p, raw.get("authentication"), allow_http=raw_connection_map.get("allow_http") is True)
    security = _security(p, raw.get("security"))
    description = _string(p, "description", raw.get("description", ""))
    if name is None or connection is None or endpoints is None or security is None:
        return None
    api = ApiConfig(
        name=name,
        description=description,
        connection=connection,
        endpoints=endpoints,
        authentication=auth,
        security=security,
        validation=validation,
        display_name=_string(p, "display_name", raw.get("display_name", "")),
        informational=_informational(p, raw),
        tunnel=_tunnel(p, raw.get("tunnel")),
        propagate=_propagate(p, raw.get("propagate")),
        openapi=imported.summary if imported is not None else None,
    )
    check_reachable(p, api)
    for field_name, message in api_problems(api, operator.policy, operator.proxies):
        p.add(field_name, message)
    api = with_operator_settings(api, operator.policy)
    health_check = raw.get("health_check")
    if health_check is not None:
        if not isinstance(health_check, str) or health_check not in {e.name for e in endpoints}:
            p.add("health_check", f"{shown(health_check)} is not one of this API's operations")
        else:
            api = dataclasses.replace(api, health_check=health_check)
    return api


def _informational(p: Problems, raw: dict[str, Any]) -> Informational:
    values: dict[str, Any] = {}
    for key in ("id", "user_id"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str | int):
            p.add(key, "must be a string")
        elif value is not None:
            values[key] = str(value)
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        p.add("metadata", "must be a mapping")
        metadata = {}
    # YAML turns timestamps into datetimes; keep what was written, as text, so it prints as JSON.
    return Informational(**values, metadata={str(k): _plain(v) for k, v in metadata.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _propagate(p: Problems, raw: Any) -> tuple[str, ...]:
    """``propagate: [tracecontext, baggage]``: the trace context this API's requests carry."""
    if raw is None:
        return DEFAULT_PROPAGATE
    allowed = ", ".join(PROPAGATORS)
    if not isinstance(raw, list):
        p.add("propagate", f"must be a list of {allowed} ([] sends no trace context), not {shown(raw)}")
        return DEFAULT_PROPAGATE
    names: list[str] = []
    for index, name in enumerate(raw):
        if name not in PROPAGATORS:  # also refuses a non-string: nothing unhashable is looked up
            p.add(f"propagate[{index}]", f"{shown(name)} is not a propagator; allowed: {allowed}")
        elif name not in names:
            names.append(name)
    return tuple(names)


def _tunnel(p: Problems, raw: Any) -> Tunnel:
    if raw is None or not _mapping(p, "tunnel", raw, _TUNNEL_KEYS):
        return Tunnel()
    if raw.get("enabled"):
        p.add(
            "tunnel.enabled",
            "tunnels are not used: this sidecar runs next to the agent, inside your cluster, and calls the API "
            "directly; to reach an internal API from there, remove the tunnel and allow its private addresses "
            "on purpose (connection.private_network: true, or their networks in connection.ip_allowlist / "
            "security.ip_allowlist)",
        )
    return Tunnel(enabled=False, type=raw.get("type"), tunnel_id=raw.get("tunnel_id"))


@dataclass(frozen=True)
class _Imported:
    result: ImportResult
    endpoints: dict[str, Endpoint]  # the imported operations, checked, by name
    summary: OpenApiImport


def _openapi(
    p: Problems,
    raw: Any,
    api_name: str,
    operator: _Operator,
    validation: Validation,
    explicit: tuple[Endpoint, ...],
    bindings: dict[str, dict[str, Any]],
) -> _Imported | None:
    """Import the operations of ``openapi.spec``, each checked like a hand-written one (and its
    schemas compiled) so that one that cannot be used is skipped, or under ``openapi.strict``
    refused; None after a problem."""
    if not _mapping(p, "openapi", raw, _OPENAPI_KEYS):
        return None
    spec = raw.get("spec")
    if not isinstance(spec, str) or not spec:
        p.add("openapi.spec", "must be a spec path (relative to this config file) or an http(s) URL")
        return None
    selectors: dict[str, list[str]] = {}
    for key in ("include", "exclude"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
            p.add(f"openapi.{key}", "must be a list of tags or operation names")
            return None
        selectors[key] = value
    allow_private = _flag(p, "openapi.allow_private_network", raw.get("allow_private_network", False))
    allow_http = _flag(p, "openapi.allow_http", raw.get("allow_http", False))
    strict = _flag(p, "openapi.strict", raw.get("strict", False))
    refused = [
        egress_problem(opt_in, operator.policy, f"openapi.{key}")
        for opt_in, key, on in (
            ("private_network", "allow_private_network", allow_private),
            ("allow_http", "allow_http", allow_http),
        )
        if on and opt_in not in operator.policy.egress
    ]
    for field_name, message in refused:
        p.add(field_name, message)
    if refused:
        return None
    from ..openapi import BrokenOperations, SpecError, import_spec  # only configs that use a spec pay for it

    checked: dict[str, Endpoint] = {}
    check_response = validation.response != "off"
    cache = _schema_cache()  # one per spec: its operations share its definitions

    def check(entry: dict[str, Any]) -> list[str]:
        if entry.get("name") in bindings:  # bound by the config, not the spec
            entry = {**entry, "from_context": {**(entry.get("from_context") or {}), **bindings[entry["name"]]}}
        endpoint, problems = imported_endpoint(entry, check_response, cache)
        if endpoint is not None:
            checked[endpoint.name] = endpoint
        return problems

    try:
        result = import_spec(
            spec,
            name=api_name,
            base_dir=operator.base_dir,
            include=selectors["include"],
            exclude=selectors["exclude"],
            allow_private_network=allow_private,
            allow_http=allow_http,
            local_file_check=operator.spec_file_problem,
            check=check,
            replaced=[endpoint.name for endpoint in explicit],
            strict=strict,
        )
    except BrokenOperations as exc:
        for operation, why in exc.operations:
            p.add("openapi.spec", f"operation {operation} cannot be imported (openapi.strict is on): {why}")
        return None
    except SpecError as exc:
        p.add("openapi.spec", str(exc))
        return None
    report = result.report
    summary = OpenApiImport(
        spec=spec,
        operations_in_spec=report.operations_in_spec,
        imported=len(report.imported),
        excluded=len(report.excluded),
        replaced=len(report.replaced),
        skipped=tuple(report.not_imported),
    )
    _log_import(api_name, summary)
    return _Imported(result, {name: checked[name] for name in report.imported}, summary)


def imported_endpoint(
    entry: dict[str, Any], check_response: bool = True, cache: Any = None
) -> tuple[Endpoint | None, list[str]]:
    """An imported operation's config entry checked like a hand-written one, and its schemas
    compiled as the registry will (``check_response``: the response schema too; ``cache``: a
    ``SchemaCache`` shared by one spec's operations): the endpoint, or None and why it cannot be
    used. The one place that decides an imported operation is unusable, at load and for
    ``import-openapi``."""
    scratch = Problems("")
    endpoint = _endpoint(scratch, "endpoint", entry)
    problems = [f"{item.field.removeprefix('endpoint.')}: {item.message}" for item in scratch.items]
    if endpoint is not None and not problems:
        from ..operation_validators import operation_validators  # as the importer: only specs pay for it

        built = operation_validators(endpoint, check_response, cache)
        problems = [f"{field}: {why}" for field, why in built.problems]
    return (None if problems else endpoint), problems


def _schema_cache() -> Any:
    from ..validation import SchemaCache  # as the importer: only specs pay for it

    return SchemaCache()


def imported_entry_problems(entry: dict[str, Any]) -> list[str]:
    """Why an entry ``import-openapi`` made could not be used by the config it writes (which
    validates responses: the default)."""
    return imported_endpoint(entry, check_response=True)[1]


def _log_import(api_name: str, summary: OpenApiImport) -> None:
    """Every skipped operation and why, then the count: at every load, so ``serve`` says it at
    startup and at each reload, and ``validate`` shows it above its report."""
    for operation, why in summary.skipped:
        _log.warning("api %r: %s: operation %s not imported: %s", api_name, summary.spec, operation, why)
    level = logging.WARNING if summary.skipped else logging.INFO
    _log.log(level, "api %r: openapi: %s", api_name, summary.summary())


def _with_spec_base_url(connection: Any, imported: Any) -> Any:
    """The spec's server is the base URL unless the entry gives its own."""
    if imported is None or not imported.base_url or (connection is not None and not isinstance(connection, dict)):
        return connection
    if connection and ("base_url" in connection or "base_urls" in connection):
        return connection
    return {**(connection or {}), "base_url": imported.base_url}


def _imported_endpoints(
    p: Problems, imported: _Imported | None, explicit: tuple[Endpoint, ...] | None
) -> tuple[Endpoint, ...] | None:
    """Imported operations (already checked); ``endpoints:`` entries add to them or replace the
    imported operation of the same name (which was then not imported at all)."""
    if imported is None or explicit is None:
        return None
    merged = dict(imported.endpoints)
    merged.update((endpoint.name, endpoint) for endpoint in explicit)
    if not merged:
        p.add("openapi", "imports no operations (check include/exclude)")
        return None
    return tuple(merged.values())


def _validation(p: Problems, raw: Any) -> Validation:
    if raw is None or not _mapping(p, "validation", raw, _VALIDATION_KEYS):
        return Validation()
    mode = raw.get("response", Validation.response)
    if mode is False:  # YAML 1.1 reads an unquoted `off` as false
        mode = "off"
    if mode not in RESPONSE_VALIDATION_MODES:
        p.add("validation.response", f"{shown(mode)} is not one of {', '.join(RESPONSE_VALIDATION_MODES)}")
        return Validation()
    return Validation(response=mode)


def _connection(p: Problems, raw: Any, seed_ip_allowlist: Any = None) -> Connection | None:
    if not _mapping(p, "connection", raw, _CONNECTION_KEYS):
        return None
    base_urls: dict[str, str] = {}
    if "base_url" in raw and "base_urls" in raw:
        p.add("connection", "give base_url or base_urls, not both")
    elif "base_url" in raw:
        url = _base_url(p, "connection.base_url", raw["base_url"])
        if url:
            base_urls = dict.fromkeys(ENVIRONMENTS, url)
    elif isinstance(raw.get("base_urls"), dict):
        allowed = set(ENVIRONMENTS) | set(ENVIRONMENT_ALIASES)
        for env, value in raw["base_urls"].items():
            field = f"connection.base_urls.{env}"
            if env not in allowed:
                p.add(field, f"unknown environment {shown(env)}; use one of {', '.join(sorted(allowed))}")
                continue
            url = _base_url(p, field, value)
            canonical = ENVIRONMENT_ALIASES.get(env, env)
            if url and canonical in base_urls and base_urls[canonical] != url:
                p.add(field, f"conflicts with the {shown(canonical)} base URL ('draft' is an alias of 'sandbox')")
            elif url:
                base_urls[canonical] = url
    else:
        p.add("connection", "needs base_url (one URL) or base_urls (a mapping of environment to URL)")
    timeout_ms = _positive_int(p, "connection.timeout_ms", raw.get("timeout_ms", 30_000))
    retries = raw.get("retry_attempts", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        p.add("connection.retry_attempts", f"must be an integer from 0 to 10, not {shown(retries)}")
        retries = 0
    verify = raw.get("verify_ssl", True)
    if not isinstance(verify, bool):
        p.add("connection.verify_ssl", f"must be true or false, not {shown(verify)}")
    return Connection(
        base_urls=base_urls,
        timeout_ms=timeout_ms or 30_000,
        retry_attempts=retries,
        verify_ssl=verify is not False,
        **parse_connection_egress(p, raw, seed_ip_allowlist),
        retry=parse_retry(p, raw.get("retry")),
        circuit_breaker=parse_circuit_breaker(p, raw.get("circuit_breaker")),
    )


def _base_url(p: Problems, field: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        p.add(field, "must be a URL string")
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        p.add(field, f"{shown(value)} is not an absolute http(s) URL")
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        p.add(field, "must not contain a query, fragment or credentials (use authentication)")
        return None
    return value.rstrip("/")


def _endpoints(p: Problems, raw: Any, amending: bool = False) -> tuple[Endpoint, ...] | None:
    """``amending`` (under ``openapi:``): entries without method and path amend imported operations
    (``_result.amend_imported``) and are left out here."""
    if not isinstance(raw, list) or not raw:
        p.add("endpoints", "must be a non-empty list of operations")
        return None
    endpoints = []
    names: set[str] = set()
    for index, item in enumerate(raw):
        if amending and is_amendment(item):
            continue
        endpoint = _endpoint(p, f"endpoints[{index}]", item)
        if endpoint is None:
            continue
        if endpoint.name in names:
            p.add(f"endpoints[{index}].name", f"duplicate operation name {shown(endpoint.name)}")
        names.add(endpoint.name)
        endpoints.append(endpoint)
    return tuple(endpoints)


def _endpoint(p: Problems, where: str, raw: Any) -> Endpoint | None:
    if not _mapping(p, where, raw, _ENDPOINT_KEYS):
        return None
    name = _identifier(p, f"{where}.name", raw.get("name"))
    method = raw.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        p.add(f"{where}.method", f"{shown(method)} is not one of {', '.join(METHODS)}")
        method = None
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        p.add(f"{where}.path", f"{shown(path)} must be a path starting with '/'")
        path = None
    parameters = _parameters(p, where, raw.get("parameters", []))
    if path is not None and parameters is not None:
        parameters = _expose_path_variables(p, where, path, parameters)
        _check_path_variables(p, where, path, parameters)
    for key in ("request_body", "response_schema"):
        if key in raw and not isinstance(raw[key], dict):
            p.add(f"{where}.{key}", "must be a JSON Schema mapping")
    if parameters is not None and isinstance(raw.get("request_body"), dict):
        declared = {param.arg_name for param in parameters}
        properties = raw["request_body"].get("properties")
        for prop in properties if isinstance(properties, dict) else ():
            if prop in declared:
                p.add(f"{where}.request_body.properties.{prop}", "has the same name as a parameter")
    timeout_ms = _positive_int(p, f"{where}.timeout_ms", raw["timeout_ms"]) if "timeout_ms" in raw else None
    if name is None or method is None or path is None or parameters is None:
        return None
    from_context, request_body = endpoint_bindings(p, where, raw, parameters)
    parameters = bind_parameters(parameters, from_context)
    return Endpoint(
        name=name,
        method=method.upper(),
        path=path,
        description=_string(p, f"{where}.description", raw.get("description", "")),
        parameters=parameters,
        request_body=request_body,
        response_schema=raw.get("response_schema") if isinstance(raw.get("response_schema"), dict) else None,
        timeout_ms=timeout_ms,
        request_content_type=_content_type(p, where, raw.get("request_content_type", REQUEST_CONTENT_TYPES[0])),
        request_body_required=_flag(p, f"{where}.request_body_required", raw.get("request_body_required", False)),
        background=_flag(p, f"{where}.background", raw.get("background", False)),
        test_arguments=_test_arguments(p, f"{where}.test_arguments", raw.get("test_arguments")),
        from_context=from_context,
        cache=parse_cache(p, f"{where}.cache", raw.get("cache"), method.upper()),
        result=parse_result(p, f"{where}.result", raw.get("result")),
        tags=_tags(p, f"{where}.tags", raw.get("tags", [])),
    )


def _tags(p: Problems, field: str, raw: Any) -> tuple[str, ...]:
    """Words operation search finds the operation by: a short list of short strings."""
    if not isinstance(raw, list) or len(raw) > MAX_TAGS or not all(isinstance(t, str) for t in raw):
        p.add(field, f"must be a list of at most {MAX_TAGS} strings")
        return ()
    long = [t for t in raw if len(t) > MAX_TAG_CHARS]
    if long:
        p.add(field, f"tag {shown(long[0])} is longer than {MAX_TAG_CHARS} characters")
        return ()
    return tuple(raw)


def _test_arguments(p: Problems, field: str, raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        p.add(field, "must be a mapping of argument name to value")
        return None
    return raw


def _content_type(p: Problems, where: str, value: Any) -> str:
    if value not in REQUEST_CONTENT_TYPES:
        p.add(f"{where}.request_content_type", f"{shown(value)} is not one of {', '.join(REQUEST_CONTENT_TYPES)}")
        return REQUEST_CONTENT_TYPES[0]
    return str(value)


def _parameters(p: Problems, where: str, raw: Any) -> tuple[Parameter, ...] | None:
    if not isinstance(raw, list):
        p.add(f"{where}.parameters", "must be a list")
        return None
    params = []
    arg_names: dict[str, str] = {}
    for index, item in enumerate(raw):
        field = f"{where}.parameters[{index}]"
        if not _mapping(p, field, item, _PARAMETER_KEYS):
            continue
        name, location, ptype = item.get("name"), item.get("in"), item.get("type", "string")
        ok = True
        if not isinstance(name, str) or not name:
            p.add(f"{field}.name", "must be a non-empty string")
            ok = False
        if location not in PARAMETER_LOCATIONS:
            p.add(f"{field}.in", f"{shown(location)} is not one of {', '.join(PARAMETER_LOCATIONS)}")
            ok = False
        if ptype not in PARAMETER_TYPES:
            p.add(f"{field}.type", f"{shown(ptype)} is not one of {', '.join(PARAMETER_TYPES)}")
            ok = False
        if ok and location == "header" and not HEADER_NAME.match(name):
            p.add(f"{field}.name", f"{shown(name)} is not a valid HTTP header name")
            ok = False
        if not ok:
            continue
        param = Parameter(
            name=name,
            location=location,
            type=ptype,
            required=location == "path" or item.get("required") is True,
            description=_string(p, f"{field}.description", item.get("description", "")),
            schema=item.get("schema") if isinstance(item.get("schema"), dict) else {"type": ptype},
            arg=_string(p, f"{field}.arg", item.get("arg", "")),
            from_context=parameter_binding(p, field, item, ptype),
            **_serialization(p, field, location, item),
        )
        key = param.arg_name
        if not key.isidentifier() or keyword.iskeyword(key) or key in RESERVED_ARGUMENTS:
            p.add(
                f"{field}.name",
                f"{shown(name)} cannot be a keyword argument (reserved: {', '.join(sorted(RESERVED_ARGUMENTS))})",
            )
            continue
        if key in arg_names:
            p.add(
                f"{field}.name",
                f"{shown(name)} collides with parameter {shown(arg_names[key])} (both are argument {shown(key)})",
            )
            continue
        arg_names[key] = name
        params.append(param)
    return tuple(params)


def _serialization(p: Problems, field: str, location: str, item: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI ``style``/``explode``, defaulted per location (query: form, exploded; else simple)."""
    styles = PARAMETER_STYLES[location]
    style = item.get("style", styles[0])
    if style not in styles:
        p.add(
            f"{field}.style", f"{shown(style)} is not a style for {location} parameters; use one of {', '.join(styles)}"
        )
        style = styles[0]
    explode = _flag(p, f"{field}.explode", item.get("explode", style == "form" or style == "deepObject"))
    return {"style": style, "explode": explode}


def _expose_path_variables(p: Problems, where: str, path: str, params: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
    """Seed 000: "path variables are automatically exposed as arguments". A ``{name}`` with no
    ``in: path`` entry becomes a required string path parameter (positional in template order)."""
    declared = {param.name for param in params if param.location == "path"}
    taken = {param.arg_name: param for param in params}
    exposed = []
    for var in dict.fromkeys(PATH_VARIABLE.findall(path)):
        if var in declared or not var.isidentifier():
            continue  # declared explicitly, or reported by _check_path_variables
        if keyword.iskeyword(var) or var in RESERVED_ARGUMENTS:
            reserved = ", ".join(sorted(RESERVED_ARGUMENTS))
            p.add(f"{where}.path", f"path variable {{{var}}} cannot be a keyword argument (reserved: {reserved})")
        elif var in taken:
            other = f"{taken[var].location} parameter {shown(taken[var].name)}"
            p.add(f"{where}.path", f"path variable {{{var}}} has the same name as {other}")
        else:
            exposed.append(
                Parameter(
                    name=var, location="path", required=True, schema={"type": "string"}, style="simple", explode=False
                )
            )
    return (*params, *exposed)


def _check_path_variables(p: Problems, where: str, path: str, params: tuple[Parameter, ...]) -> None:
    variables = PATH_VARIABLE.findall(path)
    if "{" in PATH_VARIABLE.sub("", path) or "}" in PATH_VARIABLE.sub("", path):
        p.add(f"{where}.path", f"{shown(path)} has unbalanced braces")
    if "?" in path or "#" in path:
        p.add(f"{where}.path", "must not contain a query or fragment; declare query parameters instead")
    declared = {param.name for param in params if param.location == "path"}
    for var in variables:
        if not var.isidentifier():
            p.add(f"{where}.path", f"path variable {{{var}}} must be an identifier")
    if len(set(variables)) != len(variables):
        p.add(f"{where}.path", "repeats a path variable")
    for name in sorted(declared - set(variables)):
        p.add(f"{where}.parameters", f"path parameter {shown(name)} does not appear in path {shown(path)}")


def _security(p: Problems, raw: Any) -> Security | None:
    if raw is None:
        return Security()
    if not _mapping(p, "security", raw, _SECURITY_KEYS):
        return None
    allowlist = raw.get("url_allowlist") or []
    if not isinstance(allowlist, list) or not all(isinstance(x, str) and x for x in allowlist):
        p.add("security.url_allowlist", "must be a list of URL patterns like 'https://api.example.com/*'")
        allowlist = []
    rate_limit = None
    if raw.get("rate_limit") is not None and _mapping(p, "security.rate_limit", raw["rate_limit"], _RATE_LIMIT_KEYS):
        rl = raw["rate_limit"]
        rate_limit = RateLimit(
            requests_per_minute=_positive_int(p, "security.rate_limit.requests_per_minute", rl["requests_per_minute"])
            if "requests_per_minute" in rl
            else None,
            requests_per_day=_positive_int(p, "security.rate_limit.requests_per_day", rl["requests_per_day"])
            if "requests_per_day" in rl
            else None,
        )
    defaults = Security()
    return Security(
        url_allowlist=tuple(allowlist),
        rate_limit=rate_limit,
        max_response_bytes=_positive_int(
            p, "security.max_response_bytes", raw.get("max_response_bytes", defaults.max_response_bytes)
        )
        or defaults.max_response_bytes,
        max_request_bytes=_positive_int(
            p, "security.max_request_bytes", raw.get("max_request_bytes", defaults.max_request_bytes)
        )
        or defaults.max_request_bytes,
        response_headers=parse_response_headers(p, raw.get("response_headers")),
        extra_arguments=_extra_arguments(p, raw.get("extra_arguments", defaults.extra_arguments)),
        allow_routing=_allow_routing(p, raw.get("allow_routing", [])),
    )


def _extra_arguments(p: Problems, value: Any) -> str:
    if value not in EXTRA_ARGUMENTS_MODES:
        p.add("security.extra_arguments", f"{shown(value)} is not one of {', '.join(EXTRA_ARGUMENTS_MODES)}")
        return "allow"
    return str(value)


def _allow_routing(p: Problems, raw: Any) -> tuple[str, ...]:
    """Routing arguments (a header, or ``_method``) this API's upstream needs from its callers."""
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        p.add("security.allow_routing", "must be a list of routing header names (or _method)")
        return ()
    for index, name in enumerate(raw):
        if name != METHOD_PARAMETER and not is_routing_header(name):
            p.add(
                f"security.allow_routing[{index}]",
                f"{shown(name)} is not a routing argument (one a caller is refused: X-HTTP-Method-Override, "
                "X-Original-URL, Forwarded, X-Forwarded-*, ..., or _method); other arguments need no allowing",
            )
    return tuple(raw)


# --- small checkers ------------------------------------------------------------


def _mapping(p: Problems, field: str, raw: Any, allowed: Collection[str]) -> bool:
    if not isinstance(raw, dict):
        p.add(field, f"must be a mapping, not {type(raw).__name__ if raw is not None else 'missing'}")
        return False
    _unknown_keys(p, field, raw, allowed)
    return True


def _unknown_keys(p: Problems, field: str, raw: dict[str, Any], allowed: Collection[str]) -> None:
    for key in raw:
        if key not in allowed:
            prefix = f"{field}." if field else ""
            p.add(f"{prefix}{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def _identifier(p: Problems, field: str, value: Any, reserved: frozenset[str] = RESERVED_NAMES) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value) or keyword.iskeyword(value):
        p.add(
            field,
            f"{shown(value)} must be a snake_case identifier (a-z, 0-9, _; starting with a letter; at most 64 chars)",
        )
        return None
    if value in reserved:
        p.add(field, f"{shown(value)} is reserved (conv.api.{value} is a built-in)")
        return None
    return value


def _string(p: Problems, field: str, value: Any) -> str:
    if not isinstance(value, str):
        p.add(field, "must be a string")
        return ""
    return value


def _flag(p: Problems, field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        p.add(field, f"must be true or false, not {shown(value)}")
        return False
    return value


def _positive_int(p: Problems, field: str, value: Any) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        p.add(field, f"must be a positive integer, not {shown(value)}")
        return None
    return value
