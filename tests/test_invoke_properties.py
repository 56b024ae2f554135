"""Property-based tests of the Invoke surface (issue 20): an agent (its arguments often written by
an LLM) can send any request, well-formed or not, and any bytes. Every one ends in an upstream
Response or one of our typed errors, with its ErrorDetail and a bounded message: never INTERNAL,
UNKNOWN or CANCELLED, and the sidecar keeps serving. Requests are generated around the real
operations (names, argument names, JSON bodies) so they reach binding, validation and the upstream,
not only the first "unknown API"."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from tests._support.sidecar import ThreadedSidecar

ERROR_KEY = "custom-api-error-bin"
TYPED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED,
}
# Operations of tests/_support/configs.py, with the arguments they take.
OPERATIONS = {
    ("salesforce", "get_contact"): ["contact_id"],
    ("stripe", "create_payment"): ["amount", "currency"],
    ("upstream", "search"): ["q", "limit", "tags", "exact", "x_request_id"],
    ("upstream", "item"): ["item_id"],
    ("upstream", "post"): [],
    ("upstream", "status"): ["code"],
    ("dead", "ping"): [],
    ("limited", "ping"): [],
}

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["../admin", "a/b", "%2F", "x\r\nInjected: 1", "\x00", "é", "{}", "", " ", "a" * 300]),
)
values = st.recursive(
    st.one_of(
        st.builds(lambda: pb.Value(null_value=True)),
        st.booleans().map(lambda v: pb.Value(bool_value=v)),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda v: pb.Value(int_value=v)),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda v: pb.Value(double_value=v)),
        texts.map(lambda v: pb.Value(string_value=v)),
        st.binary(max_size=40).map(lambda v: pb.Value(bytes_value=v)),
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4).map(lambda items: pb.Value(list_value=pb.ListValue(values=items))),
        st.lists(st.tuples(texts, kids), max_size=4).map(
            lambda pairs: pb.Value(map_value=pb.MapValue(entries=[pb.MapEntry(key=k, value=v) for k, v in pairs]))
        ),
    ),
    max_leaves=12,
)
pairs = st.lists(st.tuples(texts, texts), max_size=5).map(lambda kv: [pb.KeyValue(key=k, value=v) for k, v in kv])
# valid header names with any value: what reaches the HTTP client's own checks
named = st.lists(st.tuples(st.sampled_from(["X-A", "X-Request-Id", "Accept"]), texts), max_size=3).map(
    lambda kv: [pb.KeyValue(key=k, value=v) for k, v in kv]
)


REQUIRED = {"contact_id", "item_id", "amount", "q", "code"}
# Plausible values per argument: a sane request reaches binding, the upstream and the response.
PLAUSIBLE = {
    "contact_id": st.text(min_size=1, max_size=12).map(lambda v: pb.Value(string_value=v)),
    "item_id": st.text(min_size=1, max_size=12).map(lambda v: pb.Value(string_value=v)),
    "amount": st.integers(-5, 10**6).map(lambda v: pb.Value(int_value=v)),
    "currency": st.sampled_from(["usd", "eur", ""]).map(lambda v: pb.Value(string_value=v)),
    "q": texts.map(lambda v: pb.Value(string_value=v)),
    "limit": st.integers(-5, 500).map(lambda v: pb.Value(int_value=v)),
    "tags": st.lists(texts, max_size=3).map(
        lambda v: pb.Value(list_value=pb.ListValue(values=[pb.Value(string_value=t) for t in v]))
    ),
    "exact": st.booleans().map(lambda v: pb.Value(bool_value=v)),
    "x_request_id": texts.map(lambda v: pb.Value(string_value=v)),
    "code": st.integers(100, 599).map(lambda v: pb.Value(int_value=v)),
}


@st.composite
def requests(draw: st.DrawFn) -> pb.InvokeRequest:
    """Half plausible calls of a real operation (a hostile value here and there), half anything."""
    (api, operation), arguments = draw(st.sampled_from(sorted(OPERATIONS.items())))
    if draw(st.booleans()):
        optional = [a for a in arguments if a not in REQUIRED]
        chosen = [a for a in arguments if a in REQUIRED]
        chosen += draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
        request = pb.InvokeRequest(
            api=api,
            operation=operation,
            keywords=[pb.MapEntry(key=name, value=draw(PLAUSIBLE[name])) for name in chosen],
            params=draw(st.one_of(st.just([]), pairs)),
            headers=draw(st.one_of(st.just([]), pairs, named)),
            timeout_seconds=draw(st.sampled_from([0.0, 2.0, 0.001])),
        )
        if operation in ("create_payment", "post") and draw(st.booleans()):
            request.json = draw(st.sampled_from([b'{"amount": 100, "currency": "usd"}', b"[1, 2]", b"{", b"null"]))
        return request
    if draw(st.booleans()):  # a hostile name now and then
        api = draw(st.one_of(texts, st.just(api)))
        operation = draw(st.one_of(texts, st.just(operation)))
    keyword_names = st.one_of(st.sampled_from(arguments), texts) if arguments else texts
    request = pb.InvokeRequest(
        api=api,
        operation=operation,
        positional=draw(st.lists(values, max_size=3)),
        keywords=[pb.MapEntry(key=k, value=v) for k, v in draw(st.lists(st.tuples(keyword_names, values), max_size=4))],
        params=draw(pairs),
        headers=draw(pairs),
        content_type=draw(st.sampled_from(["", "application/json", "text/plain", "x" * 300])),
        timeout_seconds=draw(st.one_of(st.just(0.0), st.floats(allow_nan=True, allow_infinity=True))),
    )
    body = draw(st.sampled_from(["none", "json", "form", "raw"]))
    if body == "json":
        request.json = draw(st.one_of(st.binary(max_size=60), st.just(b'{"amount": 100, "currency": "usd"}')))
    elif body == "form":
        request.form.extend(draw(pairs))
    elif body == "raw":
        request.raw_body = draw(st.binary(max_size=60))
    if draw(st.booleans()):
        request.background = draw(st.booleans())
    return request


def answers_or_says_why(call: Any, payload: Any) -> None:
    try:
        response = call(payload, timeout=15)
    except grpc.RpcError as exc:
        assert exc.code() in TYPED, (exc.code(), exc.details())
        detail = dict(exc.trailing_metadata() or ()).get(ERROR_KEY)
        assert detail is not None, f"{exc.code()} without our ErrorDetail: {exc.details()}"
        parsed = pb.ErrorDetail.FromString(detail)
        assert parsed.code not in (pb.ErrorCode.INTERNAL, pb.ErrorCode.ERROR_CODE_UNSPECIFIED), parsed
        assert len(parsed.message) <= 2048
    else:
        assert 100 <= response.status_code <= 599 and math.isfinite(response.elapsed_seconds)


@pytest.fixture(scope="module")
def stub(running: ThreadedSidecar):  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(running.unix_target) as channel:
        yield channel


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(request=requests())
def test_every_invoke_request_gets_a_response_or_a_typed_error(stub: grpc.Channel, request: pb.InvokeRequest) -> None:
    answers_or_says_why(sidecar_pb2_grpc.CustomApiSidecarStub(stub).Invoke, request)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=st.one_of(st.binary(max_size=200), requests().map(lambda r: r.SerializeToString()[:-1] + b"\xff")))
def test_any_bytes_as_a_request_get_a_response_or_a_typed_error(stub: grpc.Channel, frame: bytes) -> None:
    """Bytes that are not a request (or happen to decode as one) through a raw method handle."""
    invoke = stub.unary_unary(
        "/custom_api_sidecar.v1.CustomApiSidecar/Invoke",
        request_serializer=lambda raw: raw,
        response_deserializer=pb.InvokeResponse.FromString,
    )
    answers_or_says_why(invoke, frame)


@pytest.mark.parametrize("value", ["\x1f", "\x7f", "é", "\u2028", "😀", "a\rb"])
def test_a_header_value_the_http_client_would_refuse_is_an_invalid_argument(stub: grpc.Channel, value: str) -> None:
    """Found by the property above: a control or non-ASCII character in a header value (or the
    raw body's content type) reached the HTTP client, which raised, and the call got INTERNAL."""
    invoke = sidecar_pb2_grpc.CustomApiSidecarStub(stub).Invoke
    for request in (
        pb.InvokeRequest(api="upstream", operation="post", headers=[pb.KeyValue(key="X-A", value=value)]),
        pb.InvokeRequest(api="upstream", operation="post", raw_body=b"x", content_type=value),
    ):
        with pytest.raises(grpc.RpcError) as info:
            invoke(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "holds a control or non-ASCII character" in (info.value.details() or "")


def test_the_sidecar_still_serves_after_the_properties(stub: grpc.Channel) -> None:
    request = pb.InvokeRequest(api="upstream", operation="item", positional=[pb.Value(string_value="42")])
    assert sidecar_pb2_grpc.CustomApiSidecarStub(stub).Invoke(request, timeout=10).status_code == 200
