"""End to end through real gRPC (unix socket and TCP) to a real local HTTP server."""

from __future__ import annotations

import base64
import datetime
import json

import pytest

from custom_api_client import HTTPError, Response, connect_async
from tests._support.upstream import pattern_bytes


def sent(response: Response) -> dict:
    """What the echo upstream saw."""
    return response.json()


def sent_headers(response: Response) -> dict[str, str]:
    return {k.lower(): v for k, v in sent(response)["headers"]}


# --- the seed's examples, verbatim -------------------------------------------


def test_seed_get_contact_positional(conv):
    response = conv.api.salesforce.get_contact("123")
    assert response.status_code == 200
    assert sent(response)["path"] == "/echo/sf-sandbox/contacts/123"  # 'draft' is the sandbox alias


def test_seed_get_contact_keyword(conv):
    response = conv.api.salesforce.get_contact(contact_id="123")
    assert response.status_code == 200
    assert sent(response)["path"] == "/echo/sf-sandbox/contacts/123"


def test_seed_create_payment(conv):
    response = conv.api.stripe.create_payment(
        amount=100,
        params={"expand": "customer"},
        json={"amount": 100, "currency": "usd"},
        headers={"X-Custom-Header": "value"},
    )
    seen = sent(response)
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/stripe/v1/payments"
    assert seen["query"] == "expand=customer"
    assert json.loads(seen["body"]) == {"amount": 100, "currency": "usd"}
    assert sent_headers(response)["x-custom-header"] == "value"
    assert sent_headers(response)["content-type"] == "application/json"


def test_seed_body_argument_fills_json_body(conv):
    response = conv.api.stripe.create_payment(amount=250, currency="eur")
    assert json.loads(sent(response)["body"]) == {"amount": 250, "currency": "eur"}


def test_seed_response_handling(conv):
    response = conv.api.salesforce.get_contact("123")
    assert response.status_code == 200
    response.raise_for_status()
    data = response.json()
    assert data["method"] == "GET"


# --- every Response attribute --------------------------------------------------


def test_response_attributes(conv, upstream):
    r = conv.api.salesforce.get_contact("123")
    assert r.status_code == 200
    assert r.ok is True and bool(r) is True
    assert r.reason == "OK"
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["content-type"] == "application/json"
    assert json.loads(r.text) == r.json()
    assert isinstance(r.content, bytes) and json.loads(r.content) == r.json()
    assert isinstance(r.elapsed, datetime.timedelta) and r.elapsed.total_seconds() > 0
    assert r.url == f"{upstream.url}/echo/sf-sandbox/contacts/123"
    assert r.http_version == "HTTP/1.1"
    assert repr(r) == "<Response [200]>"
    r.raise_for_status()  # no error on 2xx


def test_upstream_404_is_a_response(conv):
    r = conv.api.upstream.status(404)
    assert r.status_code == 404 and r.reason == "Not Found" and not r.ok
    assert r.json() == {"status": 404}
    with pytest.raises(HTTPError) as info:
        r.raise_for_status()
    assert info.value.response is r
    assert "404 Client Error: Not Found for url:" in str(info.value)


def test_upstream_500_is_a_response(conv):
    r = conv.api.upstream.status(500)
    assert r.status_code == 500 and not r.ok
    with pytest.raises(HTTPError, match="500 Server Error"):
        r.raise_for_status()


def test_multi_valued_headers_keep_order(conv):
    r = conv.api.upstream.multi_headers()
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert r.headers["X-Multi"] == "first, second"
    names = [k.lower() for k, _ in r.headers.multi_items()]
    assert names.index("set-cookie") < names.index("x-multi")
    assert r.text == "ok" and r.encoding == "utf-8"


def test_upstream_cookies_are_not_kept_between_calls(conv):
    # One sidecar serves many conversations: a cookie set for one must never ride along on another.
    conv.api.upstream.multi_headers()
    sent = conv.api.upstream.item("after-cookie").json()["headers"]
    assert not [v for k, v in sent if k.lower() == "cookie"]


def test_binary_body(conv):
    r = conv.api.upstream.bytes(1000)
    assert r.content == pattern_bytes(1000)
    assert r.headers["content-type"] == "application/octet-stream"


def test_empty_body(conv):
    r = conv.api.upstream.empty()
    assert r.status_code == 200 and r.content == b"" and r.text == ""


def test_head_request(conv):
    r = conv.api.upstream.head_empty()
    assert r.status_code == 200 and r.content == b""


def test_five_megabyte_body_beyond_grpc_default(conv):
    size = 5 * 1024 * 1024  # gRPC's default max message is 4 MB
    r = conv.api.upstream.bytes(size)
    assert len(r.content) == size and r.content == pattern_bytes(size)


def test_gzip_body_is_decoded(conv):
    assert conv.api.upstream.gzip().json() == {"zipped": True}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_methods_with_bodies(conv, method):
    r = getattr(conv.api.upstream, method)(json={"k": "v"})
    assert sent(r)["method"] == method.upper()
    assert json.loads(sent(r)["body"]) == {"k": "v"}


def test_form_data(conv):
    r = conv.api.upstream.post(data={"a": "1", "b": ["x", "y"]})
    assert sent(r)["body"] == "a=1&b=x&b=y"
    assert sent_headers(r)["content-type"] == "application/x-www-form-urlencoded"


def test_raw_body_with_content_type(conv):
    payload = bytes(range(256))
    r = conv.api.upstream.post(data=payload, headers={"Content-Type": "application/octet-stream"})
    assert base64.b64decode(sent(r)["body_b64"]) == payload
    assert sent_headers(r)["content-type"] == "application/octet-stream"


def test_query_parameters_declared_and_params(conv):
    r = conv.api.upstream.search(q="a b", limit=5, tags=["x", "y"], exact=True, params={"extra": ["1", "2"]})
    assert sent(r)["query"] == "q=a+b&limit=5&tags=x&tags=y&exact=true&extra=1&extra=2"


def test_header_parameter_by_keyword(conv):
    r = conv.api.upstream.search(q="x", x_request_id="req-1")
    assert sent_headers(r)["x-request-id"] == "req-1"


# --- asyncio -----------------------------------------------------------------


async def test_async_client_seed_examples(running):
    async with connect_async(running.unix_target) as conv:
        r = await conv.api.salesforce.get_contact("123")
        assert r.status_code == 200 and r.json()["path"].endswith("/contacts/123")
        r = await conv.api.salesforce.get_contact(contact_id="123")
        assert r.ok
        r = await conv.api.stripe.create_payment(
            amount=100,
            params={"expand": "customer"},
            json={"amount": 100, "currency": "usd"},
            headers={"X-Custom-Header": "value"},
        )
        assert r.json()["query"] == "expand=customer"
        assert await conv.api.list() == ["salesforce", "stripe", "upstream", "dead", "limited"]
        r = await conv.api.upstream.status(503)
        assert r.status_code == 503
        with pytest.raises(HTTPError):
            r.raise_for_status()


async def test_async_concurrent_calls(running):
    import asyncio

    async with connect_async(running.tcp_target) as conv:
        results = await asyncio.gather(*(conv.api.upstream.item(str(i)) for i in range(50)))
    assert sorted(r.json()["path"] for r in results) == sorted(f"/echo/items/{i}" for i in range(50))


def test_five_megabyte_request_body(conv):
    import hashlib

    payload = b"x" * (5 * 1024 * 1024)  # over gRPC's 4 MB default, under the 10 MiB request limit
    seen = conv.api.upstream.post(data=payload).json()
    assert seen["body_length"] == len(payload)
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
