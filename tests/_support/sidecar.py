"""Run a real Sidecar gRPC server in-process, on its own event-loop thread,
so synchronous clients in the test thread talk to it over real sockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import socket
import threading
from typing import TYPE_CHECKING, Any

from custom_api_sidecar import Sidecar, SidecarServer, parse_config, parse_listen

if TYPE_CHECKING:
    from custom_api_sidecar.agent_connection_tests import AgentTestSettings
    from custom_api_sidecar.mcp import McpHttpSettings


class ThreadedSidecar:
    def __init__(
        self,
        sidecar: Sidecar,
        socket_path: str,
        tcp: bool = True,
        admin: tuple[str, int] | None = None,
        mcp: McpHttpSettings | None = None,
        agent_tests: AgentTestSettings | None = None,
    ) -> None:
        self.sidecar = sidecar
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        listeners = [parse_listen(f"unix://{socket_path}")]
        if tcp:
            listeners.append(parse_listen("127.0.0.1:0"))
        self.server = SidecarServer(sidecar, listeners, admin=admin, mcp=mcp, agent_tests=agent_tests)
        self.run(self.server.start())
        self.unix_target = f"unix://{socket_path}"
        self.admin_url = f"http://127.0.0.1:{self.server.admin.bound_port}" if self.server.admin else None
        self.tcp_target = self.server.bound[1] if tcp else None
        self.mcp_url = self.server.mcp.url if self.server.mcp else None

    def run(self, coro: Any, timeout: float = 30) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            tasks = self._tasks()
            raise TimeoutError(f"the sidecar's loop did not finish in {timeout} s; its tasks:\n{tasks}") from None

    def _tasks(self) -> str:
        out = io.StringIO()
        for task in asyncio.all_tasks(self.loop):
            task.print_stack(limit=8, file=out)
        return out.getvalue()

    def stop(self, grace: float = 0) -> None:
        self.run(self.server.stop(grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def start_sidecar(
    config_text: str,
    socket_path: str,
    environment: str = "sandbox",
    admin: tuple[str, int] | None = None,
    mcp: McpHttpSettings | None = None,
    agent_tests: AgentTestSettings | None = None,
    **kwargs: Any,
) -> ThreadedSidecar:
    """``policy`` (in ``kwargs``) is what the config is loaded under; default: the environment's.
    ``agent_tests``: TestConnection's settings (default: on, once per API per 30 s)."""
    sidecar = Sidecar(parse_config(config_text, "test.yaml", kwargs.get("policy")), environment, **kwargs)
    return ThreadedSidecar(sidecar, socket_path, admin=admin, mcp=mcp, agent_tests=agent_tests)


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
