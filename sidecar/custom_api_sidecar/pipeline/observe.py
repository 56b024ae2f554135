"""Stage: the Invoke server span, continuing the caller's W3C trace."""

from __future__ import annotations

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..call_spans import CallTracer
from ..errors import SidecarError
from ._call import Call, UpstreamResponse
from ._compose import Handler

SPAN_NAME = "custom_api_sidecar.v1.CustomApiSidecar/Invoke"


def _parent(metadata: tuple[tuple[str, object], ...]) -> Context:
    """The caller's trace context; an empty one, without asking the propagators, when the call
    carries none of the fields they read (a conversation id alone, say)."""
    carrier = {k: v for k, v in metadata if isinstance(v, str)}
    propagator = propagate.get_global_textmap()
    fields = propagator.fields
    if not carrier or (fields and not any(k in carrier for k in fields)):
        return Context()
    return propagator.extract(carrier)


class Observe:
    def __init__(self, tracer: trace.Tracer, environment: str) -> None:
        self._spans = CallTracer(tracer)
        # The attributes every call's span starts with, built once.
        self._base = {
            "rpc.system": "grpc",
            "rpc.service": "custom_api_sidecar.v1.CustomApiSidecar",
            "rpc.method": "Invoke",
            "custom_api.environment": environment,
        }

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        parent = _parent(call.metadata)
        request = call.request
        attributes = {**self._base, "custom_api.api": request.api, "custom_api.operation": request.operation}
        if call.conversation_id:
            attributes["custom_api.conversation_id"] = call.conversation_id
        if call.agent_id:
            attributes["custom_api.agent_id"] = call.agent_id
        span = self._spans.start(SPAN_NAME, SpanKind.SERVER, attributes, parent)
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            response = await call_next(call)
            span.set_attribute("http.response.status_code", response.status_code)
            return response
        except SidecarError as err:
            span.set_attribute("error.type", err.code_name)
            span.set_status(Status(StatusCode.ERROR, err.code_name))
            raise
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            context.detach(token)
            span.end()
