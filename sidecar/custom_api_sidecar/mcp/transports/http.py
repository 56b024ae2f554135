"""Streamable HTTP on a listener of the running sidecar (``serve --mcp-listen 127.0.0.1:PORT``).

Off by default, and loopback unless ``--allow-remote`` (as the admin listener): anyone who can
reach it can call the exposed tools, with the sidecar's credentials. On a loopback address the
SDK's DNS-rebinding protection accepts only loopback Host and Origin headers, so a web page the
user visits cannot call the tools through the browser.

The SDK's Starlette app runs on uvicorn inside the sidecar's own event loop, beside gRPC, on a
socket bound here (so a port in use is a clear ListenError, not uvicorn's exit). The sidecar
owns SIGTERM: uvicorn installs no signal handler, and stops when the sidecar drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import Iterator

import uvicorn

from ...app import Sidecar
from .._settings import McpHttpSettings
from .._tools import describe_exposed
from ..server import build_server

__all__ = ["McpHttpListener"]


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the sidecar's serve() handles SIGTERM/SIGINT and stops every listener in order


class McpHttpListener:
    def __init__(self, sidecar: Sidecar, settings: McpHttpSettings) -> None:
        self._sidecar = sidecar
        self.settings = settings
        self.bound_port = 0
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    def describe(self) -> str:
        """``Streamable HTTP on http://127.0.0.1:8765/mcp: 3 tools (apis crm)``."""
        return f"Streamable HTTP on {self.url}: {describe_exposed(self._sidecar, self.settings.tool_filter)}"

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.bound_port}{self.settings.path}"

    async def start(self) -> None:
        """Bind, then serve in the background; OSError if the address cannot be listened on."""
        settings = self.settings
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        sock = socket.create_server((settings.host, settings.port), family=family)
        sock.setblocking(False)
        # Accepted sockets inherit it: without it, asyncio's loop (not uvloop) answered each
        # request ~40 ms late (Nagle's algorithm against the client's delayed ACK), measured.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.bound_port = sock.getsockname()[1]
        app = build_server(
            self._sidecar, settings.tool_filter, settings.context, settings.max_listed
        ).streamable_http_app(
            streamable_http_path=settings.path,
            json_response=True,  # one JSON answer per POST: no SSE stream to hold open for a tool call
            host=settings.host,  # loopback hosts get the SDK's DNS-rebinding protection
        )
        _quiet("uvicorn", "mcp")
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_config=None,  # leave the sidecar's logging as it is
            access_log=False,
            server_header=False,
        )
        self._server = server = _EmbeddedUvicorn(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="mcp-http")
        while not server.started:
            if self._task.done():  # the app's startup failed; uvicorn says why in the log
                sock.close()
                self._task.result()
                raise OSError("the MCP listener stopped while starting")
            await asyncio.sleep(0.01)

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop accepting; requests in flight get ``grace`` seconds (at least 1) to finish, then
        open streams (a client's standing GET stream) are cancelled."""
        if self._server is None or self._task is None:
            return
        self._server.config.timeout_graceful_shutdown = max(1, math.ceil(grace))
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _quiet(*names: str) -> None:
    """uvicorn and the SDK log every start and session at INFO: keep them to warnings, unless
    the operator set their levels or asked for DEBUG."""
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    for name in names:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET and not debug:
            logger.setLevel(logging.WARNING)
