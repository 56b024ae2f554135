"""Stage: one ``CallRecord`` per Invoke, handed to every observer (access log, audit stream,
metrics, the dashboard's recent calls). Runs inside the server span, so the record carries
its trace and span ids. Observers must be cheap and never raise: they run on the call path.

A record keeps the names the caller sent (bounded by admission: at most 64 characters) for the
audit stream and the call log, and labels for everything that aggregates by name (metric
series, the dashboard's per-API figures): a name that is not configured is ``UNKNOWN`` there,
so callers inventing names add one series, not one each."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace

from ..errors import SidecarError
from ._call import Call, UpstreamResponse
from ._compose import Handler

if TYPE_CHECKING:
    from ..registry import Registry

log = logging.getLogger("custom_api_sidecar.record")
UNKNOWN = "(unknown)"  # the label of every API or operation name that is not configured


@dataclass(slots=True)
class CallRecord:
    """What one call did. Never a header value, a body or a secret: the URL is the redacted one."""

    time: float  # wall clock (epoch seconds) when the call arrived
    api: str
    operation: str
    method: str  # "" when the call failed before a request was built
    url: str  # redacted; "" when no request was built
    status: int | None  # the upstream's HTTP status, or None
    error: str | None  # the sidecar's error code, or None
    attempts: int
    elapsed: float  # seconds
    request_bytes: int
    response_bytes: int
    trace_id: str  # 32 hex, "" when there is no trace
    span_id: str
    conversation_id: str
    agent_id: str
    recorded: bool = False  # the trace was recorded (exported), not only propagated
    api_label: str = UNKNOWN  # api, or UNKNOWN when no such API is configured: for aggregates
    operation_label: str = UNKNOWN  # operation, or UNKNOWN when the API has no such operation
    # The trusted context keys the operation's bound arguments used: names only, never a value.
    context_keys: tuple[str, ...] = ()
    cache: str = ""  # "hit" or "miss" for an operation configured with cache:, else ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400

    def audit(self) -> dict[str, Any]:
        """The audit record: the documented, stable field set (README, "Audit records")."""
        return {
            "type": "call",
            "time": _rfc3339(self.time),
            "conversation_id": self.conversation_id or None,
            "agent_id": self.agent_id or None,
            "api": self.api,
            "operation": self.operation,
            "method": self.method or None,
            "url": self.url or None,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "elapsed_ms": round(self.elapsed * 1000, 3),
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "trace_id": self.trace_id or None,
            "span_id": self.span_id or None,
            "context_keys": list(self.context_keys) or None,
            "cache": self.cache or None,
        }


def _rfc3339(epoch: float) -> str:
    return _second(int(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _second(epoch_second: int) -> str:
    """The formatted second, once per second rather than once per call (records arrive in order)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


class CallObserver(Protocol):
    def started(self, call: Call) -> None: ...

    def finished(self, record: CallRecord) -> None: ...


class Record:
    def __init__(self, observers: Sequence[CallObserver], registry: Registry | None = None) -> None:
        """``registry``: what names are configured (every name is UNKNOWN without one)."""
        self._observers = tuple(observers)
        self._apis = registry.apis if registry is not None else {}

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        started_wall, started = time.time(), time.perf_counter()
        api = self._apis.get(call.request.api)
        if api is None:
            call.api_label = call.operation_label = UNKNOWN
        else:
            call.api_label = api.name
            call.operation_label = call.request.operation if call.request.operation in api.operations else UNKNOWN
        for observer in self._observers:
            observer.started(call)
        response: UpstreamResponse | None = None
        error: str | None = None
        try:
            response = await call_next(call)
            return response
        except SidecarError as err:
            error = err.code_name
            raise
        except BaseException as exc:
            error = "INTERNAL" if isinstance(exc, Exception) else "CANCELLED"
            raise
        finally:
            self._finish(call, response, error, started_wall, time.perf_counter() - started)

    def _finish(
        self, call: Call, response: UpstreamResponse | None, error: str | None, wall: float, elapsed: float
    ) -> None:
        span = trace.get_current_span()
        context = span.get_span_context()
        out = call.outbound
        record = CallRecord(
            time=wall,
            api=call.request.api,
            operation=call.request.operation,
            method=out.method if out else "",
            url=response.url if response else (out.redacted_url() if out else ""),
            status=response.status_code if response else None,
            error=error,
            attempts=call.attempts,
            elapsed=elapsed,
            request_bytes=len(out.content or b"") if out else 0,
            response_bytes=len(response.body) if response else 0,
            trace_id=f"{context.trace_id:032x}" if context.is_valid else "",
            span_id=f"{context.span_id:016x}" if context.is_valid and span.is_recording() else "",
            conversation_id=call.conversation_id,
            agent_id=call.agent_id,
            recorded=span.is_recording(),
            api_label=call.api_label,
            operation_label=call.operation_label,
            context_keys=call.context_keys,
            cache=call.cache,
        )
        for observer in self._observers:
            try:
                observer.finished(record)
            except Exception:  # an observer bug must not fail the call
                log.exception("call observer %r failed", observer)
