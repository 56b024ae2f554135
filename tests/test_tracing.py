"""Trace continuity (agent -> sidecar -> upstream) and secret-free spans, with real components:
a real gRPC sidecar, a real HTTP upstream, and for the exporter path a real sidecar process
sending OTLP/gRPC to a real receiver."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from custom_api_client import Response, connect, connect_async
from custom_api_client._tracing import outgoing_metadata
from custom_api_client.errors import ConnectionRefused, UnknownOperation
from tests._support.configs import test_config as make_config
from tests._support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests._support.sidecar import closed_port

SERVER_SPAN = "custom_api_sidecar.v1.CustomApiSidecar/Invoke"
ITEM_SPAN = "GET /echo/items/{item_id}"
SIDECAR_EXE = Path(sys.executable).with_name("custom-api-sidecar")


# --- helpers -------------------------------------------------------------------


@pytest.fixture
def agent() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    """The agent's own tracer, from a local provider (the global one is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test-agent"), exporter
    provider.shutdown()


@pytest.fixture
def sidecar_spans(spans: InMemorySpanExporter) -> InMemorySpanExporter:
    """The session sidecar's exporter, emptied for this test (other tests share the sidecar)."""
    spans.clear()
    return spans


def in_trace(exporter: InMemorySpanExporter, trace_id: int, count: int, timeout: float = 5.0) -> list[ReadableSpan]:
    """The exported spans of one trace, once at least ``count`` have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def one(spans: list, predicate: Callable[[object], bool]):
    matches = [s for s in spans if predicate(s)]
    assert len(matches) == 1, f"expected one matching span, got {[getattr(s, 'name', s) for s in matches]}"
    return matches[0]


def sent_headers(response: Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.json()["headers"]}


def parse_traceparent(value: str) -> tuple[int, int]:
    """(trace id, parent span id) of a W3C traceparent header."""
    version, trace_id, span_id, flags = value.split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16 and len(flags) == 2, value
    return int(trace_id, 16), int(span_id, 16)


# --- trace continuity, in-memory exporter ---------------------------------------


def test_trace_continues_from_agent_through_sidecar_to_upstream(running, agent, sidecar_spans, upstream):
    tracer, agent_spans = agent
    with connect(running.unix_target) as conv, tracer.start_as_current_span("agent-step") as agent_span:
        response = conv.api.upstream.item("abc")
    assert response.status_code == 200
    agent_ctx = agent_span.get_span_context()

    found = in_trace(sidecar_spans, agent_ctx.trace_id, 2)
    assert sorted(s.name for s in found) == sorted([SERVER_SPAN, ITEM_SPAN])
    server = one(found, lambda s: s.kind is SpanKind.SERVER)
    client = one(found, lambda s: s.kind is SpanKind.CLIENT)

    # agent span -> sidecar server span -> sidecar client span
    assert server.name == SERVER_SPAN
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.trace_id == agent_ctx.trace_id
    assert server.parent.span_id == agent_ctx.span_id
    assert client.name == ITEM_SPAN
    assert client.context.trace_id == agent_ctx.trace_id
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert not client.parent.is_remote
    assert server.status.status_code is not StatusCode.ERROR
    assert client.status.status_code is not StatusCode.ERROR

    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.method"] == "Invoke"
    assert server.attributes["custom_api.api"] == "upstream"
    assert server.attributes["custom_api.operation"] == "item"
    assert server.attributes["http.response.status_code"] == 200

    # HTTP client semantic conventions
    attrs = client.attributes
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.full"] == f"{upstream.url}/echo/items/abc"
    assert attrs["url.template"] == "/echo/items/{item_id}"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == upstream.port
    assert attrs["http.response.status_code"] == 200
    assert "error.type" not in attrs

    # the upstream saw the sidecar's client span as its parent, in the agent's trace
    headers = sent_headers(response)
    trace_id, parent_id = parse_traceparent(headers["traceparent"])
    assert trace_id == agent_ctx.trace_id
    assert parent_id == client.context.span_id

    # the agent's own span was exported by the agent's provider, not the sidecar's
    assert [s.name for s in agent_spans.get_finished_spans()] == ["agent-step"]


def test_access_log_line_carries_the_trace_id(running, agent, sidecar_spans, caplog):
    """A log line can be found in Jaeger: it names the trace the call belongs to."""
    tracer, _ = agent
    caplog.set_level(logging.INFO, logger="custom_api_sidecar.access")
    with connect(running.unix_target) as conv, tracer.start_as_current_span("agent-step") as agent_span:
        conv.api.upstream.item("logged")
    trace_id = f"{agent_span.get_span_context().trace_id:032x}"
    lines = [r.getMessage() for r in caplog.records if r.name == "custom_api_sidecar.access"]
    assert any("/echo/items/logged -> 200" in line and line.endswith(f"trace={trace_id}") for line in lines), lines


async def test_async_client_propagates_trace_context(running, agent, sidecar_spans):
    tracer, _ = agent
    async with connect_async(running.unix_target) as conv:
        with tracer.start_as_current_span("async-agent-step") as agent_span:
            response = await conv.api.upstream.item("xyz")
    agent_ctx = agent_span.get_span_context()
    server = one(in_trace(sidecar_spans, agent_ctx.trace_id, 2), lambda s: s.kind is SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == agent_ctx.span_id
    assert parse_traceparent(sent_headers(response)["traceparent"])[0] == agent_ctx.trace_id


def test_without_agent_span_the_sidecar_starts_a_new_trace(running, sidecar_spans):
    token = otel_context.attach(otel_context.Context())  # certainly no current span
    try:
        with connect(running.unix_target) as conv:
            response = conv.api.upstream.item("root")
    finally:
        otel_context.detach(token)
    trace_id, parent_id = parse_traceparent(sent_headers(response)["traceparent"])
    found = in_trace(sidecar_spans, trace_id, 2)
    server = one(found, lambda s: s.kind is SpanKind.SERVER)
    client = one(found, lambda s: s.kind is SpanKind.CLIENT)
    assert server.parent is None  # a root span: nothing came from the agent
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert parent_id == client.context.span_id


# --- errors on spans ---------------------------------------------------------------


def test_unknown_operation_marks_server_span_as_error(running, agent, sidecar_spans):
    tracer, _ = agent
    with (
        connect(running.unix_target) as conv,
        tracer.start_as_current_span("agent-step") as agent_span,
        pytest.raises(UnknownOperation),
    ):
        conv.api.upstream.no_such_operation()
    found = in_trace(sidecar_spans, agent_span.get_span_context().trace_id, 1)
    server = one(found, lambda s: s.name == SERVER_SPAN)
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None and server.parent.span_id == agent_span.get_span_context().span_id
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "UNKNOWN_OPERATION"
    assert server.attributes["custom_api.operation"] == "no_such_operation"
    assert not [s for s in found if s.kind is SpanKind.CLIENT]  # nothing was sent upstream


def test_connection_refused_marks_server_and_client_spans_as_error(running, agent, sidecar_spans):
    tracer, _ = agent
    with (
        connect(running.unix_target) as conv,
        tracer.start_as_current_span("agent-step") as agent_span,
        pytest.raises(ConnectionRefused),
    ):
        conv.api.dead.ping()
    found = in_trace(sidecar_spans, agent_span.get_span_context().trace_id, 2)
    server = one(found, lambda s: s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "CONNECTION_REFUSED"
    client = one(found, lambda s: s.kind is SpanKind.CLIENT)
    assert client.name == "GET /ping"
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes["error.type"] == "CONNECTION_REFUSED"
    assert "http.response.status_code" not in client.attributes


def test_upstream_500_marks_client_span_as_error(running, agent, sidecar_spans):
    tracer, _ = agent
    with connect(running.unix_target) as conv, tracer.start_as_current_span("agent-step") as agent_span:
        response = conv.api.upstream.status(500)
    assert response.status_code == 500  # a response, not an exception
    found = in_trace(sidecar_spans, agent_span.get_span_context().trace_id, 2)
    client = one(found, lambda s: s.kind is SpanKind.CLIENT)
    assert client.name == "GET /status/{code}"
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes["error.type"] == "500"
    assert client.attributes["http.response.status_code"] == 500
    server = one(found, lambda s: s.kind is SpanKind.SERVER)
    assert server.attributes["http.response.status_code"] == 500


# --- secrets never reach a span -------------------------------------------------------


CANARIES = ("CANARY-SECRET-123", "CANARY-SECRET-456")


def test_secret_query_values_never_reach_spans(running, agent, sidecar_spans, upstream):
    tracer, agent_spans = agent
    with connect(running.unix_target) as conv, tracer.start_as_current_span("agent-step") as agent_span:
        response = conv.api.upstream.search(q="x", params={"api_key": CANARIES[0], "token": CANARIES[1]})
    assert response.status_code == 200
    # the secrets did go to the upstream (otherwise this test would prove nothing) ...
    assert all(canary in response.json()["query"] for canary in CANARIES)

    # ... but not into any span: names, attributes, events, status descriptions, links
    found = in_trace(sidecar_spans, agent_span.get_span_context().trace_id, 2)
    assert len(found) == 2
    exported = [*sidecar_spans.get_finished_spans(), *agent_spans.get_finished_spans()]
    for span in exported:
        text = span.to_json()
        for canary in CANARIES:
            assert canary not in text, f"secret leaked into span {span.name!r}: {text}"

    client = one(found, lambda s: s.kind is SpanKind.CLIENT)
    url = client.attributes["url.full"]
    assert url.startswith(f"{upstream.url}/echo/search?")
    assert "api_key=REDACTED" in url and "token=REDACTED" in url and "q=x" in url

    # what the agent sees is redacted too
    assert "api_key=REDACTED" in response.url and "token=REDACTED" in response.url
    assert not any(canary in response.url for canary in CANARIES)


# --- client-side propagation --------------------------------------------------------------


def test_outgoing_metadata_without_a_current_span_has_no_valid_traceparent():
    token = otel_context.attach(otel_context.Context())
    try:
        metadata = outgoing_metadata()
    finally:
        otel_context.detach(token)
    if metadata is not None:
        carrier = dict(metadata)
        extracted = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier)).get_span_context()
        assert not extracted.is_valid


def test_outgoing_metadata_with_a_current_span_carries_traceparent(agent):
    tracer, _ = agent
    with tracer.start_as_current_span("agent-step") as span:
        metadata = outgoing_metadata()
    assert metadata is not None
    carrier = dict(metadata)
    assert "traceparent" in carrier
    ctx = span.get_span_context()
    assert parse_traceparent(carrier["traceparent"]) == (ctx.trace_id, ctx.span_id)
    assert all(isinstance(k, str) and k == k.lower() for k, _ in metadata)  # gRPC metadata keys are lowercase


# --- a real sidecar process exporting over OTLP/gRPC ---------------------------------------


class SidecarProcess:
    def __init__(self, proc: subprocess.Popen, target: str, stdout: Path, stderr: Path) -> None:
        self.proc = proc
        self.target = target
        self.stdout = stdout
        self.stderr = stderr

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def terminate(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then the exit code, or None if still running after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


@contextlib.contextmanager
def sidecar_process(tmp_path: Path, config_text: str, otel_env: dict[str, str]) -> Iterator[SidecarProcess]:
    """``custom-api-sidecar serve`` in a subprocess; always terminated (SIGTERM, then SIGKILL)."""
    config = tmp_path / "sidecar.yaml"
    config.write_text(config_text)
    socket_path = tmp_path / "s.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(otel_env)
    command = [str(SIDECAR_EXE)] if SIDECAR_EXE.exists() else [sys.executable, "-m", "custom_api_sidecar"]
    command += ["serve", "--config", str(config), "--listen", f"unix://{socket_path}", "--grace", "0"]
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    handle = SidecarProcess(proc, f"unix://{socket_path}", stdout, stderr)
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in stdout.read_text():
            if proc.poll() is not None:
                raise AssertionError(f"sidecar exited with {proc.returncode}:\n{handle.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"sidecar did not start within 20 s:\n{handle.output()}")
            time.sleep(0.02)
        assert socket_path.exists()
        yield handle
    finally:
        if handle.terminate(5) is None:
            proc.kill()
            proc.wait(5)


def otlp_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "sidecar-under-test",
        **extra,
    }


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def test_real_sidecar_exports_spans_over_otlp(tmp_path, upstream, receiver, agent):
    tracer, _ = agent
    with sidecar_process(tmp_path, make_config(upstream.url, closed_port()), otlp_env(receiver.endpoint)) as sc:
        with connect(sc.target) as conv, tracer.start_as_current_span("agent-step") as agent_span:
            response = conv.api.upstream.item("abc")
        assert response.status_code == 200
        agent_ctx = agent_span.get_span_context()

        def both_spans(spans: list[ReceivedSpan]) -> bool:
            return len([s for s in spans if s.trace_id == agent_ctx.trace_id]) >= 2

        found = [s for s in receiver.wait_for(both_spans, timeout=10) if s.trace_id == agent_ctx.trace_id]

    server = one(found, lambda s: s.name == SERVER_SPAN)
    client = one(found, lambda s: s.name == ITEM_SPAN)
    assert server.span.kind == server.span.SPAN_KIND_SERVER
    assert client.span.kind == client.span.SPAN_KIND_CLIENT
    assert server.parent_span_id == agent_ctx.span_id
    assert client.parent_span_id == server.span_id
    assert parse_traceparent(sent_headers(response)["traceparent"]) == (agent_ctx.trace_id, client.span_id)
    for span in (server, client):
        assert span.resource["service.name"] == "sidecar-under-test"
        assert span.scope == "custom_api_sidecar"
    assert client.attributes["url.full"] == f"{upstream.url}/echo/items/abc"
    assert client.attributes["http.response.status_code"] == 200
    assert server.attributes["custom_api.environment"] == "sandbox"


def test_unreachable_collector_never_fails_a_call(tmp_path, upstream, agent):
    tracer, _ = agent
    # The Python OTLP exporter reads this in seconds (default 10): it bounds the final flush on SIGTERM.
    env = otlp_env(f"http://127.0.0.1:{closed_port()}", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    with sidecar_process(tmp_path, make_config(upstream.url, closed_port()), env) as sc, connect(sc.target) as conv:
        for i in range(5):
            with tracer.start_as_current_span("agent-step") as agent_span:
                start = time.monotonic()
                response = conv.api.upstream.item(f"n{i}")
            assert response.status_code == 200
            assert time.monotonic() - start < 2  # the export path is off the call path
            trace_id, _ = parse_traceparent(sent_headers(response)["traceparent"])
            assert trace_id == agent_span.get_span_context().trace_id  # context still flows
            time.sleep(0.15)  # let the batch processor attempt (and fail) an export in between
        assert sc.proc.poll() is None  # still serving
        assert "Failed to export" in sc.stderr.read_text() or "Transient error" in sc.stderr.read_text()
        # and it still stops cleanly, the unexported spans given up after the exporter timeout
        assert sc.terminate(timeout=8) == 0, sc.output()


def test_unsupported_exporter_disables_tracing_but_serves(tmp_path, upstream, agent):
    tracer, _ = agent
    env = {"OTEL_TRACES_EXPORTER": "bogus", "OTEL_SERVICE_NAME": "sidecar-under-test"}
    with sidecar_process(tmp_path, make_config(upstream.url, closed_port()), env) as sc, connect(sc.target) as conv:
        with tracer.start_as_current_span("agent-step") as agent_span:
            response = conv.api.upstream.item("abc")
        assert response.status_code == 200
        # no sidecar spans, but the agent's trace context still reaches the upstream
        trace_id, parent_id = parse_traceparent(sent_headers(response)["traceparent"])
        assert trace_id == agent_span.get_span_context().trace_id
        assert parent_id == agent_span.get_span_context().span_id
        assert "tracing disabled" in sc.stderr.read_text()
