"""What trace context reaches an upstream, through real sidecar processes and a real echo upstream:
``traceparent``/``tracestate`` by default, the agent's ``baggage`` only where the API opts in
(``propagate: [tracecontext, baggage]``), nothing with ``propagate: []``; and no propagator the
environment adds (``OTEL_PROPAGATORS=...,jaeger``) writes anything upstream, to an API or to its
OAuth2 token endpoint. Plus the loader's checks of ``propagate``."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace import TracerProvider

from custom_api_client import connect
from custom_api_client._tracing import outgoing_metadata
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.config._model import DEFAULT_PROPAGATE
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.propagation import upstream_propagation
from tests._support.processes import SidecarProcess
from tests._support.upstream import Upstream

BAGGAGE = "user.email=alice%40example.com,account=42"
TRACESTATE = "vendor=opaque-state"
TRACE_HEADERS = {"traceparent", "tracestate", "baggage"}


def config(upstream: Upstream) -> str:
    connection = f'{{allow_http: true, private_network: true, base_url: "{upstream.url}/echo"}}'
    return f"""
apis:
  - name: plain  # the default: [tracecontext]
    connection: {connection}
    endpoints: [{{name: get, method: GET, path: /plain}}]
  - name: with_baggage
    propagate: [tracecontext, baggage]
    connection: {connection}
    endpoints: [{{name: get, method: GET, path: /with_baggage}}]
  - name: silent
    propagate: []
    connection: {connection}
    endpoints: [{{name: get, method: GET, path: /silent}}]
  - name: oauth  # a token endpoint that never gives a token: each call asks it again
    connection: {connection}
    authentication:
      type: oauth2
      config: {{token_url: "{upstream.url}/echo/token", client_id: id, client_secret: "env://PROPAGATION_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /oauth}}]
"""


def start(upstream: Upstream, directory: Path, env: dict[str, str] | None = None) -> SidecarProcess:
    (directory / "apis.yaml").write_text(config(upstream))
    return SidecarProcess(
        directory / "apis.yaml",
        directory / "s.sock",
        extra_args=["--jobs-db", str(directory / "j.db")],
        env={"PROPAGATION_SECRET": "s3cret", **(env or {})},
    )


@pytest.fixture(scope="module")
def sidecar(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    process = start(upstream, tmp_path_factory.mktemp("propagation"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def jaeger_sidecar(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """The operator's environment adds the Jaeger propagator, which writes baggage as uberctx-* headers."""
    process = start(upstream, tmp_path_factory.mktemp("jaeger"), {"OTEL_PROPAGATORS": "tracecontext,baggage,jaeger"})
    yield process
    process.stop()


def agent_metadata() -> tuple[int, tuple[tuple[str, str], ...]]:
    """What an agent with a current span and baggage sends: a fresh trace id, and the metadata."""
    trace_id = secrets.randbits(128) or 1
    traceparent = f"00-{trace_id:032x}-{secrets.randbits(64) or 1:016x}-01"
    return trace_id, (("traceparent", traceparent), ("tracestate", TRACESTATE), ("baggage", BAGGAGE))


def sent(sidecar: SidecarProcess, api: str, metadata: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The headers the upstream received for one call of ``api``, by lower-case name."""
    with grpc.insecure_channel(sidecar.target) as channel:
        reply = sidecar_pb2_grpc.CustomApiSidecarStub(channel).Invoke(
            pb.InvokeRequest(api=api, operation="get"), metadata=metadata, timeout=10
        )
    assert reply.status_code == 200, reply
    return {k.lower(): v for k, v in json.loads(reply.body)["headers"]}


def trace_id_of(traceparent: str) -> int:
    return int(traceparent.split("-")[1], 16)


def token_requests(upstream: Upstream, trace_id: int) -> list[dict[str, str]]:
    """The headers of each token request the upstream received in the trace ``trace_id``."""
    found = []
    for record in list(upstream.requests):
        headers = {k.lower(): v for k, v in record["headers"]}
        if record["path"] == "/echo/token" and trace_id_of(headers.get("traceparent", "00-0-0-00")) == trace_id:
            found.append(headers)
    return found


def test_by_default_baggage_stays_and_the_trace_context_goes(sidecar):
    trace_id, metadata = agent_metadata()
    headers = sent(sidecar, "plain", metadata)
    assert trace_id_of(headers["traceparent"]) == trace_id  # the upstream's span joins the agent's trace
    assert headers["tracestate"] == TRACESTATE
    assert "baggage" not in headers
    assert not any("alice" in value or "example.com" in value for value in headers.values())


def test_an_api_that_opts_in_gets_the_baggage(sidecar):
    trace_id, metadata = agent_metadata()
    headers = sent(sidecar, "with_baggage", metadata)
    assert trace_id_of(headers["traceparent"]) == trace_id
    assert headers["tracestate"] == TRACESTATE
    assert sorted(headers["baggage"].split(",")) == sorted(BAGGAGE.split(","))


def test_propagate_empty_sends_no_trace_context(sidecar):
    _, metadata = agent_metadata()
    headers = sent(sidecar, "silent", metadata)
    assert TRACE_HEADERS.isdisjoint(headers), headers


def test_the_agent_s_own_baggage_through_the_client(sidecar):
    """The real path: the agent sets OpenTelemetry baggage, the client sends it as gRPC metadata."""
    tracer = TracerProvider().get_tracer("agent")
    token = context.attach(baggage.set_baggage("user.email", "alice@example.com"))
    try:
        with tracer.start_as_current_span("agent-step") as span, connect(sidecar.target) as conv:
            assert "baggage" in dict(outgoing_metadata() or ())  # the agent does send it
            plain = conv.api.plain.get().json()["headers"]
            opted = conv.api.with_baggage.get().json()["headers"]
    finally:
        context.detach(token)
    plain_headers = {k.lower(): v for k, v in plain}
    assert "baggage" not in plain_headers
    assert trace_id_of(plain_headers["traceparent"]) == span.get_span_context().trace_id
    assert {k.lower(): v for k, v in opted}["baggage"] == "user.email=alice%40example.com"


def test_a_propagator_the_environment_adds_writes_nothing_upstream(jaeger_sidecar):
    """With OTEL_PROPAGATORS naming jaeger, the global propagator would also write uber-trace-id and
    the agent's baggage as uberctx-* headers; what goes upstream is only what the API chose."""
    trace_id, metadata = agent_metadata()
    plain = sent(jaeger_sidecar, "plain", metadata)
    opted = sent(jaeger_sidecar, "with_baggage", metadata)
    silent = sent(jaeger_sidecar, "silent", metadata)
    for headers in (plain, opted, silent):
        assert not [name for name in headers if name.startswith("uber")], headers
    assert trace_id_of(plain["traceparent"]) == trace_id and "baggage" not in plain
    assert "baggage" in opted
    assert TRACE_HEADERS.isdisjoint(silent)


def test_the_token_endpoint_gets_what_its_api_sends(jaeger_sidecar, upstream):
    """A call that has to fetch an OAuth2 token fetches it in the call's trace: the token request
    carries the API's trace context, never the agent's baggage (in any propagator's spelling)."""
    trace_id, metadata = agent_metadata()
    deadline = time.monotonic() + 15
    while True:  # the start-up fetch failed; a call fetches again once the 1 s failure hold is over
        with grpc.insecure_channel(jaeger_sidecar.target) as channel, pytest.raises(grpc.RpcError) as caught:
            sidecar_pb2_grpc.CustomApiSidecarStub(channel).Invoke(
                pb.InvokeRequest(api="oauth", operation="get"), metadata=metadata, timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, caught.value
        ours = token_requests(upstream, trace_id)
        if ours or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert ours, "no token request was made in the call's trace"
    for headers in ours:
        assert "baggage" not in headers and not [n for n in headers if n.startswith("uber")], headers


# --- the loader -------------------------------------------------------------------


def api_with(propagate: str) -> str:
    return f"""
apis:
  - name: crm
    propagate: {propagate}
    connection: {{base_url: "https://crm.example.com"}}
    endpoints: [{{name: get, method: GET, path: /x}}]
"""


@pytest.mark.parametrize(
    ("written", "names"),
    [
        ("null", DEFAULT_PROPAGATE),
        ("[tracecontext]", ("tracecontext",)),
        ("[tracecontext, baggage]", ("tracecontext", "baggage")),
        ("[baggage, tracecontext, baggage]", ("baggage", "tracecontext")),  # a repeat is harmless
        ("[]", ()),
    ],
)
def test_propagate_is_parsed(written, names):
    assert parse_config(api_with(written), "t.yaml").apis[0].propagate == names


def test_propagate_defaults_to_tracecontext():
    text = api_with("x").replace("    propagate: x\n", "")
    assert parse_config(text, "t.yaml").apis[0].propagate == ("tracecontext",)


@pytest.mark.parametrize(
    ("written", "field", "message"),
    [
        ("[b3]", "propagate[0]", "'b3' is not a propagator; allowed: tracecontext, baggage"),
        ("[tracecontext, jaeger]", "propagate[1]", "'jaeger' is not a propagator"),
        ("[[baggage]]", "propagate[0]", "['baggage'] is not a propagator"),
        ("tracecontext", "propagate", "must be a list of tracecontext, baggage ([] sends no trace context)"),
        ("{baggage: true}", "propagate", "must be a list"),
        (f"[{'x' * 5000}]", "propagate[0]", "(5000 characters) is not a propagator"),  # bounded, not echoed
    ],
)
def test_a_bad_propagate_is_a_clear_error(written, field, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(api_with(written), "t.yaml")
    [problem] = caught.value.problems
    assert problem.field == field and message in problem.message, problem
    assert len(problem.message) < 300


def test_propagation_writes_only_the_chosen_fields():
    """In process: the injector for each list, against a context with a span and baggage."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    span = NonRecordingSpan(
        SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1), trace_state=TraceState([("v", "1")]))
    )
    ctx = baggage.set_baggage("user.email", "alice@example.com", trace.set_span_in_context(span))

    def written(names: tuple[str, ...]) -> dict[str, str]:
        headers: list[tuple[str, str]] = []
        upstream_propagation(names).inject(headers, ctx)
        return dict(headers)

    assert set(written(("tracecontext",))) == {"traceparent", "tracestate"}
    assert set(written(("tracecontext", "baggage"))) == {"traceparent", "tracestate", "baggage"}
    assert set(written(("baggage",))) == {"baggage"}
    assert written(()) == {}
    assert upstream_propagation(("tracecontext",)) is upstream_propagation(("tracecontext",))  # built once
    with pytest.raises(KeyError):  # the loader refuses any other name; nothing falls back to the global
        upstream_propagation(("jaeger",))
