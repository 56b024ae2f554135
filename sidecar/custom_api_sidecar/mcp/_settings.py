"""Settings of the Streamable HTTP listener (``serve --mcp-listen``); no SDK import."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._filter import ToolFilter

__all__ = ["McpHttpSettings"]


@dataclass(frozen=True)
class McpHttpSettings:
    host: str  # loopback unless --allow-remote
    port: int  # 0: any free port
    tool_filter: ToolFilter = field(default_factory=ToolFilter)
    path: str = "/mcp"
    # Trusted context every tool call carries (--mcp-context): the operator's, never a client's.
    context: dict[str, str] = field(default_factory=dict)
