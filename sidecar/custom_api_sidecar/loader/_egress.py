"""The egress settings of an API (opt-ins, proxy, TLS, response headers) and the checks that
need the whole API: plain http and non-public literal addresses are refused at load, naming
the API and the setting that would allow them. Resolved names are checked at connect time."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from .._text import shown
from ..config import ApiConfig, OAuth2Auth, ResponseHeaders, TlsConfig
from ..config._model import HEADER_NAME
from ..config._problems import Problems
from ..egress import EgressRefused, literal_address, policy_for

# Key -> the line the config reference shows for it (tools/docs_reference.py fails on a key without one).
EGRESS_CONNECTION_KEYS = {
    "allow_http": "Allow plain `http://` base URLs and token URLs (default false; needs the operator policy's "
    "`allow_http` opt-in).",
    "private_network": "Allow any non-public address but cloud metadata (default false: public addresses only; "
    "needs the operator policy's `private_network` opt-in).",
    "ip_allowlist": "CIDR networks (`['10.20.0.0/16']`) this API may reach besides public addresses (needs the "
    "operator policy's `ip_allowlist` opt-in).",
    "proxy": "`direct`, or a forward proxy URL the operator allows (default: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` "
    "when set).",
    "tls": "`{client_cert, client_key, ca_bundle}`: a client certificate (mTLS) and the CAs this API trusts.",
}
TLS_KEYS = {
    "client_cert": "Secret reference to the PEM client certificate (give client_key too).",
    "client_key": "Secret reference to the PEM private key of client_cert.",
    "ca_bundle": "CAs to trust for this API instead of the system's: an absolute path (in a directory the operator "
    "policy allows) or a secret reference to PEM text.",
}
RESPONSE_HEADERS_KEYS = {
    "drop": "Response headers to remove besides the default ones (Set-Cookie, Set-Cookie2).",
    "keep": "Default-removed headers to pass on to the agent.",
}
_REFERENCE_SCHEMES = ("vault://", "env://", "file://")


def parse_connection_egress(p: Problems, raw: dict[str, Any], seed_ip_allowlist: Any) -> dict[str, Any]:
    """Connection fields for the egress opt-ins. ``seed_ip_allowlist`` is seed 004's
    ``security.ip_allowlist``, the same setting spelled there."""
    out: dict[str, Any] = {}
    for key in ("allow_http", "private_network"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            p.add(f"connection.{key}", f"must be true or false, not {shown(value)}")
            value = False
        out[key] = value
    allowlist = raw.get("ip_allowlist")
    if seed_ip_allowlist is not None:
        if allowlist is not None and allowlist != seed_ip_allowlist:
            p.add("security.ip_allowlist", "conflicts with connection.ip_allowlist; give one of them")
        allowlist = seed_ip_allowlist if allowlist is None else allowlist
        where = "security.ip_allowlist" if "ip_allowlist" not in raw else "connection.ip_allowlist"
    else:
        where = "connection.ip_allowlist"
    out["ip_allowlist"] = _networks(p, where, allowlist)
    out["proxy"] = _proxy(p, raw.get("proxy"))
    out["tls"] = _tls(p, raw.get("tls"))
    return out


def _networks(p: Problems, where: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        p.add(where, "must be a non-empty list of addresses or CIDR networks, like ['10.20.0.0/16']")
        return ()
    networks = []
    for index, item in enumerate(raw):
        try:
            networks.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            p.add(f"{where}[{index}]", f"{shown(item)} is not an IP address or CIDR network")
    return tuple(networks)


def _proxy(p: Problems, raw: Any) -> str | None:
    if raw is None or raw == "direct":
        return raw
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        p.add("connection.proxy", "must be a forward proxy URL like http://proxy.internal:3128, or 'direct'")
        return None
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        p.add("connection.proxy", "must be scheme://host:port only (no credentials, path or query)")
        return None
    return raw


def _tls(p: Problems, raw: Any) -> TlsConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add("connection.tls", "must be a mapping with client_cert, client_key and/or ca_bundle")
        return None
    for key in raw:
        if key not in TLS_KEYS:
            p.add(f"connection.tls.{key}", f"unknown field; allowed: {', '.join(sorted(TLS_KEYS))}")
    values: dict[str, str] = {}
    for key in ("client_cert", "client_key"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.startswith(_REFERENCE_SCHEMES):
            p.add(f"connection.tls.{key}", "must be a secret reference to PEM text (vault://, env:// or file://)")
            continue
        values[key] = value
    if ("client_cert" in raw) != ("client_key" in raw):
        p.add("connection.tls", "give client_cert and client_key together")
    bundle = raw.get("ca_bundle")
    if bundle is not None:
        if not isinstance(bundle, str) or not (bundle.startswith("/") or bundle.startswith(_REFERENCE_SCHEMES)):
            p.add("connection.tls.ca_bundle", "must be an absolute file path or a secret reference to PEM text")
        else:
            values["ca_bundle"] = bundle
    return TlsConfig(**values)


def parse_response_headers(p: Problems, raw: Any) -> ResponseHeaders:
    if raw is None:
        return ResponseHeaders()
    if not isinstance(raw, dict) or set(raw) - set(RESPONSE_HEADERS_KEYS):
        p.add("security.response_headers", "must be a mapping with drop and/or keep lists of header names")
        return ResponseHeaders()
    lists: dict[str, tuple[str, ...]] = {}
    for key in RESPONSE_HEADERS_KEYS:
        names = raw.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and HEADER_NAME.match(n) for n in names):
            p.add(f"security.response_headers.{key}", "must be a list of header names")
            names = []
        lists[key] = tuple(n.lower() for n in names)
    return ResponseHeaders(**lists)


def check_reachable(p: Problems, api: ApiConfig) -> None:
    """Plain http base URLs and literal non-public addresses, refused unless the API opted in
    (a plain-http token URL is refused where authentication is parsed)."""
    policy = policy_for(api)
    urls = [(f"connection.base_urls.{env}", url) for env, url in api.connection.base_urls.items()]
    if isinstance(api.authentication, OAuth2Auth):
        urls.append(("authentication.config.token_url", api.authentication.token_url))
    reported: set[str] = set()
    for field, url in urls:
        parts = urlsplit(url)
        plain = parts.scheme == "http" and field.startswith("connection")
        if plain and not api.connection.allow_http and url not in reported:
            reported.add(url)
            p.add(
                field,
                "must be https: credentials and data would cross the network in clear text "
                "(set connection.allow_http: true to allow plain http for this API on purpose)",
            )
        address = literal_address(parts.hostname or "")
        if address is not None:
            refused: EgressRefused | None = policy.refusal(parts.hostname or "", address)
            if refused is not None and str(refused) not in reported:
                reported.add(str(refused))
                p.add(field, str(refused))


def may_reach_private(api: ApiConfig) -> str:
    """For ``validate``: what the API may reach beyond public addresses."""
    if api.connection.ip_allowlist:
        return f"private networks {', '.join(api.connection.ip_allowlist)}"
    if api.connection.private_network:
        return "any private address but cloud metadata"
    return "public addresses only"
