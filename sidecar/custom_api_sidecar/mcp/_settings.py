"""Settings of the Streamable HTTP listener (``serve --mcp-listen``); no SDK import."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._filter import ToolFilter

DEFAULT_MAX_LISTED = 50  # as mcp._search has it (that module imports nothing of the SDK either)

__all__ = ["McpHttpSettings"]


@dataclass(frozen=True)
class McpHttpSettings:
    host: str  # loopback unless --allow-remote
    port: int  # 0: any free port
    tool_filter: ToolFilter = field(default_factory=ToolFilter)
    path: str = "/mcp"
    # Trusted context every tool call carries (--mcp-context): the operator's, never a client's.
    context: dict[str, str] = field(default_factory=dict)
    max_listed: int = DEFAULT_MAX_LISTED  # past it, tools/list gives search_operations + the most used
