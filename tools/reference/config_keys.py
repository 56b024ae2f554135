"""config.md: every key of the config file, from the loader's own key tables (key -> description)
and, where a section is read into a dataclass, that dataclass's defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from custom_api_sidecar.config import _fleet
from custom_api_sidecar.config import _model as model
from custom_api_sidecar.loader import _amend, _auth, _cache, _documents, _egress, _loader, _resilience, _result
from custom_api_sidecar.secrets import _config as secrets_config

from ._markdown import MissingDescription, code, page, prose, table


@dataclass(frozen=True)
class Section:
    path: str  # as the loader names fields in its problems
    keys: Mapping[str, str]
    intro: str = ""
    defaults: Any = None  # a dataclass instance whose same-named fields are the defaults
    fields_are_keys: bool = False  # the loader reads the mapping into `defaults` field by field


def sections() -> list[Section]:
    """Every key table the loader checks a mapping against, in the order of a config file."""
    environments = {
        **{name: f"The base URL in the {name} environment." for name in model.ENVIRONMENTS},
        **{alias: f"Another name for {target}." for alias, target in model.ENVIRONMENT_ALIASES.items()},
    }
    out = [
        Section(
            "(top level)",
            _documents.TOP_LEVEL_KEYS,
            "A file holds one or more YAML documents (`---` between them; a `.json` file holds one). "
            "Every document is a mapping of these keys, or a list of `{custom_api: ...}` mappings.",
        ),
        Section(
            "apis[]", _loader._API_KEYS, "One API definition.", model.ApiConfig(name="", connection=None, endpoints=())
        ),  # type: ignore[arg-type]
        Section("connection", _loader._CONNECTION_KEYS, defaults=model.Connection(base_urls={})),
        Section(
            "connection.base_urls",
            environments,
            "The sidecar serves one environment (`serve --environment`); an API needs a base URL for it.",
        ),
        Section("connection.tls", _egress.TLS_KEYS),
        Section("connection.retry", _resilience.RETRY_KEYS, defaults=model.RetryPolicy(), fields_are_keys=True),
        Section(
            "connection.circuit_breaker",
            _resilience.CIRCUIT_BREAKER_KEYS,
            defaults=model.CircuitBreakerPolicy(),
            fields_are_keys=True,
        ),
        Section("authentication", _auth.AUTHENTICATION_KEYS),
    ]
    for auth_type, keys in _auth._KEYS.items():
        if keys:
            out.append(Section(f"authentication.config ({auth_type})", keys, f"With `type: {auth_type}`."))
    amending = ", ".join(code(key) for key in _amend.AMENDING_KEYS)
    out += [
        Section(
            "endpoints[]",
            _loader._ENDPOINT_KEYS,
            "One operation. Under `openapi:`, an entry without `method` and `path` names an imported operation "
            f"and may set only {amending}.",
            model.Endpoint(name="", method="", path=""),
        ),
        Section(
            "endpoints[].parameters[]",
            _loader._PARAMETER_KEYS,
            "A declared parameter. A path `{variable}` with no entry here is a required string argument.",
        ),
        Section("endpoints[].cache", _cache.CACHE_KEYS, "GET and HEAD operations only.", model.CacheSetting()),
        Section("endpoints[].result", _result.RESULT_KEYS, defaults=model.ResultSettings()),
        Section("security", _loader._SECURITY_KEYS, defaults=model.Security()),
        Section("security.rate_limit", _loader._RATE_LIMIT_KEYS),
        Section("security.response_headers", _egress.RESPONSE_HEADERS_KEYS),
        Section("validation", _loader._VALIDATION_KEYS, defaults=model.Validation()),
        Section("openapi", _loader._OPENAPI_KEYS),
        Section("tunnel", _loader._TUNNEL_KEYS, defaults=model.Tunnel()),
        Section(
            "tools[]",
            _documents.TOOL_KEYS,
            "An HTTP API request tool: an API with one operation named like the tool, called as "
            "`conv.api.<name>(...)`.",
        ),
        Section("tools[].body_fields[]", _documents.BODY_FIELD_KEYS),
        Section("vault", secrets_config.VAULT_KEYS),
        Section("vault.auth", secrets_config.AUTH_KEYS),
        Section("secrets", secrets_config.SECRETS_KEYS),
        Section("redis", _fleet.REDIS_KEYS, defaults=_fleet.RedisSettings(url="")),
        Section("redis.tls", _fleet.TLS_KEYS),
        Section("redis.cluster", _fleet.CLUSTER_KEYS),
        Section("redis.sentinel", _fleet.SENTINEL_KEYS),
    ]
    return out


def all_keys() -> set[str]:
    """Every documented key as ``section.key`` (what the page must show)."""
    return {f"{s.path}.{key}" for s in sections() for key in s.keys}


def _default(section: Section, key: str) -> str:
    if "Default:" in section.keys[key]:  # a default that depends on other settings: the description says it
        return ""
    if section.defaults is None or key not in {f.name for f in dataclasses.fields(section.defaults)}:
        return ""
    value = getattr(section.defaults, key)
    if isinstance(value, bool):
        return code(str(value).lower())
    if isinstance(value, int | float | str) and value != "":
        return code(value)
    return ""


def _check(section: Section) -> None:
    for key, text in section.keys.items():
        if not isinstance(text, str) or not text.strip():
            raise MissingDescription(f"config key {section.path}.{key} has no description")
    if section.fields_are_keys:
        fields = {f.name for f in dataclasses.fields(section.defaults)}
        if fields != set(section.keys):
            raise MissingDescription(
                f"{section.path}: the described keys {sorted(section.keys)} are not the fields {sorted(fields)}"
            )


def _anchor(path: str) -> str:
    return "".join(c for c in path.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def render() -> str:
    blocks = []
    index_rows = []
    for section in sections():
        _check(section)
        index_rows.append((f"[`{section.path}`](#{_anchor(section.path)})", len(section.keys)))
        rows = [(code(key), _default(section, key), prose(text)) for key, text in sorted(section.keys.items())]
        blocks.append(
            "\n\n".join(
                part
                for part in (f"### {section.path}", prose(section.intro), table(("key", "default", "meaning"), rows))
                if part
            )
        )
    return page(
        "Config file",
        "The config file is YAML, or JSON when its name ends in `.json`. Unknown keys are errors, and "
        "every problem is reported at once, naming the file, the API and the field "
        "(`custom-api-sidecar validate FILE`). Secret values are never literals: they are references, "
        "`vault://<mount>/<path>#<field>`, `env://<VAR>` or `file://<abs path>[#<field>]`, and may "
        "contain `{environment}`. The file is reloaded when it changes (and on SIGHUP); `vault:`, "
        "`secrets:` and `redis:` are read at start only.",
        "A definition may be spelled three ways, all read into one model: the canonical `apis:` list; "
        "`custom_api:` documents, one API each, where `slug` is the code name and `name` the display "
        "name (the other keys are those of `apis[]`); and `tools:`, HTTP API request tools. Keys of "
        "`apis[]` sections below (`connection`, `endpoints[]`, ...) are relative to one API.",
        "## Sections\n\n" + table(("section", "keys"), index_rows),
        "## Keys\n\n" + "\n\n".join(blocks),
    )
