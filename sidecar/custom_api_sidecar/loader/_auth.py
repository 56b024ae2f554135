"""Parse ``authentication: {type, config}`` (the seed-004 shapes) into ``_auth_model``.

Every secret part must be a reference (``vault://``, ``env://``, ``file://``);
the parts that are not secret by nature (a basic-auth username, an OAuth2
client id, a custom header such as a tenant id) may be literals, unless they
look like a secret, in which case they are refused too. Problems never echo a
literal value: it may be the secret someone pasted.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .._text import shown
from ..config._auth_model import (
    ApiKeyAuth,
    Authentication,
    BasicAuth,
    BearerTokenAuth,
    CustomHeader,
    CustomHeaderAuth,
    NoAuth,
    OAuth2Auth,
)
from ..config._model import HEADER_NAME
from ..config._problems import Problems

AUTH_TYPES = ("none", "api_key", "bearer_token", "basic_auth", "oauth2", "custom_header")
CLIENT_AUTH_METHODS = ("header", "body")
# Headers the sidecar itself controls; an auth type may not set them.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "traceparent"}
)
# Token-request parameters the sidecar sets itself; extra_params may not replace them.
RESERVED_TOKEN_PARAMS = frozenset({"grant_type", "client_id", "client_secret", "scope", "audience"})
_PRINTABLE = re.compile(r"^[\x20-\x7e]*\Z")
_QUERY_NAME = re.compile(r"^[A-Za-z0-9_.~-]+\Z")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+\Z")  # RFC 6749 scope-token

AUTHENTICATION_KEYS = {
    "type": "none (default), api_key, bearer_token, basic_auth, oauth2 or custom_header.",
    "config": "The type's settings (below).",
}
# Per type: key -> the line the config reference shows for it (tools/docs_reference.py fails on a key without one).
_KEYS: dict[str, dict[str, str]] = {
    "none": {},
    "api_key": {
        "header_name": "Send the key in this header (give header_name or param_name).",
        "param_name": "Send the key as this query parameter instead.",
        "prefix": "Literal text before the key in the header, such as `ApiKey `.",
        "key": "Secret reference to the key.",
        "key_vault_ref": "Another name for key.",
    },
    "bearer_token": {"token": "Secret reference to the token, sent as `Authorization: Bearer <token>`."},
    "basic_auth": {
        "username": "The user name: a literal (unless it looks like a secret) or a reference.",
        "password": "Secret reference to the password.",
    },
    "oauth2": {
        "token_url": "The token endpoint (client credentials grant): https; plain http only with "
        "`connection.allow_http`.",
        "client_id": "A literal (unless it looks like a secret) or a reference.",
        "client_secret": "Secret reference to the client secret.",
        "scopes": "A list of scopes to ask for.",
        "audience": "The audience parameter some providers need.",
        "extra_params": "More token-request parameters (`{name: value}`); grant_type, client_id, client_secret, "
        "scope and audience are the sidecar's own.",
        "client_auth": "header (HTTP Basic, client_secret_basic; default) or body (client_secret_post).",
        "auth_header_name": "The header the token goes in (default Authorization).",
        "token_prefix": "Text before the token (default Bearer; '' sends the bare token).",
        "timeout_ms": "Token request timeout, 1 to 120000 (default 10000).",
    },
    "custom_header": {
        "headers": "A list of `{name, value, prefix}`: value a reference (or a literal that does not look secret), "
        "prefix literal text before it.",
    },
}


def parse_authentication(p: Problems, raw: Any, allow_http: bool = False) -> Authentication:
    """``allow_http``: the API's ``connection.allow_http``, which a plain-http token URL needs too."""
    if raw is None:
        return NoAuth()
    if not isinstance(raw, dict):
        p.add("authentication", "must be a mapping with type and config")
        return NoAuth()
    for key in raw:
        if key not in AUTHENTICATION_KEYS:
            p.add(f"authentication.{key}", "unknown field; allowed: config, type")
    auth_type = raw.get("type", "none")
    if auth_type not in AUTH_TYPES:
        p.add("authentication.type", f"{shown(auth_type)} is not one of {', '.join(AUTH_TYPES)}")
        return NoAuth()
    config = raw.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        p.add("authentication.config", "must be a mapping")
        return NoAuth()
    allowed = _KEYS[auth_type]
    for key in config:
        if key not in allowed:
            hint = f"allowed: {', '.join(sorted(allowed))}" if allowed else "type 'none' takes no config"
            p.add(f"authentication.config.{key}", f"unknown field for type {shown(auth_type)}; {hint}")
    before = len(p.items)
    fields = _Fields(p, config)
    auth: Authentication
    if auth_type == "api_key":
        auth = _api_key(fields)
    elif auth_type == "bearer_token":
        auth = BearerTokenAuth(token=fields.reference("token"))
    elif auth_type == "basic_auth":
        auth = BasicAuth(username=fields.credential("username"), password=fields.reference("password"))
    elif auth_type == "oauth2":
        auth = _oauth2(fields, allow_http)
    elif auth_type == "custom_header":
        auth = _custom_header(fields)
    else:
        auth = NoAuth()
    return auth if len(p.items) == before else NoAuth()


def _api_key(f: _Fields) -> ApiKeyAuth:
    if "key" in f.raw and "key_vault_ref" in f.raw:
        f.add("key_vault_ref", "give key or key_vault_ref (an alias), not both")
    key = f.reference("key_vault_ref" if "key_vault_ref" in f.raw else "key")
    header_name = f.header_name("header_name", required=False)
    param_name = f.optional_string("param_name")
    if param_name is not None and not _QUERY_NAME.match(param_name):
        f.add("param_name", f"{shown(param_name)} is not a plain query parameter name (letters, digits, _ . ~ -)")
    if ("header_name" in f.raw) == ("param_name" in f.raw):
        f.add("", "api_key needs exactly one of header_name (send the key in a header) or param_name (in the query)")
    prefix = f.raw.get("prefix") or ""
    if not isinstance(prefix, str) or not _PRINTABLE.match(prefix):
        f.add("prefix", "must be a printable ASCII string, like 'ApiKey '")
        prefix = ""
    elif prefix and param_name is not None:
        f.add("prefix", "applies to header_name only")
    return ApiKeyAuth(key=key, header_name=header_name, param_name=param_name, prefix=prefix)


def _oauth2(f: _Fields, allow_http: bool) -> OAuth2Auth:
    token_url = f.string("token_url")
    if token_url:
        _check_token_url(f, token_url, allow_http)
    scopes = _scopes(f)
    audience = f.optional_string("audience")
    if audience is not None and not _PRINTABLE.match(audience):
        f.add("audience", "must be printable ASCII")
    client_auth = f.raw.get("client_auth", "header")
    if client_auth not in CLIENT_AUTH_METHODS:
        f.add(
            "client_auth",
            f"{shown(client_auth)} is not one of header (HTTP Basic, client_secret_basic) or body (client_secret_post)",
        )
    header_name = f.header_name("auth_header_name", required=False) or "Authorization"
    token_prefix = f.raw.get("token_prefix", "Bearer")
    if not isinstance(token_prefix, str) or not _PRINTABLE.match(token_prefix) or token_prefix != token_prefix.strip():
        f.add("token_prefix", "must be printable ASCII without surrounding spaces ('' sends the bare token)")
        token_prefix = "Bearer"
    timeout_ms = f.raw.get("timeout_ms", 10_000)
    if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or not 0 < timeout_ms <= 120_000:
        f.add("timeout_ms", f"must be an integer from 1 to 120000, not {shown(timeout_ms)}")
        timeout_ms = 10_000
    return OAuth2Auth(
        token_url=token_url,
        client_id=f.credential("client_id"),
        client_secret=f.reference("client_secret"),
        scopes=scopes,
        audience=audience,
        extra_params=_extra_params(f),
        client_auth=client_auth if client_auth in CLIENT_AUTH_METHODS else "header",
        auth_header_name=header_name,
        token_prefix=token_prefix,
        timeout_ms=timeout_ms,
    )


def _check_token_url(f: _Fields, url: str, allow_http: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        f.add("token_url", f"{shown(url)} is not an absolute http(s) URL")
    elif parts.username or parts.password or parts.fragment or parts.query:
        f.add("token_url", "must not contain credentials, a query or a fragment (use client_id, extra_params)")
    elif parts.scheme == "http" and not allow_http:
        f.add(
            "token_url",
            "must be https: the client secret would cross the network in clear text "
            "(set connection.allow_http: true to allow plain http for this API on purpose)",
        )


def _scopes(f: _Fields) -> tuple[str, ...]:
    raw = f.raw.get("scopes", [])
    scopes = raw.split() if isinstance(raw, str) else raw
    if not isinstance(scopes, list) or not all(isinstance(s, str) and _SCOPE.match(s) for s in scopes):
        f.add("scopes", "must be a list of scope names (or one space-separated string) without spaces or quotes")
        return ()
    return tuple(scopes)


def _extra_params(f: _Fields) -> tuple[tuple[str, str], ...]:
    raw = f.raw.get("extra_params", {})
    if not isinstance(raw, dict):
        f.add("extra_params", "must be a mapping of token-request parameter to value")
        return ()
    params = []
    for name, value in raw.items():
        where = f"extra_params.{name}"
        if name in RESERVED_TOKEN_PARAMS:
            f.add(where, "is set by the sidecar; use the dedicated field (client_id, scopes, audience, ...)")
            continue
        if not isinstance(value, str | int | bool):
            f.add(where, "must be a string, number or boolean")
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if not f.literal_is_secret(where, text):
            params.append((str(name), text))
    return tuple(params)


def _custom_header(f: _Fields) -> CustomHeaderAuth:
    raw = f.raw.get("headers")
    if not isinstance(raw, list) or not raw:
        f.add("headers", "must be a non-empty list of {name, value}")
        return CustomHeaderAuth()
    headers: list[CustomHeader] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"headers[{index}]"
        if not isinstance(item, dict):
            f.add(where, "must be a mapping with name and value")
            continue
        for key in item:
            if key not in ("name", "value", "prefix"):
                f.add(f"{where}.{key}", "unknown field; allowed: name, prefix, value")
        item_fields = _Fields(f.p, item, prefix=f"{f.prefix}{where}.")
        name = item_fields.header_name("name", required=True)
        value = item_fields.credential("value")
        prefix = item.get("prefix", "")
        if not isinstance(prefix, str) or not _PRINTABLE.match(prefix):
            item_fields.add("prefix", "must be printable text, such as 'Bearer '")
            prefix = ""
        elif item_fields.literal_is_secret("prefix", prefix):
            prefix = ""
        if name is None:
            continue
        if name.lower() in seen:
            f.add(f"{where}.name", f"header {shown(name)} is given twice")
        seen.add(name.lower())
        headers.append(CustomHeader(name=name, value=value, prefix=prefix))
    return CustomHeaderAuth(headers=tuple(headers))


class _Fields:
    """Reads one config mapping, adding a problem (field-named, value-free) for each bad field."""

    def __init__(self, p: Problems, raw: dict[str, Any], prefix: str = "authentication.config.") -> None:
        self.p, self.raw, self.prefix = p, raw, prefix

    def add(self, key: str, message: str) -> None:
        self.p.add(f"{self.prefix}{key}" if key else self.prefix.rstrip("."), message)

    def string(self, key: str) -> str:
        value = self.raw.get(key)
        if value is None:
            self.add(key, "is required")
            return ""
        if not isinstance(value, str) or not value:
            self.add(key, "must be a non-empty string")
            return ""
        return value

    def optional_string(self, key: str) -> str | None:
        if self.raw.get(key) is None:
            return None
        return self.string(key) or None

    def reference(self, key: str) -> str:
        """A field that holds a secret: only a reference is accepted."""
        value = self.raw.get(key)
        if value is None:
            self.add(
                key, "is required (a secret reference: vault://<mount>/<path>#<field>, env://<VAR> or file://<path>)"
            )
            return ""
        if not _is_reference(value):
            self.add(
                key,
                "must be a secret reference (vault://<mount>/<path>#<field>, env://<VAR> or file://<path>), "
                "not a literal value: secrets never go in the config file",
            )
            return ""
        return self._parsed(key, value)

    def credential(self, key: str) -> str:
        """A field that may be a reference or a literal that does not look like a secret."""
        value = self.raw.get(key)
        if value is None:
            self.add(key, "is required (a literal or a secret reference)")
            return ""
        if not isinstance(value, str) or not value:
            self.add(key, "must be a non-empty string")
            return ""
        if _is_reference(value):
            return self._parsed(key, value)
        if self.literal_is_secret(key, value):
            return ""
        if not _PRINTABLE.match(value):
            self.add(key, "must be printable ASCII (no line breaks or control characters)")
            return ""
        return value

    def literal_is_secret(self, key: str, value: str) -> bool:
        from ..secrets import looks_like_secret

        if looks_like_secret(value):
            self.add(
                key,
                "looks like a literal secret; store it in Vault, an environment variable or a file "
                "and write its reference here (vault://..., env://..., file://...)",
            )
            return True
        return False

    def header_name(self, key: str, *, required: bool) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if not isinstance(value, str) or not HEADER_NAME.match(value):
            self.add(key, f"{shown(value)} is not a valid HTTP header name")
            return None
        if value.lower() in RESERVED_HEADERS:
            self.add(key, f"{shown(value)} is set by the sidecar itself and cannot carry credentials")
            return None
        return value

    def _parsed(self, key: str, value: str) -> str:
        from ..secrets import parse_reference

        try:
            parse_reference(value)
        except ValueError as exc:
            self.add(key, str(exc))
            return ""
        return value


def _is_reference(value: Any) -> bool:
    from ..secrets import is_reference

    return is_reference(value)
