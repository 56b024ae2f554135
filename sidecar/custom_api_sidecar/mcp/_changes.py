"""``notifications/tools/list_changed`` after a config reload changes the exposed tools.

Clients cache the tool list; without the notification they would offer the model removed tools
and miss new ones until they reconnect. It goes to every session that has listed the tools (one
that never listed them has nothing to refresh), over HTTP on the session's standing GET stream;
a session that has gone away is dropped. A reload that leaves the exposed tools as they were (a
new base URL, a changed limit) announces nothing.

Handshake-era sessions only (protocol versions up to 2025-11-25: today's clients). A 2026-07-28
client would hear of changes on a ``subscriptions/listen`` stream, which this server does not
serve: its answers are single JSON responses, not streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["ToolListChanges"]

log = logging.getLogger("custom_api_sidecar.mcp")
SEND_TIMEOUT_S = 2.0  # a client that stopped reading must not hold up the others


class ToolListChanges:
    def __init__(self, current: Callable[[], list[dict[str, Any]]]) -> None:
        self._current = current  # the exposed tool definitions now
        self._announced = current()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._tasks: set[asyncio.Task[None]] = set()

    def listed(self, session: Any) -> None:
        """A session listed the tools: it hears of the next change. Its connection is kept (weakly,
        so a closed session is forgotten), not the per-request ``ServerSession`` the handler got;
        the SDK has no public accessor for it (tests/test_mcp.py fails if that changes)."""
        connection = getattr(session, "_connection", None)
        if connection is not None:
            self._connections.add(connection)

    def config_changed(self) -> None:
        """Called by the sidecar after a reload swapped the config in (in its event loop)."""
        task = asyncio.get_running_loop().create_task(self.announce(), name="mcp-tools-changed")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def announce(self) -> None:
        tools = self._current()
        if tools == self._announced:
            return
        self._announced = tools
        connections = list(self._connections)
        await asyncio.gather(*(self._notify(connection) for connection in connections))
        log.info("mcp: the exposed tools changed (%d now); told %d session(s)", len(tools), len(connections))

    async def _notify(self, connection: Any) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await connection.send_tool_list_changed()
        except Exception as exc:  # closed or stuck: it will list the tools again when it reconnects
            log.debug("mcp: list_changed not delivered (%s)", type(exc).__name__)
            with contextlib.suppress(KeyError):
                self._connections.remove(connection)
