"""Caller bounds (issue 20, item 5): names, counts and sizes are checked before any work.

Each bound is tested at its worst value through a real server (the in-process sidecar on a unix
socket): the typed INVALID_ARGUMENT naming the bound, an error that fits gRPC metadata and never
echoes the oversized value, no audit record, no dashboard entry, no metric series, and the
sidecar still serving. Unknown but valid names collapse into one "(unknown)" metric series.
Request bytes that do not decode get INVALID_ARGUMENT with our ErrorDetail, not UNKNOWN."""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from custom_api_client import connect, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar._text import shown as quoted
from custom_api_sidecar.audit import AuditLog
from custom_api_sidecar.errors import ERROR_METADATA_KEY, SidecarError, did_you_mean
from custom_api_sidecar.mcp import McpHttpSettings
from custom_api_sidecar.metrics import make_metrics
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

MB = 1024 * 1024
SERVICE = "/custom_api_sidecar.v1.CustomApiSidecar"
# What a client accepts in metadata before it may refuse it (grpc's soft limit).
METADATA_SOFT_LIMIT = 8 * 1024


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm",
                  circuit_breaker: {{enabled: false}}}}
    endpoints:
      - {{name: get_contact, method: GET, path: "/contacts/{{contact_id}}"}}
      - name: search
        method: GET
        path: /contacts
        parameters:
          - {{name: q, in: query, type: string}}
          - {{name: note, in: header, type: string}}
      - {{name: create, method: POST, path: /contacts}}
"""


class Bounded:
    """The sidecar under test, a raw stub for hand-made requests, and its audit file."""

    def __init__(self, sidecar: ThreadedSidecar, audit: pathlib.Path, audit_log: AuditLog) -> None:
        self.sidecar = sidecar
        self.audit = audit
        self.audit_log = audit_log
        self.channel = grpc.insecure_channel(
            sidecar.unix_target,
            options=[("grpc.max_send_message_length", 64 * MB), ("grpc.max_receive_message_length", 64 * MB)],
        )
        self.stub = sidecar_pb2_grpc.CustomApiSidecarStub(self.channel)

    def refused(self, rpc: str = "Invoke", **fields: Any) -> tuple[grpc.RpcError, pb.ErrorDetail]:
        """The error a hand-made request gets, with its ErrorDetail and its whole metadata checked."""
        request = getattr(pb, f"{rpc}Request")(**fields)
        with pytest.raises(grpc.RpcError) as info:
            getattr(self.stub, rpc)(request, timeout=30)
        return info.value, detail_of(info.value)

    def audit_lines(self) -> list[dict[str, Any]]:
        """The call records (the stream also holds the config's load record)."""
        self.audit_log.flush()
        text = self.audit.read_text() if self.audit.exists() else ""
        records = [json.loads(line) for line in text.splitlines() if line]
        return [record for record in records if record["type"] == "call"]

    def series(self) -> set[str]:
        """Every metric series on /metrics: name and labels, without the value."""
        with urllib.request.urlopen(f"{self.sidecar.admin_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def detail_of(err: grpc.RpcError) -> pb.ErrorDetail:
    trailing = dict(err.trailing_metadata() or ())
    assert ERROR_METADATA_KEY in trailing, f"no ErrorDetail: {err.code()} {err.details()}"
    size = sum(len(k) + len(v) for k, v in (err.trailing_metadata() or ())) + len(err.details() or "")
    assert size < METADATA_SOFT_LIMIT, f"{size} bytes of error metadata"
    return pb.ErrorDetail.FromString(trailing[ERROR_METADATA_KEY])


@pytest.fixture(scope="module")
def bounded(upstream: Upstream) -> Iterator[Bounded]:
    with tempfile.TemporaryDirectory() as tmp:
        audit = pathlib.Path(tmp, "audit.jsonl")
        audit_log = AuditLog(str(audit), flush_interval=0.05)
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            admin=("127.0.0.1", 0),
            metrics=make_metrics(admin=True, env={}),
            audit=audit_log,
            mcp=McpHttpSettings("127.0.0.1", 0),
        )
        under_test = Bounded(sidecar, audit, audit_log)
        yield under_test
        under_test.channel.close()
        sidecar.stop()


@pytest.fixture
def nothing_recorded(bounded: Bounded) -> Iterator[None]:
    """Around a test of refused calls: no audit record, no dashboard entry, no new metric series
    (the refusals counter aside), and a valid call still answers afterwards."""
    audit_before = len(bounded.audit_lines())
    activity_before = len(bounded.sidecar.sidecar.activity.calls(limit=100_000))
    series_before = bounded.series()
    yield
    assert len(bounded.audit_lines()) == audit_before
    assert len(bounded.sidecar.sidecar.activity.calls(limit=100_000)) == activity_before
    new = {s for s in bounded.series() - series_before if not s.startswith("custom_api_sidecar_calls_refused_total")}
    assert not new, f"new series: {sorted(new)[:5]}"
    with connect(bounded.sidecar.unix_target) as conv:
        assert conv.api.crm.get_contact("still-serving").json()["path"] == "/echo/crm/contacts/still-serving"


# --- api and operation names ------------------------------------------------------------------------

BAD_NAMES = [
    pytest.param("a" * 65, id="65-chars"),
    pytest.param("a" * 10_000, id="10000-chars"),
    pytest.param("b" * MB, id="1MB"),
    pytest.param("Crm", id="uppercase"),
    pytest.param("crm\n", id="trailing-newline"),
    pytest.param("crm\r\nX-Forged: 1", id="crlf"),
    pytest.param("crm\u202e", id="bidi-control"),
    pytest.param("1crm", id="leading-digit"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("field", ["api", "operation"])
def test_a_name_outside_the_identifier_rule_is_refused_before_any_work(bounded, nothing_recorded, field, name):
    fields = {"api": "crm", "operation": "get_contact", field: name}
    err, detail = bounded.refused(**fields, positional=[pb.Value(string_value="1")])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail.code == pb.ErrorCode.INVALID_ARGUMENT and detail.field == field
    assert "1-64 characters of a-z, 0-9 and _" in detail.message
    assert len(detail.message) < 250 and len(err.details()) < 250  # at most a short prefix of the name
    if len(name) > 64:
        assert name[:33] not in detail.message and f"({len(name)} characters)" in detail.message
    assert detail.api in ("", "crm")  # never the bad name
    assert detail.operation in ("", "get_contact")


def test_the_python_client_gets_invalid_argument_for_a_1mb_name(bounded, nothing_recorded):
    with connect(bounded.sidecar.unix_target) as conv, pytest.raises(errors.InvalidArgument) as info:
        conv.api["x" * MB].get_contact("1")
    assert info.value.field == "api" and len(info.value.message) < 250


def test_an_unknown_valid_name_is_quoted_whole_with_suggestions(bounded):
    longest = "crm" + "x" * 61  # 64 characters: valid, and configured nowhere
    err, detail = bounded.refused(api=longest, operation="get_contact")
    assert err.code() == grpc.StatusCode.NOT_FOUND and detail.code == pb.ErrorCode.UNKNOWN_API
    assert repr(longest) in detail.message
    err, detail = bounded.refused(api="crm", operation="get_contcat")
    assert detail.code == pb.ErrorCode.UNKNOWN_OPERATION and list(detail.suggestions) == ["get_contact"]


@pytest.mark.parametrize(
    ("rpc", "fields", "field"),
    [
        pytest.param("GetJob", {"job_id": "j" * MB}, "job_id", id="GetJob-1MB-id"),
        pytest.param("Log", {"level": "l" * MB, "message": "m"}, "", id="Log-1MB-level"),
        pytest.param("DescribeApi", {"api": "d" * MB}, "", id="DescribeApi-1MB-name"),
        pytest.param("TestConnection", {"apis": ["t" * MB]}, "", id="TestConnection-1MB-name"),
    ],
)
def test_other_methods_quote_at_most_a_prefix_of_a_caller_string(bounded, rpc, fields, field):
    """Before, each of these errors quoted the whole string: over gRPC's 16 KiB metadata limit, so
    the caller got RESOURCE_EXHAUSTED "received metadata size exceeds hard limit" instead."""
    err, detail = bounded.refused(rpc, **fields)
    assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert detail.field == field and len(detail.message) < 400 and "(1048576 characters)" in detail.message


# --- over MCP: the same admission -----------------------------------------------------------------


async def mcp_session_call(url: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with (
        httpx2.AsyncClient(timeout=60) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        try:
            return await session.call_tool(tool, arguments)
        except MCPError as err:  # returned: raised out of the session, it would come wrapped in a group
            return err


def test_mcp_tool_calls_pass_the_same_bounds(bounded, nothing_recorded):
    headers = {f"x-h{i}": "v" for i in range(10_000)}
    result = asyncio.run(
        mcp_session_call(bounded.sidecar.mcp_url, "crm__get_contact", {"contact_id": "1", "headers": headers})
    )
    assert result.is_error
    assert result.content[0].text == "INVALID_ARGUMENT: crm.get_contact: 10000 headers; at most 256 are accepted"


def test_an_unknown_mcp_tool_name_is_quoted_as_a_prefix(bounded):
    error = asyncio.run(mcp_session_call(bounded.sidecar.mcp_url, "t" * MB, {}))
    assert isinstance(error, MCPError) and error.message == f"Unknown tool: {'t' * 32!r}... ({MB} characters)"


# --- counts -------------------------------------------------------------------------------------------


def kv(n: int, key: str = "k", value: str = "v") -> list[pb.KeyValue]:
    return [pb.KeyValue(key=f"{key}{i}", value=value) for i in range(n)]


COUNTS = [
    pytest.param("positional", {"positional": [pb.Value(int_value=i) for i in range(257)]}, id="257-positional"),
    pytest.param(
        "keywords",
        {"keywords": [pb.MapEntry(key=f"k{i}", value=pb.Value(int_value=i)) for i in range(100_000)]},
        id="100000-keywords",
    ),
    pytest.param("params", {"params": kv(257)}, id="257-params"),
    pytest.param("headers", {"headers": kv(100_000, "x-h")}, id="100000-headers"),
    pytest.param("form", {"form": kv(100_000)}, id="100000-form-fields"),
]


@pytest.mark.parametrize(("field", "fields"), COUNTS)
def test_counts_over_256_are_refused(bounded, nothing_recorded, field, fields):
    err, detail = bounded.refused(api="crm", operation="create", **fields)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and detail.field == field
    count = len(next(iter(fields.values())))
    assert f"crm.create: {count} " in detail.message and "at most 256 are accepted" in detail.message
    assert (detail.api, detail.operation) == ("crm", "create")


def test_exactly_256_headers_pass_the_bound(bounded):
    with connect(bounded.sidecar.unix_target) as conv:
        answer = conv.api.crm.get_contact("c", headers={f"x-h{i}": "v" for i in range(256)})
    # sent: the test upstream (Python's http.server) refuses over 100 headers itself
    assert answer.status_code == 431 and "got more than 100 headers" in answer.text


# --- sizes --------------------------------------------------------------------------------------------

HUGE = "s3cr3t-looking-value-" + "v" * MB  # the value must never come back in an error
SIZES = [
    pytest.param("headers", {"headers": [pb.KeyValue(key="x-big", value=HUGE)]}, "x-big", id="1MB-header-value"),
    pytest.param("headers", {"headers": [pb.KeyValue(key="h" * MB, value="v")]}, "name of", id="1MB-header-name"),
    pytest.param("headers", {"headers": kv(200, "x-h", "v" * 400)}, "in all", id="80KB-of-headers"),
    pytest.param("params", {"params": [pb.KeyValue(key="q", value=HUGE)]}, "'q'", id="1MB-query-value"),
    pytest.param("params", {"params": kv(20, "q", "v" * 4000)}, "in all", id="80KB-of-query"),
    pytest.param(
        "keywords",
        {"keywords": [pb.MapEntry(key="k" * MB, value=pb.Value(int_value=1))]},
        "keyword argument name",
        id="1MB-keyword-name",
    ),
    pytest.param("form", {"form": [pb.KeyValue(key="f" * 300, value="v")]}, "form field name", id="300-char-form-name"),
    pytest.param("content_type", {"content_type": "text/" + "x" * MB}, "content_type is", id="1MB-content-type"),
]


@pytest.mark.parametrize(("field", "fields", "says"), SIZES)
def test_sizes_over_their_bound_are_refused_without_echoing_the_value(bounded, nothing_recorded, field, fields, says):
    err, detail = bounded.refused(api="crm", operation="create", **fields)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and detail.field == field
    assert says in detail.message
    assert "s3cr3t" not in detail.message and "s3cr3t" not in err.details()
    assert len(detail.message) < 300


def test_a_declared_header_parameter_is_bounded_too(bounded):
    """A keyword argument bound to a header is checked once encoded (the bind stage)."""
    with connect(bounded.sidecar.unix_target) as conv, pytest.raises(errors.InvalidArgument) as info:
        conv.api.crm.search(note=HUGE)
    assert info.value.field == "headers" and "header 'note'" in info.value.message
    assert "s3cr3t" not in info.value.message and len(info.value.message) < 300
    with connect(bounded.sidecar.unix_target) as conv:
        assert conv.api.crm.search(q="x" * 8192).ok  # the largest value a query parameter may have


def test_refusals_are_counted_by_reason(bounded):
    bounded.refused(api="A", operation="get_contact")
    bounded.refused(api="crm", operation="create", headers=kv(300))
    series = bounded.series()
    assert 'custom_api_sidecar_calls_refused_total{reason="api"}' in series
    assert 'custom_api_sidecar_calls_refused_total{reason="headers"}' in series


# --- unknown names: one series ------------------------------------------------------------------------


def test_a_thousand_unknown_names_add_at_most_one_series(bounded):
    before = bounded.series()
    with connect(bounded.sidecar.unix_target) as conv:
        for n in range(500):
            with pytest.raises(errors.UnknownApi):
                conv.api[f"nope_{n}"].get_contact("1")
            with pytest.raises(errors.UnknownOperation):
                conv.api.crm[f"nope_{n}"]()
    after = bounded.series()
    by_metric: dict[str, set[str]] = {}
    for series in after - before:
        by_metric.setdefault(series.split("{")[0], set()).add(series)
    # at most one new series per metric and label set kind: the unknown API, and crm's unknown operation
    assert all(len(found) <= 2 for found in by_metric.values()), by_metric
    assert not any("nope_" in series for series in after)
    calls = 'custom_api_sidecar_calls_total{custom_api_api=%s,custom_api_operation=%s,outcome="error"}'
    assert calls % ('"(unknown)"', '"(unknown)"') in after and calls % ('"crm"', '"(unknown)"') in after
    # the dashboard's per-API figures: configured APIs only, unknown ones collapsed out of them
    assert [api["name"] for api in bounded.sidecar.sidecar.activity.apis()] == ["crm"]
    # the audit stream and the call log keep what was called (bounded: a valid name is at most 64 characters)
    assert any(record["api"] == "nope_499" for record in bounded.audit_lines())


# --- errors fit in metadata -----------------------------------------------------------------------------


def test_every_error_field_is_bounded_whatever_a_stage_puts_in_it():
    err = SidecarError(
        pb.ErrorCode.INTERNAL,
        "\u00e9" * MB,  # two UTF-8 bytes each: the cut is on a character boundary
        api="a" * MB,
        operation="o" * MB,
        suggestions=["s" * MB] * 1000,
        field="f" * MB,
    )
    assert len(err.message.encode()) <= 1024 and err.message.endswith("...")
    assert max(len(err.api), len(err.operation), len(err.field)) == 128
    assert len(err.suggestions) == 16 and all(len(s) == 128 for s in err.suggestions)
    assert sum(len(k) + len(v) for k, v in err.trailing_metadata()) + len(err.message.encode()) * 3 < 8 * 1024


def test_quoted_and_did_you_mean_never_handle_an_unbounded_name():
    assert quoted("crm") == "'crm'" and quoted("c" * 64) == repr("c" * 64)
    assert quoted("c" * MB) == repr("c" * 32) + "... (1048576 characters)"
    started = time.perf_counter()
    assert did_you_mean("get_contact" * 100_000, ["get_contact"]) == []
    assert time.perf_counter() - started < 0.05


# --- undecodable requests -------------------------------------------------------------------------------

METHODS = ["Invoke", "GetJob", "Log", "DescribeApi", "TestConnection"]
GARBAGE = [
    pytest.param(b"\xff" * 64, id="bad-tag"),
    pytest.param(b"\x0a\xff\xff\xff\xff\x0f", id="length-past-the-end"),
    pytest.param(b"\x0a\x02\xff\xfe", id="bad-utf8-api"),
    pytest.param(b"\x1a\x02\x3a\x00" * 1 + b"\x1a" + b"\x80" * 11, id="bad-varint"),
]


def nested(depth: int) -> bytes:
    """An InvokeRequest whose positional Value is a list nested ``depth`` deep, encoded by hand
    (protobuf itself refuses to build one past its depth limit of 100)."""

    def field(number: int, payload: bytes) -> bytes:  # a length-delimited field
        length, size = b"", len(payload)
        while size > 0x7F:
            length, size = length + bytes([size & 0x7F | 0x80]), size >> 7
        return bytes([number << 3 | 2]) + length + bytes([size]) + payload

    value = b"\x18\x02"  # Value.int_value = 1 (zigzag)
    for _ in range(depth):
        value = field(7, field(1, value))  # Value.list_value = ListValue(values=[value])
    return field(1, b"crm") + field(2, b"create") + field(3, value)


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        *[pytest.param(method, p.values[0], id=f"{method}-{p.id}") for method in METHODS for p in GARBAGE],
        pytest.param("Invoke", nested(300), id="Invoke-nested-300-deep"),
    ],
)
def test_undecodable_bytes_get_invalid_argument_with_our_detail(bounded, method, payload):
    raw = bounded.channel.unary_unary(f"{SERVICE}/{method}", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as info:
        raw(payload, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = detail_of(info.value)
    assert detail.code == pb.ErrorCode.INVALID_ARGUMENT
    assert re.fullmatch(
        rf"the request is not a valid custom_api_sidecar\.v1\.{method}Request message "
        rf"\({len(payload)} bytes that do not decode as one\)",
        detail.message,
    )
    with connect(bounded.sidecar.unix_target) as conv:  # and the sidecar keeps serving
        assert conv.api.crm.get_contact("after-garbage").ok
