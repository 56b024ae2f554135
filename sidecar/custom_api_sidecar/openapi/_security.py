"""Security schemes -> an ``authentication`` skeleton whose secrets are references
for a person to point at the real secret store (nothing secret is ever in a spec).

One API has one way to authenticate, so the first security requirement the
sidecar can satisfy wins: the global ``security`` list, else the operations'
requirements, most used first. The rest are listed in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from .._text import shown
from ._values import mapping


def secret_reference(api: str, field: str) -> str:
    return f"vault://secret/{{environment}}/{api}#{field}"


def authentication_skeleton(
    schemes: dict[str, Any], global_requirements: Any, operation_requirements: Iterable[Any], api: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """``(authentication entry or None, notes)``. ``schemes`` are already dereferenced."""
    notes: list[str] = []
    if isinstance(global_requirements, list):
        candidates = [r for r in global_requirements if isinstance(r, dict)]
    else:
        counts: Counter[tuple[str, ...]] = Counter()
        first: dict[tuple[str, ...], dict[str, Any]] = {}
        for requirements in operation_requirements:
            for requirement in requirements if isinstance(requirements, list) else ():
                if isinstance(requirement, dict):
                    key = tuple(sorted(requirement))
                    counts[key] += 1
                    first.setdefault(key, requirement)
        candidates = [first[key] for key, _ in counts.most_common()]
    chosen = None
    for requirement in candidates:
        if not requirement:
            continue  # {} means "no authentication" is one option; prefer a real one if offered
        if len(requirement) > 1:
            notes.append(f"security requirement {' + '.join(sorted(requirement))} needs several schemes at once")
            continue
        ((name, scopes),) = requirement.items()
        scheme = schemes.get(name)
        if not isinstance(scheme, dict):
            notes.append(f"security requirement {shown(name)} names no defined security scheme")
            continue
        entry, note = _scheme(scheme, scopes if isinstance(scopes, list) else [], api)
        if note:
            notes.append(f"security scheme {shown(name)}: {note}")
        if entry is not None and chosen is None:
            chosen = entry
            notes.append(f"authentication from security scheme {shown(name)}: fill in the secret references")
    return chosen, notes


def _scheme(scheme: dict[str, Any], scopes: list[Any], api: str) -> tuple[dict[str, Any] | None, str]:
    kind = scheme.get("type")
    if kind == "apiKey":
        where, name = scheme.get("in"), scheme.get("name")
        if not isinstance(name, str) or not name:
            return None, "apiKey without a name"
        key = secret_reference(api, "api_key")
        if where == "header":
            return {"type": "api_key", "config": {"header_name": name, "key": key}}, ""
        if where == "query":
            return {"type": "api_key", "config": {"param_name": name, "key": key}}, ""
        return None, f"apiKey in {shown(where)} is not supported (header or query only)"
    if kind == "basic" or (kind == "http" and str(scheme.get("scheme", "")).lower() == "basic"):
        return {
            "type": "basic_auth",
            "config": {"username": secret_reference(api, "username"), "password": secret_reference(api, "password")},
        }, ""
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return {"type": "bearer_token", "config": {"token": secret_reference(api, "token")}}, ""
    if kind == "http":
        return None, f"http scheme {shown(scheme.get('scheme'))} is not supported (bearer or basic only)"
    if kind == "oauth2":
        return _oauth2(scheme, scopes, api)
    return None, f"type {shown(kind)} is not supported"


def _oauth2(scheme: dict[str, Any], scopes: list[Any], api: str) -> tuple[dict[str, Any] | None, str]:
    flows = mapping(scheme.get("flows"))
    flow = flows.get("clientCredentials")
    if flow is None and scheme.get("flow") == "application":  # Swagger 2 name of the same flow
        flow = scheme
    if isinstance(flow, dict) and isinstance(flow.get("tokenUrl"), str):
        wanted = [s for s in scopes if isinstance(s, str)] or sorted(flow.get("scopes") or {})
        config: dict[str, Any] = {
            "token_url": flow["tokenUrl"],
            "client_id": secret_reference(api, "client_id"),
            "client_secret": secret_reference(api, "client_secret"),
        }
        if wanted:
            config["scopes"] = wanted
        return {"type": "oauth2", "config": config}, ""
    # Interactive flows (authorization code, implicit, password) need a person; the sidecar
    # sends an access token obtained elsewhere.
    return (
        {"type": "bearer_token", "config": {"token": secret_reference(api, "access_token")}},
        "no client-credentials flow; imported as a bearer access token obtained elsewhere",
    )
