"""``conv.log.info/warning/error`` entries sent by the agent (the Log RPC).

Seed 000: log entries appear "alongside" the request log. Each entry goes into the audit stream
(type ``log``, with the conversation id) and onto the caller's trace as an event of a short
``Log`` span, so one conversation's calls and log lines can be read together in both places.
"""

from __future__ import annotations

import logging

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind

from .audit import MAX_LOG_MESSAGE, AuditLog, log_record
from .metrics import METER_NAME

LEVELS = ("info", "warning", "error")
SPAN_NAME = "custom_api_sidecar.v1.CustomApiSidecar/Log"
conv_logger = logging.getLogger("custom_api_sidecar.conv")


class ConvLogSink:
    def __init__(self, tracer: trace.Tracer, audit: AuditLog | None, provider: metrics.MeterProvider | None) -> None:
        self._tracer = tracer
        self._audit = audit
        meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
        self._entries = meter.create_counter(
            "custom_api_sidecar.conv_log.entries", unit="{entry}", description="conv.log entries by level"
        )

    def write(self, level: str, message: str, conversation_id: str, agent_id: str, metadata: dict[str, str]) -> None:
        message = message[:MAX_LOG_MESSAGE]
        parent = propagate.extract(metadata)
        with self._tracer.start_as_current_span(SPAN_NAME, context=parent, kind=SpanKind.SERVER) as span:
            span.add_event("conv.log", {"log.level": level, "log.message": message})
            if conversation_id:
                span.set_attribute("custom_api.conversation_id", conversation_id)
            context = span.get_span_context()
            trace_id = f"{context.trace_id:032x}" if context.is_valid else ""
            span_id = f"{context.span_id:016x}" if span.is_recording() else ""
        self._entries.add(1, {"log.level": level})
        if self._audit is not None:
            self._audit.write(log_record(level, message, conversation_id, agent_id, trace_id, span_id))
        else:  # no audit stream: the sidecar's own log keeps the entry (repr: one line, whatever the text)
            conv_logger.log(
                logging.getLevelName(level.upper()), "[conversation %s] %r", conversation_id or "-", message
            )
