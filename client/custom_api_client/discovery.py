"""ListApis / DescribeApi messages as plain dicts an agent (or an LLM) can read."""

from __future__ import annotations

import json
from typing import Any


def _schema(text: str) -> Any:
    return json.loads(text) if text else None


def operation_dict(op: Any) -> dict[str, Any]:
    """``from_context`` (argument -> context key) is there only for an operation with arguments bound
    to the conversation context; such a parameter has its ``from_context`` key too. ``result``
    (select, max_chars) is there only for an operation with a ``result:`` setting."""
    out = {
        "name": op.name,
        "description": op.description,
        "method": op.method,
        "path": op.path,
        "parameters": [_parameter_dict(p) for p in op.parameters],
        "input_schema": _schema(op.input_schema_json),
        "request_body_schema": _schema(op.request_body_schema_json),
        "output_schema": _schema(op.output_schema_json),
        "background": op.background,
        # the operation's response cache ({ttl_s, scope}), or None
        "cache": {"ttl_s": op.cache.ttl_s, "scope": op.cache.scope} if op.HasField("cache") else None,
    }
    if op.from_context:
        out["from_context"] = dict(sorted(op.from_context.items()))
    if op.HasField("result"):
        out["result"] = {"select": op.result.select or None, "max_chars": op.result.max_chars}
    return out


def _parameter_dict(p: Any) -> dict[str, Any]:
    out = {"name": p.name, "in": p.location, "type": p.type, "required": p.required, "description": p.description}
    if p.from_context:
        out["from_context"] = p.from_context
    return out


def api_dict(api: Any) -> dict[str, Any]:
    """A ``DescribeApi`` answer as the dict ``conv.api.<api>.schema()`` returns."""
    out = {
        "name": api.name,
        "description": api.description,
        "environment": api.environment,
        "operations": [operation_dict(op) for op in api.operations],
    }
    if api.display_name:
        out["display_name"] = api.display_name
    if api.informational_json:  # seed 004's id, user_id, metadata: for people, never used for calls
        out["informational"] = json.loads(api.informational_json)
    return out


def check_result_dict(result: Any) -> dict[str, Any]:
    """One API's TestConnection result as a plain dict. ``reused``: these are the checks of an
    earlier run (the sidecar checks an API at most once per window); ``next_run_in_s``: when a new
    run would happen; ``checked_at``: when these checks ran (epoch seconds)."""
    return {
        "api": result.api,
        "base_url": result.base_url,
        "ok": result.ok,
        "summary": result.summary,
        "checks": [
            {"name": c.name, "status": c.status, "detail": c.detail, "elapsed_ms": round(c.elapsed_seconds * 1000, 1)}
            for c in result.checks
        ],
        "checked_at": result.checked_at,
        "reused": result.reused,
        "next_run_in_s": round(result.next_run_in_seconds, 1),
    }
