"""A minimal OTLP/gRPC collector for the benchmark: accepts traces and metrics, counts spans.

Run as ``python -m bench._collector PORT COUNT_FILE``; stands in for Jaeger's :4317. On SIGTERM
it writes the number of spans received to COUNT_FILE (proof that tracing really exported).
"""

from __future__ import annotations

import pathlib
import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    spans = 0

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any) -> Any:
        _Traces.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request: Any, context: Any) -> Any:
        return metrics_service_pb2.ExportMetricsServiceResponse()


def main(port: int, count_file: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(0)
    pathlib.Path(count_file).write_text(str(_Traces.spans))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
