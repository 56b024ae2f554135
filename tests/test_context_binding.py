"""Arguments bound to the conversation's trusted context (issue 23, item 1): an argument configured
``from_context: <key>`` takes its value from the call's context (``connect(..., context={...})``),
never from the caller, whatever form the caller tries. Through a real sidecar to the echo upstream,
which records everything it receives: a refused call never reaches it. Hostile context goes in
through raw gRPC metadata, past the client's own checks."""

from __future__ import annotations

import json
import pathlib
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import connect, connect_async, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar.audit import AuditLog
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.describe import tool_definitions
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.registry import Registry
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

CALLER = "+441234567890"
ACCOUNT = "acc-42"
CONTEXT = {"caller_number": CALLER, "account_id": ACCOUNT, "page_number": "3"}


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    endpoints:
      - name: lookup_caller
        method: GET
        path: /customers
        parameters:
          - name: phone
            in: query
            required: true
            from_context: caller_number
            schema: {{type: string, pattern: "^[+][0-9]{{6,15}}$"}}
          - {{name: fields, in: query, type: string}}
      - name: get_order
        method: GET
        path: /accounts/{{account_id}}/orders/{{order_id}}
        parameters:
          - {{name: account_id, in: path, type: string, from_context: account_id}}
      - name: whoami
        method: GET
        path: /whoami
        parameters:
          - {{name: X-Caller-Number, in: header, type: string, from_context: caller_number}}
      - name: create_ticket
        method: POST
        path: /tickets
        request_body:
          type: object
          required: [caller, subject]
          properties:
            caller: {{type: string, from_context: caller_number}}
            subject: {{type: string}}
      - name: page
        method: GET
        path: /page
        parameters: [{{name: n, in: query, type: integer}}]
        from_context: {{n: page_number}}
      - {{name: ping, method: GET, path: /ping}}
"""


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def running(upstream: Upstream, spans, tmp_path_factory) -> Iterator[tuple[ThreadedSidecar, pathlib.Path]]:  # type: ignore[no-untyped-def]
    audit_file = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            tracer_provider=provider,
            audit=AuditLog(str(audit_file), flush_interval=0.05),
            job_store=SqliteJobStore(f"{tmp}/jobs.sqlite3"),
        )
        yield sidecar, audit_file
        sidecar.stop()


@pytest.fixture
def sidecar(running: tuple[ThreadedSidecar, pathlib.Path]) -> ThreadedSidecar:
    return running[0]


@pytest.fixture
def conv(sidecar: ThreadedSidecar):  # type: ignore[no-untyped-def]
    with connect(sidecar.unix_target, conversation_id="conv-ctx", context=CONTEXT) as c:
        yield c


def refused(upstream: Upstream, call, match: str) -> errors.InvalidArgument:  # type: ignore[no-untyped-def]
    """``call`` fails with InvalidArgument matching ``match``, and nothing reached the upstream."""
    before = len(upstream.requests)
    with pytest.raises(errors.InvalidArgument, match=match) as info:
        call()
    assert len(upstream.requests) == before
    return info.value


def headers_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k.lower(): v for k, v in response.json()["headers"]}


# --- binding ------------------------------------------------------------------------------------


def test_a_query_parameter_comes_from_the_context(conv, upstream):
    response = conv.api.crm.lookup_caller(fields="name")
    assert parse_qs(response.json()["query"]) == {"phone": [CALLER], "fields": ["name"]}
    # the value is not shown back: the URL spans, audit records and errors carry is redacted
    assert CALLER not in response.url and "phone=REDACTED" in response.url


def test_a_path_variable_comes_from_the_context_and_positionals_fill_the_others(conv):
    by_position = conv.api.crm.get_order("o-9")
    by_name = conv.api.crm.get_order(order_id="o-9")
    for response in (by_position, by_name):
        assert response.json()["path"] == f"/echo/crm/accounts/{ACCOUNT}/orders/o-9"
        assert ACCOUNT not in response.url and "/accounts/REDACTED/orders/o-9" in response.url


def test_a_header_comes_from_the_context(conv):
    assert headers_of(conv.api.crm.whoami())["x-caller-number"] == CALLER


def test_a_body_property_comes_from_the_context(conv):
    for response in (conv.api.crm.create_ticket(subject="refund"), conv.api.crm.create_ticket(json={"subject": "x"})):
        body = json.loads(response.json()["body"])
        assert body["caller"] == CALLER and set(body) == {"caller", "subject"}


def test_a_typed_argument_gets_the_context_string_converted(conv, sidecar, upstream):
    assert conv.api.crm.page().json()["query"] == "n=3"
    with connect(sidecar.unix_target, context={"page_number": "three"}) as other:
        error = refused(upstream, other.api.crm.page, "context's 'page_number' is not a integer")
    assert "three" not in error.message and error.field == "page_number"


async def test_the_asyncio_client_sends_the_context_too(sidecar):
    async with connect_async(sidecar.unix_target) as aconv:
        aconv.set_context(conversation_id="conv-async", context={"caller_number": CALLER})
        response = await aconv.api.crm.whoami()
    assert headers_of(response)["x-caller-number"] == CALLER


def test_set_context_replaces_the_values_for_later_calls(sidecar):
    with connect(sidecar.unix_target, context={"caller_number": "+441111111111"}) as c:
        first = headers_of(c.api.crm.whoami())["x-caller-number"]
        c.set_context(conversation_id="conv-2", context={"caller_number": "+442222222222"})
        second = headers_of(c.api.crm.whoami())["x-caller-number"]
    assert (first, second) == ("+441111111111", "+442222222222")


def test_a_context_value_failing_the_schema_is_refused_without_showing_it(sidecar, upstream):
    with connect(sidecar.unix_target, context={"caller_number": "not-a-phone"}) as c:
        error = refused(upstream, c.api.crm.lookup_caller, r"phone: .*context key 'caller_number'")
    assert "not-a-phone" not in error.message


# --- the caller may not pass a bound argument ---------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "args", "kwargs", "named"),
    [
        ("lookup_caller", (), {"phone": "+449999999999"}, "argument 'phone' is bound"),
        ("lookup_caller", (), {"params": {"phone": "+449999999999"}}, "as query parameter 'phone' in params="),
        ("lookup_caller", (), {"params": {"PHONE": "+449999999999"}}, "as query parameter 'phone' in params="),
        ("whoami", (), {"x_caller_number": "+449999999999"}, "argument 'x_caller_number' is bound"),
        ("whoami", (), {"headers": {"x-caller-NUMBER": "+449999999999"}}, "as header 'X-Caller-Number'"),
        ("get_order", (), {"account_id": "acc-evil", "order_id": "o-1"}, "argument 'account_id' is bound"),
        ("get_order", ("acc-evil", "o-1"), {}, r"takes 1 positional argument\(s\) \(path variables: order_id\)"),
        ("create_ticket", (), {"caller": "+449999999999", "subject": "x"}, "argument 'caller' is bound"),
        ("create_ticket", (), {"json": {"caller": "+449999999999", "subject": "x"}}, "as a field of json="),
        ("create_ticket", (), {"json": {"Caller": "+449999999999", "subject": "x"}}, "as a field of json="),
        ("create_ticket", (), {"data": {"caller": "+44999", "subject": "x"}}, "not data= or a raw body"),
        ("create_ticket", (), {"data": b'{"caller": "+44999"}'}, "not data= or a raw body"),
        ("page", (), {"n": 1}, "argument 'n' is bound"),
    ],
)
def test_a_call_passing_a_bound_argument_is_refused(conv, upstream, operation, args, kwargs, named):
    operation_call = getattr(conv.api.crm, operation)
    error = refused(upstream, lambda: operation_call(*args, **kwargs), named)
    if "positional" not in named:
        assert "bound to the conversation context" in error.message


def test_a_call_whose_context_lacks_the_key_is_refused_naming_it(sidecar, upstream):
    with connect(sidecar.unix_target, conversation_id="conv-none") as bare:
        error = refused(upstream, bare.api.crm.lookup_caller, "context has no 'caller_number'")
        assert error.field == "caller_number" and "argument 'phone' is bound" in error.message
        refused(upstream, bare.api.crm.create_ticket, "context has no 'caller_number'")
        assert bare.api.crm.ping().status_code == 200  # an operation with nothing bound needs no context


# --- hostile context, past the client: raw gRPC metadata ----------------------------------------


def raw_invoke(sidecar: ThreadedSidecar, metadata: list[tuple[str, object]], operation: str = "whoami") -> Any:
    with grpc.insecure_channel(sidecar.unix_target) as channel:
        stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Invoke(pb.InvokeRequest(api="crm", operation=operation), metadata=metadata, timeout=10)
    return info.value


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ([(f"x-context-k{i}", "v") for i in range(17)], "17 context entries; at most 16"),
        ([("x-context-caller_number", "+44" + "1" * 254)], "257 characters; values are 1-256"),
        ([("x-context-caller_number", "%E2%82%AC" * 460)], "more than 4096 bytes"),
        ([(f"x-context-k{i}", "9" * 255) for i in range(16)], "more than 4096 bytes"),
        ([("x-context-caller-number", CALLER)], "context key 'caller-number' must be"),
        ([("x-context-", CALLER)], "context key '' must be"),
        ([("x-context-9lives", CALLER)], "context key '9lives' must be"),
        ([("x-context-a.b", CALLER)], "context key 'a.b' must be"),
        ([("x-context-" + "k" * 70, CALLER)], "context key 'kkkk"),
        ([("x-context-caller_number-bin", b"\x00\xff")], "context key 'caller_number-bin' must be"),
        ([("x-context-caller_number", "%0d%0aX-Injected: 1")], "holds a control character"),
        ([("x-context-caller_number", "%00")], "holds a control character"),
        ([("x-context-caller_number", "%ff%fe")], "is not percent-encoded UTF-8"),
        ([("x-context-caller_number", "")], "0 characters"),
        ([("x-context-caller_number", "+441"), ("x-context-caller_number", "+442")], "given twice"),
    ],
)
def test_hostile_context_is_refused_clearly_and_bounded(sidecar, upstream, metadata, named):
    before = len(upstream.requests)
    for operation in ("whoami", "ping"):  # refused whether or not the operation binds anything
        error = raw_invoke(sidecar, metadata, operation)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error.details() or ""
        assert named in details and len(details) < 300
        for _, value in metadata:  # never echoed
            assert not (isinstance(value, str) and len(value) > 3 and value in details)
    assert len(upstream.requests) == before


def test_an_escaped_json_field_is_still_the_bound_argument(sidecar, upstream):
    before = len(upstream.requests)
    with grpc.insecure_channel(sidecar.unix_target) as channel:
        stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Invoke(
                pb.InvokeRequest(
                    api="crm", operation="create_ticket", json=b'{"\\u0063aller": "+449", "subject": "s"}'
                ),
                metadata=[("x-context-caller_number", CALLER)],
                timeout=10,
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "argument 'caller' (as a field of json=) is bound" in (info.value.details() or "")
    assert len(upstream.requests) == before


def test_raw_metadata_from_another_language_binds_like_the_client(sidecar):
    """What a non-Python client sends: percent-encoded UTF-8, one entry per key."""
    with grpc.insecure_channel(sidecar.unix_target) as channel:
        stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
        reply = stub.Invoke(
            pb.InvokeRequest(api="crm", operation="create_ticket", json=b'{"subject": "s"}'),
            metadata=[("x-context-caller_number", "Jos%C3%A9%20%2B44")],
            timeout=10,
        )
    assert json.loads(json.loads(reply.body)["body"])["caller"] == "José +44"


# --- the client checks first --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"Caller": "x"}, "context key 'Caller' must be"),
        ({"caller-number": "x"}, "context key 'caller-number' must be"),
        ({"": "x"}, "context key '' must be"),
        ({1: "x"}, "context key int must be"),
        ({f"k{i}": "v" for i in range(17)}, "17 keys; at most 16"),
        ({"caller_number": 441234}, "must be a string, not int"),
        ({"caller_number": ""}, "0 characters"),
        ({"caller_number": "x" * 257}, "257 characters"),
        ({"caller_number": "a\r\nb"}, "control character"),
        ({f"k{i}": "€" * 100 for i in range(16)}, "bytes as metadata; at most 4096"),
    ],
)
def test_the_client_refuses_a_bad_context_with_a_value_error(context, named):
    for make in (
        lambda: connect("unix:///nonexistent", context=context),
        lambda: connect_async("unix:///nonexistent", context=context),
    ):
        with pytest.raises(ValueError, match=named) as info:
            make()
        assert isinstance(info.value, errors.InvalidArgument)
    with connect("unix:///nonexistent") as conv, pytest.raises(ValueError, match=named):
        conv.set_context(context=context)


# --- discovery and tool exports -----------------------------------------------------------------


def test_tool_exports_leave_bound_arguments_out(conv):
    for format in ("openai", "anthropic", "mcp"):
        tools = {tool_name(t, format): tool_schema(t, format) for t in conv.api.crm.tools(format)}
        lookup, ticket, order = tools["crm__lookup_caller"], tools["crm__create_ticket"], tools["crm__get_order"]
        assert set(lookup["properties"]) == {"fields"} and "required" not in lookup
        assert set(ticket["properties"]) == {"subject"} and ticket["required"] == ["subject"]
        assert set(order["properties"]) == {"order_id"} and order["required"] == ["order_id"]
        assert tools["crm__page"]["properties"] == {} and tools["crm__whoami"]["properties"] == {}


def tool_name(tool: dict, format: str) -> str:
    return tool["function"]["name"] if format == "openai" else tool["name"]


def tool_schema(tool: dict, format: str) -> dict:
    return {"openai": lambda: tool["function"]["parameters"], "anthropic": lambda: tool["input_schema"]}.get(
        format, lambda: tool["inputSchema"]
    )()


def test_the_cli_tool_export_is_the_same(upstream, conv):
    registry = Registry(parse_config(config(upstream)), "sandbox")
    assert tool_definitions(registry, "mcp", ["crm"]) == conv.api.crm.tools("mcp")


def test_discovery_shows_bound_arguments_with_their_keys(conv):
    ops = {op["name"]: op for op in conv.api.crm.schema()["operations"]}
    phone = next(p for p in ops["lookup_caller"]["parameters"] if p["name"] == "phone")
    assert phone["from_context"] == "caller_number" and phone["required"] is True
    assert "from_context" not in next(p for p in ops["lookup_caller"]["parameters"] if p["name"] == "fields")
    assert ops["lookup_caller"]["from_context"] == {"phone": "caller_number"}
    assert ops["create_ticket"]["from_context"] == {"caller": "caller_number"}  # a body property
    assert ops["page"]["from_context"] == {"n": "page_number"}
    assert "from_context" not in ops["ping"]
    # the request body schema is the config's, without the sidecar's from_context keyword
    assert ops["create_ticket"]["request_body_schema"]["properties"]["caller"] == {"type": "string"}


# --- audit records: keys, never values ----------------------------------------------------------


def test_audit_records_spans_and_logs_name_the_keys_never_the_values(running, spans, caplog):
    sidecar, audit_file = running
    caplog.set_level("DEBUG")
    spans.clear()
    with connect(sidecar.unix_target, conversation_id="conv-audit", context=CONTEXT) as c:
        c.api.crm.lookup_caller()
        c.api.crm.get_order("o-1")
        c.api.crm.ping()
        with pytest.raises(errors.InvalidArgument):
            c.api.crm.lookup_caller(phone="+449999999999")
    deadline = time.monotonic() + 5
    while True:
        text = audit_file.read_text() if audit_file.exists() else ""
        found = [r for r in map(json.loads, text.splitlines()) if r.get("conversation_id") == "conv-audit"]
        if len(found) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [r["context_keys"] for r in found] == [["caller_number"], ["account_id"], None, None]
    assert CALLER not in text and ACCOUNT not in text and "+449999999999" not in text
    assert "phone=REDACTED" in found[0]["url"] and "/accounts/REDACTED/orders/o-1" in found[1]["url"]
    exported = [
        json.dumps({**dict(span.attributes or {}), "status": span.status.description})
        for span in spans.get_finished_spans()
    ]
    assert len(exported) >= 7 and any("phone=REDACTED" in span for span in exported)  # server and client spans
    assert "lookup_caller" in caplog.text  # the access log saw the calls
    for shown in [*exported, caplog.text]:
        assert CALLER not in shown and ACCOUNT not in shown and "+449999999999" not in shown


# --- background calls ---------------------------------------------------------------------------


def test_a_background_call_binds_the_context_it_was_made_in(sidecar, upstream):
    with connect(sidecar.unix_target, conversation_id="conv-bg", context={"caller_number": "+441111111111"}) as c:
        job = c.api.crm.whoami(background=True)
        c.set_context(conversation_id="conv-bg", context={"caller_number": "+442222222222"})
        now = c.api.crm.whoami()
        finished = c.api.jobs.wait(job.json()["job_id"], timeout=20)
    assert headers_of(now)["x-caller-number"] == "+442222222222"
    assert headers_of(finished.response)["x-caller-number"] == "+441111111111"
    # a background call that lacks the key is refused at once, not queued
    with connect(sidecar.unix_target, conversation_id="conv-bg") as bare:
        refused(upstream, lambda: bare.api.crm.whoami(background=True), "context has no 'caller_number'")


# --- the config ---------------------------------------------------------------------------------


def endpoint_problem(endpoint: str) -> str:
    text = f"""
apis:
  - name: crm
    connection: {{base_url: "https://crm.example.com"}}
    endpoints:
      - {endpoint}
"""
    with pytest.raises(ConfigError) as info:
        Registry(parse_config(text), "sandbox")  # as `validate` and `serve` load it
    return str(info.value)


@pytest.mark.parametrize(
    ("endpoint", "named"),
    [
        (
            "{name: a, method: GET, path: /a, parameters: [{name: q, in: query, from_context: Caller}]}",
            "'Caller' must be a context key",
        ),
        (
            "{name: a, method: GET, path: /a, parameters: [{name: q, in: query, type: array, from_context: k}]}",
            "a array parameter cannot be bound",
        ),
        ("{name: a, method: GET, path: /a, from_context: {nothing: k}}", "'nothing' is neither a parameter nor"),
        ("{name: a, method: GET, path: /a, from_context: [k]}", "must be a mapping of argument name to context key"),
        (
            "{name: a, method: POST, path: /a, request_body: {type: object, properties: "
            "{tags: {type: array, from_context: k}}}}",
            "a 'array' property cannot be bound",
        ),
        (
            "{name: a, method: GET, path: /a, from_context: {q: other}, "
            "parameters: [{name: q, in: query, from_context: k}]}",
            "is bound to 'k' already",
        ),
    ],
)
def test_a_bad_binding_is_a_load_error_naming_the_field(endpoint, named):
    assert named in endpoint_problem(endpoint)


def test_metadata_past_grpcs_own_limit_never_reaches_the_sidecar(sidecar, upstream):
    before = len(upstream.requests)
    error = raw_invoke(sidecar, [("x-context-caller_number", "1" * 100_000)])
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # gRPC's 8/16 KiB metadata limits
    assert len(upstream.requests) == before
    with connect(sidecar.unix_target, context={"caller_number": CALLER}) as c:  # and it still serves
        assert headers_of(c.api.crm.whoami())["x-caller-number"] == CALLER


# --- imported OpenAPI operations: an amending endpoints: entry ------------------------------------------

SPEC = """
openapi: 3.0.3
info: {title: CRM, version: "1"}
paths:
  /customers/{customer_id}/calls:
    post:
      operationId: logCall
      parameters:
        - {name: customer_id, in: path, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Call"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Call:
      type: object
      required: [caller, note]
      properties:
        caller: {type: string}
        note: {type: string}
"""


def spec_config(upstream: Upstream, spec: pathlib.Path, bindings: str) -> str:
    return f"""
apis:
  - name: calls
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/calls"}}
    openapi: {{spec: "{spec}"}}
    endpoints: [{bindings}]
"""


def test_an_imported_operation_is_bound_without_editing_its_spec(upstream, tmp_path):
    spec = tmp_path / "crm.yaml"
    spec.write_text(SPEC)
    text = spec_config(
        upstream, spec, "{name: log_call, from_context: {customer_id: account_id, caller: caller_number}}"
    )
    running = start_sidecar(text, str(tmp_path / "s.sock"))
    try:
        with connect(running.unix_target, context=CONTEXT) as c:
            echo = c.api.calls.log_call(note="asked for a refund").json()
            (tool,) = c.api.calls.tools("anthropic")
            described = c.api.calls.log_call.schema()
            refused(upstream, lambda: c.api.calls.log_call(note="x", json={"caller": "+449"}), "as a field of json=")
    finally:
        running.stop()
    assert echo["path"] == f"/echo/calls/customers/{ACCOUNT}/calls"
    assert json.loads(echo["body"]) == {"note": "asked for a refund", "caller": CALLER}
    assert tool["input_schema"]["properties"].keys() == {"note"} and tool["input_schema"]["required"] == ["note"]
    assert described["from_context"] == {"caller": "caller_number", "customer_id": "account_id"}


@pytest.mark.parametrize(
    ("bindings", "named"),
    [
        (
            "{name: log_calls, from_context: {caller: caller_number}}",
            "endpoints[0].name: 'log_calls' is not an imported operation",
        ),
        ("{name: log_call, from_context: {callr: caller_number}}", "'callr' is neither a parameter nor a top-level"),
        ("{name: log_call, from_context: {caller: Caller}}", "'Caller' must be a context key"),
        ("{name: log_call, from_context: [caller]}", "endpoints[0].from_context: must be a mapping of argument name"),
    ],
)
def test_a_bad_imported_binding_is_a_load_error(upstream, tmp_path, bindings, named):
    spec = tmp_path / "crm.yaml"
    spec.write_text(SPEC)
    with pytest.raises(ConfigError) as info:
        Registry(parse_config(spec_config(upstream, spec, bindings)), "sandbox")
    assert named in str(info.value)


def test_the_connection_test_skips_operations_that_need_context(conv):
    (result,) = conv.api.test_connection(["crm"])
    checks = {check["name"]: check for check in result["checks"]}
    assert checks["endpoint:whoami"]["status"] == "skip"
    assert checks["endpoint:whoami"]["detail"] == "not called: it takes context values (caller_number)"
    assert checks["endpoint:ping"]["status"] == "pass"
