"""The sidecar's operations as an MCP (Model Context Protocol) server: one tool per operation,
each call through the same Invoke pipeline as a gRPC call.

    _filter.py            which APIs and operations are exposed (--api, --include, --exclude)
    _tools.py             the exposed tools, shaped by custom_api_client.tools (as
                          `custom-api-sidecar tools --format mcp` prints them), and the
                          InvokeRequest a tool call becomes
    _results.py           an InvokeResponse or a SidecarError as a tools/call result
    _search.py            search_operations, and the tools/list of a large catalogue (--max-listed)
    server.py             the MCP SDK's low-level server answering tools/list and tools/call
    transports/stdio.py   `custom-api-sidecar mcp`: one client on stdin/stdout
    transports/http.py    Streamable HTTP on a loopback listener of `serve` (--mcp-listen)
    _cli.py               the flags of both
    _sdk.py               whether the SDK (the [mcp] extra) is installed, and what to install if not

Only server.py and transports/ import the SDK (and with it starlette and uvicorn): a sidecar
that serves no MCP never loads them. This package's top level imports none of them.
"""

from __future__ import annotations

from ._filter import ToolFilter
from ._settings import McpHttpSettings

__all__ = ["McpHttpSettings", "ToolFilter"]
