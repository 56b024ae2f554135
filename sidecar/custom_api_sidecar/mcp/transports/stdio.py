"""``custom-api-sidecar mcp``: MCP over stdin/stdout, for a client that starts the process
(Claude Desktop, the MCP Inspector). stdout carries only protocol messages: while serving, the SDK
points file descriptor 1 at stderr, and every log line goes to stderr. The process serves until
the client closes stdin, or SIGTERM/SIGINT, then closes the sidecar (the audit stream is flushed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping

from mcp.server.stdio import stdio_server

from ...app import Sidecar
from .._filter import ToolFilter
from .._settings import DEFAULT_MAX_LISTED
from .._tools import describe_exposed
from ..server import build_server

__all__ = ["serve_stdio"]

log = logging.getLogger("custom_api_sidecar.mcp")


async def serve_stdio(
    sidecar: Sidecar,
    tool_filter: ToolFilter,
    context: Mapping[str, str] | None = None,
    max_listed: int = DEFAULT_MAX_LISTED,
) -> None:
    server = build_server(sidecar, tool_filter, context, max_listed)

    async def serve() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        await sidecar.start()
    except BaseException:  # a job store in use, an unusable key: nothing is left half-started
        await sidecar.aclose()
        raise
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(serve(), name="mcp-stdio")
    log.info("MCP server on stdio: %s", describe_exposed(sidecar, tool_filter))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (serving, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await sidecar.aclose()
