"""Stage: the Invoke server span (continuing the caller's W3C trace) and the access log."""

from __future__ import annotations

import logging
import time

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..errors import SidecarError
from ._call import Call, UpstreamResponse
from ._compose import Handler

access_log = logging.getLogger("custom_api_sidecar.access")
SPAN_NAME = "custom_api_sidecar.v1.CustomApiSidecar/Invoke"


class Observe:
    def __init__(self, tracer: trace.Tracer, environment: str) -> None:
        self._tracer = tracer
        self._environment = environment

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        parent = propagate.extract({k: v for k, v in call.metadata if isinstance(v, str)})
        request = call.request
        start = time.perf_counter()
        with self._tracer.start_as_current_span(
            SPAN_NAME,
            context=parent,
            kind=SpanKind.SERVER,
            record_exception=False,  # exception text is ours to vet, not the SDK's
            set_status_on_exception=False,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": "custom_api_sidecar.v1.CustomApiSidecar",
                "rpc.method": "Invoke",
                "custom_api.api": request.api,
                "custom_api.operation": request.operation,
                "custom_api.environment": self._environment,
            },
        ) as span:
            try:
                response = await call_next(call)
            except SidecarError as err:
                span.set_attribute("error.type", err.code_name)
                span.set_status(Status(StatusCode.ERROR, err.code_name))
                _log(call, start, span, error=err.code_name)
                raise
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            _log(call, start, span, response=response)
            return response


def _log(call: Call, start: float, span: trace.Span, response: UpstreamResponse | None = None, error: str = "") -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    out = call.outbound
    context = span.get_span_context()
    # The trace id finds this call in Jaeger; only when a trace is actually recorded.
    trace_id = f" trace={context.trace_id:032x}" if span.is_recording() else ""
    access_log.info(
        "%s.%s %s %s -> %s %.1fms%s",
        call.request.api,
        call.request.operation,
        out.method if out else "-",
        response.url if response else (out.redacted_url() if out else "-"),
        response.status_code if response else error,
        (time.perf_counter() - start) * 1000,
        trace_id,
    )
