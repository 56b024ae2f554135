"""Where call records and ``conv.log`` entries go: the human access line and the audit stream.

``AccessLog`` writes today's text line to the ``custom_api_sidecar.access`` logger
(``--log-format text``, for local use). ``AuditLog`` writes one JSON object per line (calls,
``conv.log`` entries, config loads and reloads: the documented field sets) to stdout or a file:
the record is serialized on the call path (a few microseconds) into a memory buffer, and a background task writes the
buffer out at most every ``flush_interval`` seconds, in a worker thread, so a slow disk or a
full stdout pipe never stalls a call. Nothing is dropped: ``aclose`` writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
import time
from typing import IO, Any

from .config import ConfigChanges
from .pipeline._call import Call
from .pipeline.record import CallRecord

access_log = logging.getLogger("custom_api_sidecar.access")
log = logging.getLogger("custom_api_sidecar.audit")
MAX_LOG_MESSAGE = 4096  # characters of a conv.log message kept in the audit stream


class AccessLog:
    """``salesforce.get_contact GET https://…/contacts/123 -> 200 12.3ms trace=<id>``."""

    def started(self, call: Call) -> None:
        pass

    def finished(self, record: CallRecord) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        access_log.info(
            "%s.%s %s %s -> %s %.1fms%s",
            record.api,
            record.operation,
            record.method or "-",
            record.url or "-",
            record.status if record.status is not None else record.error,
            record.elapsed * 1000,
            f" trace={record.trace_id}" if record.recorded else "",  # finds the call in Jaeger
        )


def log_record(
    level: str, message: str, conversation_id: str, agent_id: str, trace_id: str, span_id: str
) -> dict[str, Any]:
    """The audit record of one ``conv.log`` entry (README, "Audit records")."""
    return {
        "type": "log",
        "time": _now(),
        "conversation_id": conversation_id or None,
        "agent_id": agent_id or None,
        "level": level,
        "message": message[:MAX_LOG_MESSAGE],
        "trace_id": trace_id or None,
        "span_id": span_id or None,
    }


def config_record(
    event: str, source: str, changes: ConfigChanges | None = None, problems: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The audit record of a config load (``loaded``), an applied reload (``applied``, with what
    changed: APIs, egress, secret references by their text) or a rejected one (``rejected``, with
    the problems). README, "Audit records"."""
    record: dict[str, Any] = {"type": "config", "time": _now(), "event": event, "source": source}
    if changes is not None:
        record.update(changes.as_dict())
    if problems:
        record["problems"] = list(problems)
    return record


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AuditLog:
    """A ``CallObserver`` and a ``Service``: JSON lines to ``destination`` ("-" for stdout, else a path)."""

    def __init__(self, destination: str = "-", flush_interval: float = 0.2) -> None:
        self.destination = destination
        self._interval = flush_interval
        self._pending: list[str] = []
        self._lock = threading.Lock()  # write() may come from another thread (the CLI's test run)
        self._out: IO[str] | None = None
        self._task: asyncio.Task[None] | None = None

    def started(self, call: Call) -> None:
        pass

    def finished(self, record: CallRecord) -> None:
        self.write(record.audit())

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._pending.append(line)

    async def start(self) -> None:
        if self.destination == "-":
            self._out = sys.stdout
        else:
            fd = os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._out = os.fdopen(fd, "a", encoding="utf-8")
        self._task = asyncio.create_task(self._flusher())

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._pending:
                try:
                    await asyncio.to_thread(self.flush)
                except OSError:
                    log.warning("audit records could not be written to %s; retrying", self.destination, exc_info=True)

    def flush(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
        if lines and self._out is not None:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()
        if self._out is not None and self._out is not sys.stdout:
            self._out.close()
