"""Stage: the Invoke server span, continuing the caller's W3C trace."""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..errors import SidecarError
from ._call import Call, UpstreamResponse
from ._compose import Handler

SPAN_NAME = "custom_api_sidecar.v1.CustomApiSidecar/Invoke"


class Observe:
    def __init__(self, tracer: trace.Tracer, environment: str) -> None:
        self._tracer = tracer
        self._environment = environment

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        parent = propagate.extract({k: v for k, v in call.metadata if isinstance(v, str)})
        request = call.request
        attributes = {
            "rpc.system": "grpc",
            "rpc.service": "custom_api_sidecar.v1.CustomApiSidecar",
            "rpc.method": "Invoke",
            "custom_api.api": request.api,
            "custom_api.operation": request.operation,
            "custom_api.environment": self._environment,
        }
        if call.conversation_id:
            attributes["custom_api.conversation_id"] = call.conversation_id
        if call.agent_id:
            attributes["custom_api.agent_id"] = call.agent_id
        with self._tracer.start_as_current_span(
            SPAN_NAME,
            context=parent,
            kind=SpanKind.SERVER,
            record_exception=False,  # exception text is ours to vet, not the SDK's
            set_status_on_exception=False,
            attributes=attributes,
        ) as span:
            try:
                response = await call_next(call)
            except SidecarError as err:
                span.set_attribute("error.type", err.code_name)
                span.set_status(Status(StatusCode.ERROR, err.code_name))
                raise
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            return response
