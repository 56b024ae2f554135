"""LLM tool definitions from DescribeApi answers: OpenAI, Anthropic and MCP formats.

One implementation for the client (``conv.api.tools()``) and the sidecar CLI
(``custom-api-sidecar tools``). Input is what ``api_dict`` returns, which never
holds a base URL, an auth setting or a secret, so neither can a tool definition.

Tool names are ``<api>__<operation>``, or just ``<api>`` for an operation named like its API
(a seed-003 single-request tool such as ``create_callback_lead``): valid everywhere (``^[a-zA-Z0-9_-]{1,64}$``),
deterministic, unique; a name over 64 characters keeps its start and ends in a
hash of the whole, so it stays unique and stable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

FORMATS = ("openai", "anthropic", "mcp")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MAX_NAME = 64
_READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


def tool_definitions(apis: Iterable[dict[str, Any]], format: str = "openai") -> list[dict[str, Any]]:
    """Tool definitions for every operation of ``apis`` (``api_dict`` shapes), in order."""
    if format not in FORMATS:
        raise ValueError(f"unknown tool format {format!r}; use one of {', '.join(FORMATS)}")
    formatter = _FORMATTERS[format]
    return [formatter(name, _description(api, op), _input_schema(op), op) for name, api, op in named_operations(apis)]


def named_operations(apis: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(tool name, api, operation)`` for every operation of ``apis``, in order: the names
    ``tool_definitions`` gives, for a server that maps a called tool back to its operation."""
    named: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    taken: set[str] = set()
    for api in apis:
        for op in api["operations"]:
            named.append((_unique(tool_name(api["name"], op["name"]), taken), api, op))
    return named


def tool_name(api: str, operation: str) -> str:
    """The LLM tool name of an operation: ``api__operation`` (``api`` when they are the same), only
    characters every LLM API accepts, shortened with a digest when too long."""
    full = re.sub(r"[^a-zA-Z0-9_-]", "_", api if operation == api else f"{api}__{operation}")
    if len(full) <= _MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: _MAX_NAME - 9]}_{digest}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, counter = name, 1
    while candidate in taken:  # only reachable through a hash collision of truncated names
        counter += 1
        suffix = f"_{counter}"
        candidate = name[: _MAX_NAME - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _description(api: dict[str, Any], op: dict[str, Any]) -> str:
    """The operation's description: for an LLM, the rule for when to call the tool."""
    text = (op.get("description") or "").strip()
    if not text:
        text = f"Calls {op['method']} {op['path']} of the {api['name']} API."
    if api.get("description"):
        text += f"\n\n(API {api['name']}: {api['description'].strip()})"
    return text


def _input_schema(op: dict[str, Any]) -> dict[str, Any]:
    schema = dict(op.get("input_schema") or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return schema


def _openai(name: str, description: str, schema: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


def _anthropic(name: str, description: str, schema: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": description, "input_schema": schema}


def _mcp(name: str, description: str, schema: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": name,
        "title": f"{op['name']} ({op['method']} {op['path']})",
        "description": description,
        "inputSchema": schema,
        "annotations": {
            "readOnlyHint": op["method"] in _READ_ONLY_METHODS,
            "idempotentHint": op["method"] in _IDEMPOTENT_METHODS,
            "openWorldHint": True,
        },
    }
    output = op.get("output_schema")
    # MCP output schemas describe objects only; a background operation answers with its job instead,
    # and one with a result: setting with its shaped result, which the response schema does not describe
    if (
        isinstance(output, dict)
        and output.get("type") == "object"
        and not op.get("background")
        and not op.get("result")
    ):
        tool["outputSchema"] = output
    return tool


_FORMATTERS = {"openai": _openai, "anthropic": _anthropic, "mcp": _mcp}
