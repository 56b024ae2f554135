"""Where call records and ``conv.log`` entries go: the human access line and the audit stream.

``AccessLog`` writes today's text line to the ``custom_api_sidecar.access`` logger
(``--log-format text``, for local use). ``AuditLog`` writes one JSON object per line (calls,
``conv.log`` entries, config loads and reloads: the documented field sets) to stdout, a file or a
FIFO: the record is serialized on the call path (a few microseconds) into a bounded memory buffer
that a writer thread writes out (``audit_stream``), so a slow disk, a full stdout pipe or a FIFO
nobody reads never stalls a call. Past the buffer's byte budget the oldest records are dropped and
counted (``custom_api_sidecar.audit.dropped``); ``aclose`` writes what is left, within its timeout.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from opentelemetry import metrics

from .audit_stream import DEFAULT_MAX_BUFFER_BYTES, AuditStream
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
    """A ``CallObserver`` and a ``Service``: JSON lines to ``destination`` ("-" for stdout, else a path,
    which may be a FIFO). ``max_buffer_bytes``: what may wait for a slow sink before the oldest records
    are dropped; ``close_timeout``: how long ``aclose`` waits for the sink; ``meter_provider`` gets the
    dropped-records counter (default: the global one)."""

    def __init__(
        self,
        destination: str = "-",
        flush_interval: float = 0.2,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        close_timeout: float = 2.0,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.destination = destination
        self.stream = AuditStream(
            destination,
            max_buffer_bytes=max_buffer_bytes,
            flush_interval=flush_interval,
            close_timeout=close_timeout,
            meter_provider=meter_provider,
        )

    def started(self, call: Call) -> None:
        pass

    def finished(self, record: CallRecord) -> None:
        self.write(record.audit())

    def write(self, entry: dict[str, Any]) -> None:
        """Any thread; never waits on the sink."""
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
        self.stream.put(line.encode("utf-8", "replace"))  # a lone surrogate must not stop the stream

    @property
    def dropped(self) -> int:
        return self.stream.dropped

    async def start(self) -> None:
        self.stream.start()

    def flush(self) -> None:
        """Write what is buffered now (tests read the file right after)."""
        self.stream.flush()

    async def aclose(self) -> None:
        await self.stream.aclose()
