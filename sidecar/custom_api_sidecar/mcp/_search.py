"""``search_operations``, and which tools ``tools/list`` gives when the catalogue is large.

An LLM cannot use 1,200 tool definitions, and a client that lists them all shows it a wall of
tools. So when the exposed operations number more than ``max_listed`` (default 50: ``--max-listed``
for ``mcp``, ``--mcp-max-listed`` for ``serve``, ``$CUSTOM_API_SIDECAR_MCP_MAX_LISTED``),
``tools/list`` gives ``search_operations`` plus the ``max_listed`` most-used operation tools (and
``get_background_job`` when jobs are kept). Every exposed tool stays callable by name: the model
searches, reads a match's name and input schema, and calls it.

"Most used": tools/call requests for each tool since this process started (counted whatever
their outcome; a call to a tool not exposed is not counted), most first, ties in catalogue order
(config order of APIs, then of operations). With no calls yet, the list is the catalogue's first
``max_listed``. Counts are per process and survive config reloads (by tool name). A client sees a
new order when it lists again; no list_changed is sent for a change of order.

``search_operations`` searches the exposed operations only (a filter hides a tool from search as
from the list), with the sidecar's own search (custom_api_sidecar.search): each match has its tool
name, description, input schema, api, operation and score. Up to the threshold it is not listed
(every tool is), but it answers all the same.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from custom_api_client.proto import sidecar_pb2 as pb

from ..errors import SidecarError
from ..search import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_CHARS
from ._settings import DEFAULT_MAX_LISTED

__all__ = ["DEFAULT_MAX_LISTED", "SEARCH_TOOL", "SEARCH_TOOL_DEFINITION", "ToolUsage", "search_tool_result"]

SEARCH_TOOL = "search_operations"
SEARCH_TOOL_DEFINITION: dict[str, Any] = {
    "name": SEARCH_TOOL,
    "description": (
        'Find the tools (HTTP API operations) that do what you need, described in words, e.g. "post a '
        'message to a channel" or "find a customer by email". Answers the best matches first, each '
        "with its tool name and input schema: then call that tool by its name. Every tool can be "
        "called by name, listed or not."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "maxLength": MAX_QUERY_CHARS, "description": "what you want to do, in words"},
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
                "description": "at most this many matches",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    "annotations": {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
}


class ToolUsage:
    """tools/call requests per tool name since start (this process)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def called(self, tool: str) -> None:
        self._counts[tool] += 1

    def most_used(self, definitions: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        """``count`` of ``definitions``: most called first, ties in their (catalogue) order."""
        order = sorted(range(len(definitions)), key=lambda i: (-self._counts[definitions[i]["name"]], i))
        return [definitions[i] for i in order[:count]]


def search_tool_result(arguments: Mapping[str, Any], search: Callable[[str, int], pb.SearchResponse]) -> dict[str, Any]:
    """``search(query, limit)`` is the sidecar's search over the exposed operations."""
    query, limit = arguments.get("query"), arguments.get("limit", DEFAULT_LIMIT)
    if not isinstance(query, str):
        raise SidecarError(pb.ErrorCode.INVALID_ARGUMENT, "query must be a string", field="query")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT, f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit"
        )
    unknown = sorted(set(arguments) - {"query", "limit"})
    if unknown:
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT, f"{SEARCH_TOOL} takes query and limit only", field=unknown[0][:64]
        )
    answer = search(query, limit)
    matches = []
    for r in answer.results:
        tool = json.loads(r.tool_json)
        matches.append(
            {
                "tool": r.tool_name,
                "description": r.description,
                "inputSchema": tool["inputSchema"],
                "api": r.api,
                "operation": r.operation,
                "score": r.score,
            }
        )
    structured = {"matches": matches}
    return {"content": [{"type": "text", "text": json.dumps(structured)}], "structuredContent": structured}
