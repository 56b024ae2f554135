"""W3C trace context into gRPC metadata, when OpenTelemetry is active in the agent.

OpenTelemetry is optional for the client: without it, nothing is propagated.
"""

from __future__ import annotations

try:
    from opentelemetry import propagate as _propagate
except ImportError:  # the client needs only grpcio and protobuf
    _propagate = None  # type: ignore[assignment]


def outgoing_metadata() -> tuple[tuple[str, str], ...] | None:
    if _propagate is None:
        return None
    carrier: dict[str, str] = {}
    try:
        _propagate.inject(carrier)
    except Exception:  # tracing never fails a call
        return None
    return tuple(carrier.items()) or None
