"""Every bad input gets a typed error naming what was wrong; nothing reaches the upstream."""

from __future__ import annotations

import time

import grpc
import pytest

from custom_api_client import connect, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from tests._support.sidecar import closed_port, start_sidecar


def count(upstream) -> int:
    return len(upstream.requests)


# --- unknown names -------------------------------------------------------------


def test_unknown_api_suggests(conv):
    with pytest.raises(errors.UnknownApi) as info:
        conv.api.salesfroce.get_contact("1")
    err = info.value
    assert err.code == "UNKNOWN_API"
    assert "salesforce" in err.suggestions
    assert "did you mean 'salesforce'" in str(err)


def test_unknown_operation_suggests(conv):
    with pytest.raises(errors.UnknownOperation) as info:
        conv.api.salesforce.get_contacts("1")
    assert info.value.suggestions == ("get_contact",)
    assert info.value.api == "salesforce" and info.value.operation == "get_contacts"
    assert "did you mean 'get_contact'" in str(info.value)


def test_all_errors_share_one_base(conv):
    with pytest.raises(errors.CustomApiError):
        conv.api.nope.nothing()


# --- arguments -----------------------------------------------------------------


def test_missing_path_argument(conv, upstream):
    before = count(upstream)
    with pytest.raises(errors.InvalidArgument, match=r"missing required argument\(s\): contact_id"):
        conv.api.salesforce.get_contact()
    assert count(upstream) == before


def test_too_many_positional(conv):
    with pytest.raises(errors.InvalidArgument, match="takes 1 positional argument"):
        conv.api.salesforce.get_contact("1", "2")


def test_path_variable_given_twice(conv):
    with pytest.raises(errors.InvalidArgument, match="multiple values for path variable 'contact_id'"):
        conv.api.salesforce.get_contact("1", contact_id="2")


def test_unexpected_keyword_lists_accepted(conv, upstream):
    before = count(upstream)
    with pytest.raises(errors.InvalidArgument) as info:
        conv.api.upstream.search(q="x", limt=3)
    err = info.value
    assert "unexpected argument 'limt'" in str(err)
    assert "did you mean 'limit'" in str(err)
    assert "accepted: exact, limit, q, tags, x_request_id" in str(err)
    assert err.field == "limt"
    assert count(upstream) == before


def test_missing_required_query_parameter(conv):
    with pytest.raises(errors.InvalidArgument, match=r"missing required argument.*q"):
        conv.api.upstream.search(limit=3)


def test_wrong_type_for_declared_parameter(conv):
    with pytest.raises(errors.InvalidArgument, match="argument 'limit' must be integer, not str"):
        conv.api.upstream.search(q="x", limit="three")
    with pytest.raises(errors.InvalidArgument, match="argument 'exact' must be boolean, not int"):
        conv.api.upstream.search(q="x", exact=1)


def test_json_and_data_together(conv):
    with pytest.raises(errors.InvalidArgument, match="json= or data="):
        conv.api.upstream.post(json={"a": 1}, data={"b": 2})


def test_body_argument_conflicting_with_json(conv):
    with pytest.raises(errors.InvalidArgument, match="conflicts with json"):
        conv.api.stripe.create_payment(amount=1, json={"amount": 2})


def test_unserializable_values_fail_in_the_client(conv):
    with pytest.raises(errors.InvalidArgument, match="json= body is not JSON-serializable"):
        conv.api.upstream.post(json={"when": object()})
    with pytest.raises(errors.InvalidArgument, match="cannot be sent"):
        conv.api.salesforce.get_contact(object())
    with pytest.raises(errors.InvalidArgument, match="timeout= must be a positive number"):
        conv.api.salesforce.get_contact("1", timeout=-1)


# --- hostile path values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_path"),
    [
        ("../admin", "/echo/items/..%2Fadmin"),
        ("a/b", "/echo/items/a%2Fb"),
        ("%2F", "/echo/items/%252F"),
        ("x\r\nHost: evil", "/echo/items/x%0D%0AHost%3A%20evil"),
        ("?q=1#f", "/echo/items/%3Fq%3D1%23f"),
        ("ünï cödé", "/echo/items/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9"),
    ],
)
def test_hostile_path_values_stay_one_segment(conv, value, expected_path):
    seen = conv.api.upstream.item(value).json()
    assert seen["path"] == expected_path
    assert seen["query"] == ""


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_path_values_that_would_change_the_path_are_refused(conv, upstream, value):
    before = count(upstream)
    with pytest.raises(errors.InvalidArgument, match="path variable 'item_id' must not be"):
        conv.api.upstream.item(value)
    assert count(upstream) == before


def test_path_values_for_two_variables(conv):
    assert conv.api.upstream.pair("../x", second="y/z").json()["path"] == "/echo/a/..%2Fx/b/y%2Fz"


def test_header_injection_refused(conv, upstream):
    before = count(upstream)
    with pytest.raises(errors.InvalidArgument, match="control or non-ASCII character"):
        conv.api.upstream.empty(headers={"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(errors.InvalidArgument, match="not a valid HTTP token"):
        conv.api.upstream.empty(headers={"Bad Name": "x"})
    with pytest.raises(errors.InvalidArgument, match="'Host' is set by the sidecar"):
        conv.api.upstream.empty(headers={"Host": "evil.example"})
    assert count(upstream) == before


def test_query_values_cannot_escape(conv):
    seen = conv.api.upstream.search(q="a&b=c#d").json()
    assert seen["query"] == "q=a%26b%3Dc%23d"


# --- size limits -----------------------------------------------------------------


def test_request_too_large(conv):
    with pytest.raises(errors.RequestTooLarge, match="limit is 1000"):
        conv.api.limited.ping(data=b"x" * 1001)


def test_response_too_large(conv):
    with pytest.raises(errors.ResponseTooLarge, match="exceeds the 6000000-byte limit"):
        conv.api.upstream.bytes(6_000_001)


# --- dead and slow upstreams ------------------------------------------------------


def test_connection_refused(conv):
    start = time.monotonic()
    with pytest.raises(errors.ConnectionRefused) as info:
        conv.api.dead.ping()
    assert info.value.code == "CONNECTION_REFUSED"
    assert "dead.ping" in str(info.value)
    assert time.monotonic() - start < 2


def test_upstream_slower_than_operation_timeout(conv):
    start = time.monotonic()
    with pytest.raises(errors.Timeout, match=r"did not answer within 0.5 s"):
        conv.api.upstream.delay(3)
    assert time.monotonic() - start < 2


def test_per_call_timeout_wins_when_shorter(conv):
    start = time.monotonic()
    with pytest.raises(errors.Timeout, match=r"within 0.2 s"):
        conv.api.upstream.delay(0.45, timeout=0.2)
    assert time.monotonic() - start < 0.45


def test_grpc_deadline_wins_when_shorter(running):
    channel = grpc.insecure_channel(running.tcp_target)
    stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        stub.Invoke(
            pb.InvokeRequest(
                api="upstream",
                operation="delay",
                keywords=[pb.MapEntry(key="seconds", value=pb.Value(double_value=0.45))],
            ),
            timeout=0.15,
        )
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 0.45
    channel.close()


def test_slow_upstream_within_timeout_succeeds(conv):
    assert conv.api.upstream.delay(0.1).json() == {"delayed": 0.1}


# --- security layer -----------------------------------------------------------------


def test_url_allowlist(upstream, tmp_path):
    sidecar = _limited_sidecar(upstream, tmp_path)
    try:
        with connect(sidecar.unix_target) as conv:
            assert conv.api.limited.ping().ok
            with pytest.raises(errors.UrlNotAllowed, match="not in the API's url_allowlist"):
                conv.api.limited.other()
    finally:
        sidecar.stop()


def test_rate_limit(upstream, tmp_path):
    sidecar = _limited_sidecar(upstream, tmp_path)
    try:
        with connect(sidecar.unix_target) as conv:
            for _ in range(3):
                assert conv.api.limited.ping().ok
            before = count(upstream)
            with pytest.raises(errors.RateLimited, match="3 requests per minute reached"):
                conv.api.limited.ping()
            assert count(upstream) == before
    finally:
        sidecar.stop()


def _limited_sidecar(upstream, tmp_path):
    from tests._support.configs import test_config

    return start_sidecar(test_config(upstream.url, closed_port()), str(tmp_path / "s.sock"))


# --- the raw contract, for non-Python agents ----------------------------------------


def test_error_detail_in_trailing_metadata(running):
    channel = grpc.insecure_channel(running.tcp_target)
    stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Invoke(pb.InvokeRequest(api="salesforce", operation="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    detail = dict(info.value.trailing_metadata())["custom-api-error-bin"]
    parsed = pb.ErrorDetail.FromString(detail)
    assert parsed.code == pb.ErrorCode.UNKNOWN_OPERATION
    assert parsed.api == "salesforce" and parsed.operation == "nope"
    channel.close()


def test_every_error_code_maps_to_one_status_and_one_exception():
    from custom_api_client.errors import _BY_CODE
    from custom_api_sidecar.errors import GRPC_STATUS

    codes = [c for c in pb.ErrorCode.values() if c != pb.ErrorCode.ERROR_CODE_UNSPECIFIED]
    assert sorted(GRPC_STATUS) == sorted(codes)
    assert sorted(_BY_CODE) == sorted(pb.ErrorCode.Name(c) for c in codes)


def test_body_arguments_with_form_data_refused(conv):
    with pytest.raises(errors.InvalidArgument, match=r"body arguments \(amount\) make a JSON body"):
        conv.api.stripe.create_payment(amount=1, data={"currency": "usd"})


def test_required_parameter_given_as_none_is_missing(conv):
    with pytest.raises(errors.InvalidArgument, match=r"missing required argument\(s\): q"):
        conv.api.upstream.search(q=None)
