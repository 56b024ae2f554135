"""Property-based tests of the config loader (issue 20): an API-definition author writes the file
and it is hot-reloaded, so every document either loads or gives a clear ConfigError naming what
is wrong; never a traceback, never unbounded work. Documents are generated around the real
shape (known keys, references, URLs, schemas) so the checks deep inside are reached, not only
the first "must be a mapping"."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.policy import EGRESS_OPT_INS, OperatorPolicy
from custom_api_sidecar.registry import Registry

WORDS = [
    # keys of every level of the config, so generated mappings hit real fields
    *("name", "description", "connection", "authentication", "endpoints", "security", "validation", "tools"),
    *("base_url", "base_urls", "timeout_ms", "retry_attempts", "verify_ssl", "allow_http", "private_network"),
    *("ip_allowlist", "proxy", "tls", "retry", "circuit_breaker", "client_cert", "client_key", "ca_bundle"),
    *("method", "path", "parameters", "request_body", "response_schema", "request_content_type", "background"),
    *("in", "type", "required", "schema", "style", "explode", "arg", "url_allowlist", "rate_limit"),
    *("requests_per_minute", "requests_per_day", "max_response_bytes", "response_headers", "drop", "keep"),
    *("config", "key", "header_name", "param_name", "prefix", "token", "username", "password", "token_url"),
    *("client_id", "client_secret", "scopes", "headers", "value", "custom_api", "slug", "sandbox", "live"),
    *("pre-release", "draft", "properties", "items", "$ref", "$defs", "pattern", "enum", "format", "nullable"),
    *("vault", "secrets", "redis", "url", "execution_description", "request_url", "body_fields", "tunnel"),
    *("enabled", "test_arguments", "health_check", "metadata", "id", "response", "backoff_ms", "budget_ratio"),
    *("propagate", "tracecontext", "baggage"),
]
STRINGS = [
    *("env://CRM_TOKEN", "env://VAULT_TOKEN", "env://X_{environment}", "vault://kv/{environment}/crm#key"),
    *("file:///proc/self/environ", "file:///run/secrets/crm", "file://relative", "vault://", "env://", "x://y"),
    *("https://crm.example.com", "https://crm.example.com/api/v1", "http://127.0.0.1:9", "http://[::1]:80"),
    *("https://169.254.169.254", "https://10.0.0.1", "ftp://x", "https://u:p@x.example.com", "https://"),
    *("/items/{item_id}", "/items/{", "/a/{b}/{b}", "/x?y=1", "items", "GET", "post", "FETCH", "query", "path"),
    *("header", "cookie", "string", "integer", "number", "boolean", "array", "object", "none", "api_key"),
    *("bearer_token", "basic_auth", "oauth2", "custom_header", "#/endpoints/0/response_schema", "#/$defs/a"),
    *("#/nowhere", "^(a+)+$", "(?=x)", "[", "enforce", "warn", "off", "date-time", "email", "X-Api-Key"),
    *("Bearer your-api-token", "sk_live_" + "x" * 24, "10.0.0.0/8", "not-a-cidr", "direct", "crm", "Bad-Name"),
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(STRINGS),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=8))
values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5), max_leaves=25
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, one time in ten anything at all: documents then get deep into the
    loader (and often load) while every field is still tried with hostile values."""
    return st.integers(0, 9).flatmap(lambda roll: values if roll == 9 else valid)


def shaped(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    return mostly(st.fixed_dictionaries({k: mostly(v) for k, v in required.items()}, optional=optional))


identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
schemas = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["string", "integer", "number", "boolean", "object", "array", "null"])},
        optional={
            "pattern": st.sampled_from(["^[a-z]+$", "^(a+)+$", "(?=x)", "[", "\\d{3}"]),
            "format": st.sampled_from(["email", "date-time", "uuid", "int32", "regex", "nope"]),
            "enum": st.lists(scalars, max_size=3),
            "nullable": st.booleans(),
            "maxLength": st.integers(-1, 10**12),
            "$ref": st.sampled_from(["#/$defs/a", "#/endpoints/0/response_schema", "#/nowhere", "#"]),
            "$defs": st.just({"a": {"type": "string"}}),
        },
    ),
    lambda kids: st.fixed_dictionaries(
        {"type": st.just("object")},
        optional={
            "properties": st.dictionaries(identifiers, kids, max_size=3),
            "items": kids,
            "anyOf": st.lists(kids, max_size=2),
        },
    ),
    max_leaves=6,
)
parameter = shaped(
    {
        "name": st.sampled_from(["q", "limit", "X-Request-Id", "json", "from", "item_id"]) | identifiers,
        "in": st.sampled_from(["query", "header", "path"]),
    },
    {
        "type": mostly(st.sampled_from(["string", "integer", "number", "boolean", "array", "object"])),
        "required": mostly(st.booleans()),
        "schema": mostly(schemas),
        "style": mostly(st.sampled_from(["form", "simple", "deepObject", "pipeDelimited", "matrix"])),
        "explode": mostly(st.booleans()),
    },
)
endpoint = shaped(
    {
        "name": identifiers,
        "method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "get"]),
        "path": st.sampled_from(["/items/{item_id}", "/items", "/a/{b}/c/{d}", "/"]),
    },
    {
        "parameters": mostly(st.lists(parameter, max_size=3)),
        "request_body": mostly(schemas),
        "response_schema": mostly(schemas),
        "timeout_ms": mostly(st.integers(1, 10**9)),
        "request_content_type": mostly(st.sampled_from(["application/json", "multipart/form-data"])),
        "background": mostly(st.booleans()),
        "test_arguments": mostly(st.dictionaries(identifiers, scalars, max_size=2)),
    },
)
urls = st.sampled_from(
    ["https://crm.example.com", "https://crm.example.com/api/v1/", "http://127.0.0.1:9", "https://10.0.0.1:8443"]
)
connection = shaped(
    {"base_url": urls},
    {
        "timeout_ms": mostly(st.integers(1, 10**9)),
        "retry_attempts": mostly(st.integers(0, 10)),
        "verify_ssl": mostly(st.booleans()),
        "allow_http": mostly(st.booleans()),
        "private_network": mostly(st.booleans()),
        "ip_allowlist": mostly(st.lists(st.sampled_from(["10.0.0.0/8", "127.0.0.1", "::1/128"]), min_size=1)),
        "proxy": mostly(st.sampled_from(["direct", "http://proxy.internal:3128"])),
        "tls": mostly(st.fixed_dictionaries({}, optional={"ca_bundle": st.sampled_from(STRINGS)})),
        "circuit_breaker": mostly(st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "open_s": scalars})),
    },
)
names = st.sampled_from(["svc", "tenant-a"])
references = st.sampled_from([s for s in STRINGS if "://" in s and s.split("://")[0] in ("env", "vault", "file")])
authentication = st.one_of(
    st.fixed_dictionaries({"type": st.just("none")}),
    shaped({"type": st.just("bearer_token"), "config": st.fixed_dictionaries({"token": references})}, {}),
    shaped(
        {
            "type": st.just("api_key"),
            "config": st.fixed_dictionaries({"header_name": st.just("X-Key"), "key": references}),
        },
        {},
    ),
    shaped(
        {
            "type": st.just("basic_auth"),
            "config": st.fixed_dictionaries({"username": st.just("svc"), "password": references}),
        },
        {},
    ),
    shaped(
        {
            "type": st.just("oauth2"),
            "config": st.fixed_dictionaries(
                {"token_url": urls, "client_id": st.just("client"), "client_secret": references},
                optional={"scopes": mostly(st.lists(st.text(max_size=5), max_size=2))},
            ),
        },
        {},
    ),
    shaped(
        {
            "type": st.just("custom_header"),
            "config": st.fixed_dictionaries(
                {
                    "headers": st.lists(
                        st.fixed_dictionaries({"name": st.just("X-Tenant"), "value": references}), max_size=2
                    )
                }
            ),
        },
        {},
    ),
)
api = shaped(
    {"name": identifiers, "connection": connection, "endpoints": st.lists(endpoint, min_size=1, max_size=3)},
    {
        "authentication": mostly(authentication),
        "description": mostly(st.text(max_size=20)),
        "security": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "max_response_bytes": mostly(st.integers(1, 10**12)),
                    "url_allowlist": mostly(st.lists(st.sampled_from(["https://crm.example.com/*", "*"]))),
                    "rate_limit": mostly(st.fixed_dictionaries({"requests_per_minute": st.integers(1, 100)})),
                },
            )
        ),
        "validation": mostly(st.fixed_dictionaries({"response": st.sampled_from(["enforce", "warn", "off"])})),
        "health_check": mostly(identifiers),
        "propagate": mostly(st.lists(st.sampled_from(["tracecontext", "baggage"]), max_size=3)),
    },
)
documents = st.fixed_dictionaries(
    {"apis": mostly(st.lists(api, min_size=1, max_size=3))},
    optional={k: values for k in ("tools", "custom_api", "vault", "secrets", "redis")},
).map(lambda d: d if len(d) == 1 or hash(str(sorted(d))) % 4 else {"apis": d["apis"]})
policies = st.sampled_from([OperatorPolicy(), OperatorPolicy(egress=frozenset(EGRESS_OPT_INS))])


def loads_or_says_why(text: str, source: str, policy: OperatorPolicy) -> None:
    try:
        config = parse_config(text, source, policy=policy)
        Registry(config, "live")  # what serve builds next: schemas checked, validators compiled
    except ConfigError as exc:
        assert exc.problems, "a ConfigError names at least one problem"
        for problem in exc.problems:
            assert problem.message and problem.file == source


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=documents, policy=policies, as_json=st.booleans())
def test_every_generated_document_loads_or_says_why(document: Any, policy: OperatorPolicy, as_json: bool) -> None:
    if as_json:
        try:
            text = json.dumps(document, allow_nan=True)
        except (TypeError, ValueError):
            return
        loads_or_says_why(text, "apis.json", policy)
    else:
        loads_or_says_why(yaml.safe_dump(document), "apis.yaml", policy)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), policy=policies)
def test_any_text_loads_or_says_why(text: str, policy: OperatorPolicy) -> None:
    loads_or_says_why(text, "apis.yaml", policy)
    loads_or_says_why(text, "apis.json", policy)
