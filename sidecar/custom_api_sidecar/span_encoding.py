"""OTLP span export without the per-span protobuf objects: spans are written straight into
protobuf wire bytes, and the OTLP/gRPC exporter sends those.

The exporter's own encoder builds a message per span, per attribute and per value in Python:
about 80 µs per span on the development machine, in the export thread, under the GIL, in
bursts of a whole batch; each burst stalled the event loop. Here a span costs a few µs: the
resource and scope are encoded once, an attribute whose value repeats (API, operation, method,
host, status) is encoded once and reused, and the result is parsed back into the request message
in C. The bytes are the ones ``encode_spans`` produces (``tests/test_span_encoding.py`` checks
field by field).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_key_value,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

__all__ = ["FastOTLPSpanExporter", "encode_request"]

_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")
_DOUBLE = struct.Struct("<d")
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_CACHE_LIMIT = 4096  # repeated attribute encodings kept; cleared when full


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(tag << 3 | 2) + _varint(len(payload)) + payload


def _string(tag: int, text: str) -> bytes:
    return _field(tag, text.encode("utf-8")) if text else b""


class _Attributes:
    """KeyValue encodings, cached for values that repeat from call to call."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, type, Any], bytes] = {}

    def encode(self, tag: int, attributes: Mapping[str, Any] | None) -> bytes:
        """Every attribute as field ``tag`` (repeated KeyValue) of the enclosing message."""
        if not attributes:
            return b""
        cache = self._cache
        parts = []
        for key, value in attributes.items():
            cache_key = (key, type(value), value) if isinstance(value, (str, int, float, bool)) else None
            encoded = cache.get(cache_key) if cache_key is not None else None
            if encoded is None:
                encoded = _field(tag, _key_value(key, value))
                if cache_key is not None and len(encoded) < 256:
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[cache_key] = encoded
            parts.append(encoded)
        return b"".join(parts)


def _key_value(key: str, value: Any) -> bytes:
    if isinstance(value, bool):
        any_value = b"\x10" + (b"\x01" if value else b"\x00")
    elif isinstance(value, str):
        any_value = _field(1, value.encode("utf-8"))
    elif isinstance(value, int):
        any_value = b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement
    elif isinstance(value, float):
        any_value = b"\x21" + _DOUBLE.pack(value)
    else:  # sequences, mappings, bytes: rare here; the exporter's own encoder does them
        return _encode_key_value(key, value).SerializeToString()
    return _field(1, key.encode("utf-8")) + _field(2, any_value)


class SpanEncoder:
    """``request(spans)`` -> the ExportTraceServiceRequest bytes for ``spans``."""

    def __init__(self) -> None:
        self._attributes = _Attributes()
        self._resources: dict[Resource, bytes] = {}
        self._scopes: dict[InstrumentationScope | None, bytes] = {}

    def request(self, spans: Sequence[ReadableSpan]) -> bytes:
        grouped: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
        for span in spans:
            by_scope = grouped.setdefault(span.resource, {})
            by_scope.setdefault(span.instrumentation_scope, []).append(_field(2, self.span(span)))
        out = []
        for resource, by_scope in grouped.items():
            body = [self._resource(resource)]
            for scope, encoded in by_scope.items():
                schema = _string(3, scope.schema_url) if scope is not None and scope.schema_url else b""
                body.append(_field(2, self._scope(scope) + b"".join(encoded) + schema))
            body.append(_string(3, resource.schema_url))
            out.append(_field(1, b"".join(body)))
        return b"".join(out)

    def _resource(self, resource: Resource) -> bytes:
        encoded = self._resources.get(resource)
        if encoded is None:
            encoded = self._resources[resource] = _field(1, _encode_resource(resource).SerializeToString())
        return encoded

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        encoded = self._scopes.get(scope)
        if encoded is None:
            message = _encode_instrumentation_scope(scope)  # type: ignore[arg-type]  # None: an empty scope
            encoded = self._scopes[scope] = _field(1, message.SerializeToString())
        return encoded

    def span(self, span: ReadableSpan) -> bytes:
        context = span.get_span_context()
        assert context is not None
        parent = span.parent
        attributes = self._attributes
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        ]
        if context.trace_state:
            parts.append(_string(3, ",".join(f"{k}={v}" for k, v in context.trace_state.items())))
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        parts.append(_string(5, span.name))
        parts.append(b"\x30" + _varint(_KIND[span.kind]))
        parts.append(b"\x39" + _FIXED64.pack(span.start_time or 0))
        parts.append(b"\x41" + _FIXED64.pack(span.end_time or 0))
        parts.append(attributes.encode(9, span.attributes))
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))
        for event in span.events:
            event_body = b"\x09" + _FIXED64.pack(event.timestamp) + _string(2, event.name)
            event_body += attributes.encode(3, event.attributes)
            if event.dropped_attributes:
                event_body += b"\x20" + _varint(event.dropped_attributes)
            parts.append(_field(11, event_body))
        if span.dropped_events:
            parts.append(b"\x60" + _varint(span.dropped_events))
        for link in span.links:
            link_body = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big")
            link_body += b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
            link_body += attributes.encode(4, link.attributes)
            if link.dropped_attributes:
                link_body += b"\x28" + _varint(link.dropped_attributes)
            link_body += b"\x35" + _FIXED32.pack(_flags(link.context))
            parts.append(_field(13, link_body))
        if span.dropped_links:
            parts.append(b"\x70" + _varint(span.dropped_links))
        status = span.status
        status_body = _string(2, status.description or "")
        if status.status_code.value:
            status_body += b"\x18" + _varint(status.status_code.value)
        parts.append(_field(15, status_body))
        parts.append(b"\x85\x01" + _FIXED32.pack(_flags(parent)))
        return b"".join(parts)


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)


def encode_request(spans: Sequence[ReadableSpan], encoder: SpanEncoder | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString((encoder or SpanEncoder()).request(spans))


class FastOTLPSpanExporter(OTLPSpanExporter):
    """The OTLP/gRPC span exporter (every ``OTEL_EXPORTER_OTLP_*`` setting, retries, logging)
    with the encoder above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoder = SpanEncoder()

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return encode_request(data, self._encoder)
