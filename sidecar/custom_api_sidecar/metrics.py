"""Metrics with the OpenTelemetry SDK: exported over OTLP when configured, and rendered in the
Prometheus text format for ``/metrics`` on the admin listener.

- ``OTEL_METRICS_EXPORTER=otlp`` (or an ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` with no ``OTEL_METRICS_EXPORTER=none``): pushed every
  ``OTEL_METRIC_EXPORT_INTERVAL`` ms (default 60000) over OTLP/gRPC.
- the admin listener on: a pull reader that ``/metrics`` renders on each scrape.
- neither: no provider, and every instrument is the API's no-op.

Attribute sets are bounded: API, operation, method, status, error code, host of a configured
base URL; never a URL, an argument value or a secret. An API or operation name that is not
configured is ``(unknown)`` (the record stage's labels), so invented names add one series.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from .pipeline._call import Call
from .pipeline.record import CallRecord

METER_NAME = "custom_api_sidecar"
# OpenTelemetry's advice for http.client.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@dataclass
class Metrics:
    provider: MeterProvider | None
    scrape: InMemoryMetricReader | None  # what /metrics renders; None without the admin listener

    def prometheus_text(self) -> str:
        return render_prometheus(self.scrape) if self.scrape is not None else ""

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def make_metrics(admin: bool, env: Mapping[str, str] = os.environ) -> Metrics:
    """A provider with the readers the environment and the admin listener ask for (or none)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Metrics(None, None)
    readers: list[MetricReader] = []
    scrape = InMemoryMetricReader() if admin else None
    if scrape is not None:
        readers.append(scrape)
    names = [n.strip() for n in env.get("OTEL_METRICS_EXPORTER", "").split(",") if n.strip()]
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    if "otlp" in names or (endpoint and not names):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if not readers:
        return Metrics(None, None)
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "custom-api-sidecar"}
    # Exemplars (a sampled trace id per histogram bucket) cost every measurement a reservoir
    # offer while tracing is on; nothing here reads them. OTEL_METRICS_EXEMPLAR_FILTER brings them back.
    exemplars = None if env.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
    provider = MeterProvider(metric_readers=readers, resource=Resource.create(attributes), exemplar_filter=exemplars)
    return Metrics(provider, scrape)


class CallMetrics:
    """A call observer feeding the per-call instruments."""

    def __init__(self, provider: metrics.MeterProvider | None = None) -> None:
        meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
        # Calls are counted in a plain dict and observed at collection time, like in-flight calls:
        # an SDK measurement costs every reader its attribute hashing and locking, on each call.
        self._call_counts: dict[tuple[str, str, str], int] = {}
        meter.create_observable_counter(
            "custom_api_sidecar.calls",
            callbacks=[self._observe_calls],
            unit="{call}",
            description="Invoke calls by API, operation and outcome",
        )
        self._duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of upstream HTTP calls (all attempts of one call)",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._errors = meter.create_counter(
            "custom_api_sidecar.errors", unit="{call}", description="Calls that ended in a sidecar error, by code"
        )
        self._retries = meter.create_counter(
            "custom_api_sidecar.retries", unit="{request}", description="Upstream requests beyond the first"
        )
        self._rate_limited = meter.create_counter(
            "custom_api_sidecar.rate_limited", unit="{call}", description="Calls refused by a rate limit"
        )
        # In-flight calls are counted in a plain dict and observed at collection time: two SDK
        # operations per call saved (each costs several microseconds).
        self._in_flight: dict[str, int] = {}
        meter.create_observable_up_down_counter(
            "custom_api_sidecar.calls.in_flight",
            callbacks=[self._observe_in_flight],
            unit="{call}",
            description="Invoke calls in progress",
        )

    def _observe_calls(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [
            metrics.Observation(n, {"custom_api.api": api, "custom_api.operation": operation, "outcome": outcome})
            for (api, operation, outcome), n in list(self._call_counts.items())
        ]

    def _observe_in_flight(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(n, {"custom_api.api": api}) for api, n in list(self._in_flight.items())]

    def started(self, call: Call) -> None:
        api = call.api_label
        self._in_flight[api] = self._in_flight.get(api, 0) + 1

    def finished(self, record: CallRecord) -> None:
        api = {"custom_api.api": record.api_label}
        self._in_flight[record.api_label] -= 1
        outcome = "ok" if record.ok else ("http_error" if record.error is None else "error")
        key = (record.api_label, record.operation_label, outcome)
        self._call_counts[key] = self._call_counts.get(key, 0) + 1
        if record.error is not None:
            self._errors.add(1, {**api, "error.type": record.error})
            if record.error == "RATE_LIMITED":
                self._rate_limited.add(1, api)
        if record.attempts > 1:
            self._retries.add(record.attempts - 1, api)
        if record.method:
            http: dict[str, str | int] = {**api, "http.request.method": record.method}
            if record.status is not None:
                http["http.response.status_code"] = record.status
            if record.error is not None:
                http["error.type"] = record.error
            elif record.status is not None and record.status >= 400:
                http["error.type"] = str(record.status)
            self._duration.record(record.elapsed, http)


def observe_token_fetches(
    authenticators: Callable[[], Mapping[str, object]], provider: metrics.MeterProvider | None = None
) -> None:
    """``custom_api_sidecar.oauth2.token_fetches`` per OAuth2 API, read from each token manager's
    own count at collection time (nothing on the call path); ``authenticators`` gives the current ones."""

    def observe(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [
            metrics.Observation(getattr(auth, "fetches", 0), {"custom_api.api": name})
            for name, auth in authenticators().items()
            if hasattr(auth, "fetches")
        ]

    meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
    meter.create_observable_counter(
        "custom_api_sidecar.oauth2.token_fetches",
        callbacks=[observe],
        unit="{request}",
        description="OAuth2 token requests made to the token endpoint",
    )


def config_reloads(provider: metrics.MeterProvider | None = None) -> metrics.Counter:
    """Counted by the config reloader, ``outcome`` ``applied`` or ``rejected``."""
    meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
    return meter.create_counter("custom_api_sidecar.config.reloads", unit="{reload}", description="Config reloads")


# --- the Prometheus text format -----------------------------------------------------------

_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _name(name: str, unit: str) -> str:
    base = _INVALID.sub("_", name)
    suffix = _UNITS.get(unit)
    return f"{base}_{suffix}" if suffix and not base.endswith(suffix) else base


def _labels(attributes: Mapping[str, object], extra: str = "") -> str:
    parts = [f'{_INVALID.sub("_", str(k))}="{_escape(str(v))}"' for k, v in sorted(attributes.items())]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


def render_prometheus(reader: InMemoryMetricReader) -> str:
    data = reader.get_metrics_data()
    lines: list[str] = []
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                name = _name(metric.name, metric.unit or "")
                points = metric.data
                if isinstance(points, Sum):
                    kind = "counter" if points.is_monotonic else "gauge"
                    full = f"{name}_total" if points.is_monotonic else name
                    lines += [f"# HELP {full} {metric.description}", f"# TYPE {full} {kind}"]
                    lines += [f"{full}{_labels(p.attributes or {})} {_number(p.value)}" for p in points.data_points]
                elif isinstance(points, Gauge):
                    lines += [f"# HELP {name} {metric.description}", f"# TYPE {name} gauge"]
                    lines += [f"{name}{_labels(p.attributes or {})} {_number(p.value)}" for p in points.data_points]
                elif isinstance(points, Histogram):
                    lines += [f"# HELP {name} {metric.description}", f"# TYPE {name} histogram"]
                    for p in points.data_points:
                        attributes = p.attributes or {}
                        cumulative = 0
                        for bound, count in zip((*p.explicit_bounds, math.inf), p.bucket_counts, strict=True):
                            cumulative += count
                            le = 'le="' + _number(float(bound)) + '"'
                            lines.append(f"{name}_bucket{_labels(attributes, le)} {cumulative}")
                        lines.append(f"{name}_sum{_labels(attributes)} {_number(p.sum)}")
                        lines.append(f"{name}_count{_labels(attributes)} {p.count}")
    return "\n".join(lines) + "\n"
