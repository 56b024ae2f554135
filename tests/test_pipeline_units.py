"""Pipeline logic with an injected httpx.MockTransport (pure logic; no sockets)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.values import from_value, to_value
from custom_api_sidecar import Sidecar, SidecarError, parse_config
from custom_api_sidecar.pipeline import Call
from custom_api_sidecar.pipeline.security import LocalLimits, RateLimiter

CONFIG = """
apis:
  - name: api
    connection: {base_url: "https://api.example.com/v1", retry_attempts: 2, timeout_ms: 2000}
    endpoints:
      - {name: get, method: GET, path: /things}
      - {name: post, method: POST, path: /things}
"""


def sidecar_with(handler) -> Sidecar:
    return Sidecar(parse_config(CONFIG), transport_factory=lambda api, egress: httpx.MockTransport(handler))


async def invoke(sidecar: Sidecar, operation: str, **fields) -> object:
    return await sidecar.handle(Call(request=pb.InvokeRequest(api="api", operation=operation, **fields)))


async def test_transport_is_injected_and_url_is_under_base():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"ok": True})

    response = await invoke(sidecar_with(handler), "get", params=[pb.KeyValue(key="a", value="1")])
    assert response.status_code == 200
    assert seen == ["https://api.example.com/v1/things?a=1"]


async def test_connection_refused_is_retried_then_succeeds():
    attempts = []

    def handler(request):
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ConnectError("refused")
        return httpx.Response(200)

    assert (await invoke(sidecar_with(handler), "post")).status_code == 200
    assert len(attempts) == 3


async def test_retries_give_up_with_the_typed_error():
    def handler(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(SidecarError) as info:
        await invoke(sidecar_with(handler), "get")
    assert info.value.code_name == "CONNECTION_REFUSED"


@pytest.mark.parametrize(("operation", "expected_attempts"), [("get", 3), ("post", 1)])
async def test_503_retried_only_for_idempotent_methods(operation, expected_attempts):
    attempts = []

    def handler(request):
        attempts.append(1)
        return httpx.Response(503)

    assert (await invoke(sidecar_with(handler), operation)).status_code == 503
    assert len(attempts) == expected_attempts


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ConnectError("x"), "CONNECTION_REFUSED"),
        (httpx.RemoteProtocolError("x"), "UPSTREAM_PROTOCOL_ERROR"),
        (httpx.ReadError("x"), "UPSTREAM_PROTOCOL_ERROR"),
        (httpx.ReadTimeout("x"), "TIMEOUT"),
    ],
)
async def test_httpx_errors_are_translated(exc, code):
    def handler(request):
        raise exc

    with pytest.raises(SidecarError) as info:
        await invoke(sidecar_with(handler), "post")
    assert info.value.code_name == code
    assert "api.post: https://api.example.com/v1/things" in info.value.message


@pytest.mark.parametrize(
    ("cause", "code"),
    [(ssl.SSLCertVerificationError("bad cert"), "SSL_ERROR"), (socket.gaierror("no such host"), "ENDPOINT_NOT_FOUND")],
)
async def test_connect_error_causes(cause, code):
    def handler(request):
        try:
            raise cause
        except Exception as inner:
            raise httpx.ConnectError("failed") from inner

    with pytest.raises(SidecarError) as info:
        await invoke(sidecar_with(handler), "post")
    assert info.value.code_name == code


async def test_redacted_url_in_response_and_errors():
    def handler(request):
        assert request.url.params["api_key"] == "s3cret"  # the upstream gets the real value
        return httpx.Response(200)

    response = await invoke(sidecar_with(handler), "get", params=[pb.KeyValue(key="api_key", value="s3cret")])
    assert response.url == "https://api.example.com/v1/things?api_key=REDACTED"

    def failing(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(SidecarError) as info:
        await invoke(sidecar_with(failing), "post", params=[pb.KeyValue(key="token", value="s3cret")])
    assert "s3cret" not in info.value.message and "token=REDACTED" in info.value.message


async def test_rate_limiter_windows_reset():
    now = [0.0]
    sidecar = Sidecar(
        parse_config(CONFIG.replace("endpoints:", "security: {rate_limit: {requests_per_minute: 2}}\n    endpoints:"))
    )
    limiter = RateLimiter(sidecar.registry, LocalLimits(sidecar.registry, clock=lambda: now[0]))
    op = sidecar.registry.operation("api", "get")

    async def ok(call):
        return "ok"

    async def attempt():
        return await limiter(Call(request=pb.InvokeRequest(), operation=op), ok)

    assert await attempt() == "ok" and await attempt() == "ok"
    with pytest.raises(SidecarError, match="retry in 60 s"):
        await attempt()
    now[0] = 60.0
    assert await attempt() == "ok"


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -(2**63), 2**63 - 1, 1.5, "", "ünï", b"\x00\xff", [1, "a", None], {"b": {"c": [1.0]}}],
)
def test_value_round_trip(value):
    assert from_value(to_value(value)) == value
    assert type(from_value(to_value(value))) is type(value)


def test_value_out_of_range():
    from custom_api_client.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="does not fit in 64 bits"):
        to_value(2**63)


@pytest.mark.parametrize("value", ["conv-1\n", "conv-1\nforged line", "x" * 129, ""])
def test_a_conversation_id_that_could_break_a_log_line_is_refused(value: str) -> None:
    from custom_api_sidecar.pipeline.context import read_context

    with pytest.raises(SidecarError) as info:
        read_context((("x-conversation-id", value),))
    assert (info.value.field == "x-conversation-id" and value[:10] not in info.value.message) or value == ""
