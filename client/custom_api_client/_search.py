"""``conv.api.search(text)`` results, and the request ``conv.api.call(text, ...)`` sends.

A result's ``tool`` is the operation's tool definition in MCP form, exactly as
``conv.api.tools("mcp")`` gives it (name, title, description, inputSchema, annotations);
``tool_definition("openai" | "anthropic")`` reshapes it as ``conv.api.tools(format)`` would.
Extracting the arguments from the user's words is the agent's model's job: hand it the
result's tool, let it fill the arguments, then call ``conv.api[result.api][result.operation]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._request import build_invoke_request
from .proto import sidecar_pb2 as pb

__all__ = ["SearchResult", "build_call_request", "search_request"]


@dataclass(frozen=True)
class SearchResult:
    api: str
    operation: str
    score: float  # BM25: comparable within one answer, not across queries
    description: str
    tool: dict[str, Any]  # MCP form, as conv.api.tools("mcp") has it

    @property
    def tool_name(self) -> str:
        """The operation's tool name (``api__operation``), as in ``conv.api.tools()``."""
        return str(self.tool["name"])

    def tool_definition(self, format: str = "openai") -> dict[str, Any]:
        """The tool in ``openai``, ``anthropic`` or ``mcp`` form, as ``conv.api.tools(format)`` has it."""
        name, description, schema = self.tool["name"], self.tool["description"], self.tool["inputSchema"]
        if format == "mcp":
            return dict(self.tool)
        if format == "openai":
            return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}
        if format == "anthropic":
            return {"name": name, "description": description, "input_schema": schema}
        raise ValueError(f"unknown tool format {format!r}; use one of openai, anthropic, mcp")


def search_request(text: str, limit: int) -> pb.SearchRequest:
    return pb.SearchRequest(query=text, limit=limit)


def results(response: pb.SearchResponse) -> list[SearchResult]:
    return [SearchResult(r.api, r.operation, r.score, r.description, json.loads(r.tool_json)) for r in response.results]


def build_call_request(text: str, kwargs: dict[str, Any]) -> pb.CallRequest:
    """Keyword arguments only: which operation is called is not known here, so neither is the
    order of its path arguments."""
    return pb.CallRequest(text=text, invoke=build_invoke_request("", "", (), kwargs))
