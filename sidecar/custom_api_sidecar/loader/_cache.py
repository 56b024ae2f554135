"""An endpoint's ``cache: {ttl_s, scope}`` (an imported operation takes it through ``_amend``):
checked here, served by ``custom_api_sidecar.cache``.

Only GET and HEAD answers are cached: they are the methods that do not change anything, so
answering a repeat from memory changes nothing either. ``cache`` on any other method is a load
error naming the field."""

from __future__ import annotations

import math
from typing import Any

from .._text import shown
from ..config._model import CACHE_SCOPES, CACHEABLE_METHODS, MAX_CACHE_TTL_S, CacheSetting
from ..config._problems import Problems

CACHE_KEYS = {
    "ttl_s": "Seconds an answer is reused (above 0, at most 86400).",
    "scope": "api: shared by every caller with the same credentials; conversation: only within one conversation.",
}


def parse_cache(p: Problems, field: str, raw: Any, method: str | None) -> CacheSetting | None:
    """The setting, or None (absent, or after a problem reported at ``field``)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add(field, f"must be a mapping {{ttl_s, scope}}, not {type(raw).__name__}")
        return None
    ok = True
    for key in raw:
        if key not in CACHE_KEYS:
            p.add(f"{field}.{key}", f"unknown field; allowed: {', '.join(sorted(CACHE_KEYS))}")
            ok = False
    ttl = raw.get("ttl_s", CacheSetting.ttl_s)
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int | float)
        or not math.isfinite(ttl)
        or not 0 < ttl <= MAX_CACHE_TTL_S
    ):
        p.add(f"{field}.ttl_s", f"must be seconds above 0 and at most {MAX_CACHE_TTL_S:g}, not {shown(ttl)}")
        ok = False
    scope = raw.get("scope", CacheSetting.scope)
    if scope not in CACHE_SCOPES:
        p.add(f"{field}.scope", f"{shown(scope)} is not one of {', '.join(CACHE_SCOPES)}")
        ok = False
    if method is not None and method not in CACHEABLE_METHODS:
        p.add(field, f"only GET and HEAD answers can be cached, and this operation is {method}")
        ok = False
    return CacheSetting(ttl_s=float(ttl), scope=str(scope)) if ok else None
