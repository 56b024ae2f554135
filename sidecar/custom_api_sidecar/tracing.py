"""OpenTelemetry for the sidecar, configured from the standard ``OTEL_*`` variables.

- ``OTEL_SDK_DISABLED=true``: no tracing at all.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: spans go
  out over OTLP/gRPC (what Jaeger ingests on 4317); ``OTEL_TRACES_EXPORTER``
  may say ``otlp``, ``console`` or ``none``.
- ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``: the resource.
- ``OTEL_BSP_*``: the batch processor; unset, batches are smaller and sooner than the SDK's
  (``BATCH_DEFAULTS``), so each export holds the GIL for about a millisecond, not tens.
OTLP spans are encoded by ``span_encoding`` (a few µs per span, not ~80).
With no exporter, spans are not recorded but the caller's trace context still
flows to the upstream. Tracing never fails a call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

__all__ = ["BATCH_DEFAULTS", "INSTRUMENTATION_NAME", "get_tracer", "make_tracer_provider"]

log = logging.getLogger("custom_api_sidecar.tracing")
INSTRUMENTATION_NAME = "custom_api_sidecar"
# The SDK's defaults (a 512-span batch every 5 s, or as soon as 512 wait) export 2,000 spans/s
# in bursts that hold the GIL for tens of milliseconds; 128 spans or 0.5 s keeps each export
# short. Measured with ``python -m bench`` (README, Performance).
BATCH_DEFAULTS = {
    "OTEL_BSP_SCHEDULE_DELAY": ("schedule_delay_millis", 500),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("max_export_batch_size", 128),
}


def make_tracer_provider(
    exporter: SpanExporter | None = None, env: Mapping[str, str] = os.environ
) -> TracerProvider | None:
    """A provider exporting to ``exporter``, else to what the environment says; None if nowhere."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    try:
        if exporter is None:
            exporter = _exporter_from_env(env)
        if exporter is None:
            return None
        attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "custom-api-sidecar"}
        provider = TracerProvider(resource=Resource.create(attributes))
        delay, batch = (None if env.get(var) else default for var, (_, default) in BATCH_DEFAULTS.items())
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=delay, max_export_batch_size=batch)
        )
        return provider
    except Exception:  # a broken tracing setup must not stop the sidecar
        log.warning("tracing disabled: could not configure OpenTelemetry", exc_info=True)
        return None


def _exporter_from_env(env: Mapping[str, str]) -> SpanExporter | None:
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    endpoint_set = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    if not names:
        names = ["otlp"] if endpoint_set else []
    if "none" in names or not names:
        return None
    if names[0] == "console":
        return ConsoleSpanExporter()
    if names[0] == "otlp":
        from .span_encoding import FastOTLPSpanExporter  # imports gRPC's OTLP stack: only when used

        return FastOTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_* itself
    raise ValueError(f"OTEL_TRACES_EXPORTER={names[0]!r} is not supported (use otlp, console or none)")


def get_tracer(provider: TracerProvider | None) -> trace.Tracer:
    if provider is None:
        return trace.NoOpTracer()
    return provider.get_tracer(INSTRUMENTATION_NAME)
