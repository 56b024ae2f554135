"""The OTLP span encoder writes what the exporter's own encoder writes, field by field, for SDK
spans of every shape (attributes of each type, events, links, status, remote parents, trace
state, dropped counts, several resources and scopes) and for the sidecar's call spans."""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TraceFlags, TraceState

from custom_api_sidecar.call_spans import CallTracer
from custom_api_sidecar.span_encoding import SpanEncoder, encode_request


def provider(resource: Resource, limits: SpanLimits | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    p = TracerProvider(resource=resource, span_limits=limits)
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p, exporter


def varied_spans() -> list:
    first, spans_a = provider(Resource.create({"service.name": "a", "n": 3}, schema_url="https://schema/1"))
    second, spans_b = provider(Resource.create({"service.name": "b"}), SpanLimits(max_span_attributes=2))
    tracer = first.get_tracer("scope-a", "1.2.3", schema_url="https://schema/s", attributes={"x": "y"})
    remote = trace.SpanContext(
        0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")])
    )
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    with tracer.start_as_current_span("server", context=parent, kind=SpanKind.SERVER) as span:
        span.set_attributes({"s": "text", "i": 42, "neg": -7, "f": 1.5, "b": True, "u": "ünïcode", "big": 2**62})
        span.set_attribute("seq", ["a", "b"])
        span.set_attribute("ints", [1, 2])
        span.add_event("conv.log", {"level": "info", "message": "hello"})
        span.add_event("bare")
        with tracer.start_as_current_span("child", links=[Link(remote, {"why": "because"})]) as child:
            child.set_status(Status(StatusCode.ERROR, "went wrong"))
    with tracer.start_as_current_span("ok") as span:
        span.set_status(Status(StatusCode.OK))
    with second.get_tracer("scope-b").start_as_current_span("limited", attributes={"1": 1, "2": 2, "3": 3}):
        pass
    return [*spans_a.get_finished_spans(), *spans_b.get_finished_spans()]


def test_every_span_shape_encodes_as_the_exporter_would():
    spans = varied_spans()
    assert len(spans) == 4
    assert encode_request(spans) == encode_spans(spans)


def test_repeated_attributes_come_from_the_cache_unchanged():
    spans = varied_spans()
    encoder = SpanEncoder()
    first = encode_request(spans, encoder)
    assert encode_request(spans, encoder) == first == encode_spans(spans)
    assert encode_request(spans[:1], encoder) == encode_spans(spans[:1])


def test_call_spans_encode_as_the_exporter_would():
    p, exporter = provider(Resource.create({"service.name": "sidecar"}))
    spans = CallTracer(p.get_tracer("custom_api_sidecar"))
    root = context.Context()
    server = spans.start("Invoke", SpanKind.SERVER, {"rpc.system": "grpc", "custom_api.api": "crm"}, root)
    token = context.attach(trace.set_span_in_context(server, root))
    client = spans.start(
        "GET /x/{id}", SpanKind.CLIENT, {"server.port": 443, "url.full": "https://h/x/1"}, context.get_current()
    )
    client.set_attribute("http.response.status_code", 500)
    client.set_status(Status(StatusCode.ERROR))
    client.end()
    context.detach(token)
    server.set_attribute("error.type", "TIMEOUT")
    server.set_status(Status(StatusCode.ERROR, "TIMEOUT"))
    server.end()
    exported = exporter.get_finished_spans()
    assert [s.name for s in exported] == ["GET /x/{id}", "Invoke"]
    assert exported[0].parent is not None and exported[0].parent.span_id == exported[1].context.span_id
    assert encode_request(exported) == encode_spans(exported)
