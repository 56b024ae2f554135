"""No echoed credential reaches the agent (issue 20, item 6).

httpbin, the real echo server, hands back every credential the sidecar injects: request headers
in ``/headers`` and ``/anything``, the query key decoded in ``/get``'s ``args`` and partly
re-encoded in its ``url``, the user name from ``/basic-auth``. For every auth type the agent sees
``REDACTED`` in the value's place, over gRPC, as an MCP tool result and as a background job's
result, and none of the secret in any form; a body without an echo arrives byte for byte.
The echo itself proves the credential was sent: ``REDACTED`` stands exactly where httpbin put it.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import urllib.request
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from custom_api_client import Response, connect
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.mcp import McpHttpSettings
from custom_api_sidecar.pipeline import UpstreamResponse
from custom_api_sidecar.pipeline.redact import MIN_SUBSTRING_SECRET, echoes
from custom_api_sidecar.secrets import build_secret_store
from tests._support.httpbin_server import Httpbin
from tests._support.oauth2_server import OAuth2MockServer
from tests._support.sidecar import ThreadedSidecar, start_sidecar

CANARY = "CANARY-rd"
SECRETS = {
    "R_KEY": f"{CANARY}-keyheader-1f4c",
    # A query key with characters every encoder treats differently: "/" (httpbin's url decodes it
    # again), "+" and "=" (kept encoded), a space ("+"), a non-ASCII letter (%C3%A9, or \u00e9 in JSON).
    "R_QUERY": f"{CANARY}/query+key=é 7b",
    "R_BEARER": f"{CANARY}-bearer/62+af=",
    "R_USER": f"{CANARY}-user-0b7d",
    "R_PASS": f"{CANARY}-pass-e35c",
    "R_CUSTOM": f"{CANARY}-custom-8a14",
    "R_CLIENT_SECRET": f"{CANARY}-clientsecret-5f90",
    "R_SHORT": "Zq9",  # shorter than MIN_SUBSTRING_SECRET: redacted only where it stands whole
}
LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"


def config(httpbin: str, token_url: str) -> str:
    auth = {
        "key_header": '{type: api_key, config: {header_name: X-API-Key, key: "env://R_KEY"}}',
        "key_query": '{type: api_key, config: {param_name: api_key, key: "env://R_QUERY"}}',
        "bearer": '{type: bearer_token, config: {token: "env://R_BEARER"}}',
        "basic": '{type: basic_auth, config: {username: "env://R_USER", password: "env://R_PASS"}}',
        "custom": '{type: custom_header, config: {headers: [{name: X-Custom-Auth, value: "env://R_CUSTOM"}, '
        "{name: X-Tenant-ID, value: tenant_123}]}}",
        "short_key": '{type: api_key, config: {header_name: X-Short-Key, key: "env://R_SHORT"}}',
        "oauth": f'{{type: oauth2, config: {{token_url: "{token_url}", client_id: rd-client, '
        'client_secret: "env://R_CLIENT_SECRET", scopes: [read]}}',
    }
    return "apis:" + "".join(
        f"""
  - name: {name}
    connection: {{{LOCAL}, base_url: "{httpbin}"}}
    authentication: {value}
    endpoints:
      - {{name: headers, method: GET, path: /headers}}
      - {{name: get, method: GET, path: /get, parameters: [{{name: q, in: query}}]}}
      - {{name: anything, method: POST, path: /anything,
          request_body: {{type: object, properties: {{note: {{type: string}}}}}}}}
      - {{name: basic_auth, method: GET, path: "/basic-auth/{{user}}/{{passwd}}"}}
      - {{name: json, method: GET, path: /json}}
      - {{name: bytes, method: GET, path: "/bytes/{{n}}", parameters: [{{name: seed, in: query, type: integer}}]}}
"""
        for name, value in auth.items()
    )


@pytest.fixture(scope="module")
def httpbin() -> Iterator[Httpbin]:
    server = Httpbin()
    yield server
    server.close()


@pytest.fixture(scope="module")
def running(httpbin: Httpbin, issuer: OAuth2MockServer, tmp_path_factory) -> Iterator[ThreadedSidecar]:
    jobs = SqliteJobStore(tmp_path_factory.mktemp("redaction-jobs") / "jobs.sqlite3")
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(httpbin.url, issuer.token_url),
            f"{tmp}/s.sock",
            secret_store=build_secret_store(environ=SECRETS),
            job_store=jobs,
            mcp=McpHttpSettings("127.0.0.1", 0),
        )
        yield sidecar
        sidecar.stop(grace=1)


@pytest.fixture
def conv(running: ThreadedSidecar):
    with connect(running.unix_target) as c:
        yield c


def token(running: ThreadedSidecar) -> str:
    return running.sidecar.authenticators["oauth"]._token.value  # type: ignore[attr-defined]


def forms(secret: str) -> set[str]:
    """The ways a test could find a leaked secret in what the agent got."""
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


def assert_no_leak(texts: Iterable[str], *extra: str) -> None:
    secrets = [*SECRETS.values(), *extra]
    basic = base64.b64encode(f"{SECRETS['R_USER']}:{SECRETS['R_PASS']}".encode()).decode()
    texts = list(texts)
    for secret in [*secrets, basic]:
        if len(secret) < MIN_SUBSTRING_SECRET:
            continue  # "Zq9" may be part of other text; its own test checks where it stands whole
        leaks = [text for text in texts for form in forms(secret) if form in text]
        assert not leaks, f"{secret!r} leaked: {leaks[:2]}"
    assert not [text for text in texts if CANARY in text]


def visible(response: Response) -> list[str]:
    return [response.url, response.text, response.reason, *(f"{k}: {v}" for k, v in response.headers.items())]


# --- every auth type, echoed by httpbin ------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "header", "shown"),
    [
        ("key_header", "X-Api-Key", "REDACTED"),
        ("bearer", "Authorization", "REDACTED"),  # "Bearer <token>" is itself a listed secret form
        ("basic", "Authorization", "REDACTED"),
        ("custom", "X-Custom-Auth", "REDACTED"),
        ("short_key", "X-Short-Key", "REDACTED"),
        ("oauth", "Authorization", "REDACTED"),
    ],
)
def test_headers_echoed_in_the_body_show_redacted(conv, running, api, header, shown):
    response = getattr(conv.api, api).headers()
    assert response.status_code == 200
    echoed = response.json()["headers"]
    assert echoed[header] == shown
    assert echoed["User-Agent"].startswith("custom-api-sidecar/")  # the rest of the echo is untouched
    if api == "custom":
        assert echoed["X-Tenant-Id"] == "tenant_123"  # a literal (not a reference) is no secret
    assert_no_leak(visible(response), token(running))


def test_a_query_key_echoed_decoded_and_re_encoded_shows_redacted(conv, running):
    response = conv.api.key_query.get(q="shoes and socks")
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["args"] == {"api_key": "REDACTED", "q": "shoes and socks"}
    # httpbin rebuilds the URL with "/" and "é" decoded but "+", "=" and the space still encoded.
    assert echoed["url"].endswith("/get?q=shoes+and+socks&api_key=REDACTED")
    assert response.url.endswith("/get?q=shoes+and+socks&api_key=REDACTED")
    assert_no_leak(visible(response), token(running))


@pytest.mark.parametrize("api", ["key_header", "key_query", "bearer", "basic", "custom", "oauth"])
def test_anything_echoes_the_whole_request_and_keeps_the_agents_data(conv, running, api):
    body = {"note": "hello", "list": [1, 2, 3]}
    response = getattr(conv.api, api).anything(json=body)
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["json"] == body and json.loads(echoed["data"]) == body
    assert "REDACTED" in json.dumps(echoed["headers"]) + json.dumps(echoed["args"])
    assert_no_leak(visible(response), token(running))


def test_basic_auth_checked_by_httpbin_and_its_echo_of_the_user(conv):
    # httpbin's route takes the expected user and password in the path, so here the caller knows
    # them; what is checked is that httpbin accepted the injected credentials and that its echo of
    # the (referenced, so secret) user name in the body is redacted.
    response = conv.api.basic.basic_auth(SECRETS["R_USER"], SECRETS["R_PASS"])
    assert response.status_code == 200
    assert response.json() == {"authenticated": True, "user": "REDACTED"}
    assert_no_leak([response.text])


def test_a_short_secret_is_redacted_only_where_it_stands_whole(conv):
    note = "Zq9x, xZq9 and Zq9 in a sentence"
    response = conv.api.short_key.anything(json={"note": note})
    echoed = response.json()
    assert echoed["headers"]["X-Short-Key"] == "REDACTED"  # a whole JSON string
    assert echoed["json"]["note"] == note  # unrelated text that happens to contain it is untouched


def test_a_body_without_an_echo_arrives_byte_for_byte(conv, httpbin):
    for call, path in [
        (lambda: conv.api.bearer.json(), "/json"),
        (lambda: conv.api.key_query.bytes(4096, seed=7), "/bytes/4096?seed=7"),
    ]:
        with urllib.request.urlopen(httpbin.url + path, timeout=10) as direct:
            expected = direct.read()
        response = call()
        assert response.status_code == 200 and response.content == expected
        assert response.headers["Content-Length"] == str(len(expected))


def test_content_length_follows_a_redacted_body(conv):
    response = conv.api.bearer.headers()
    assert response.headers["Content-Length"] == str(len(response.content))


# --- the other ways an agent sees a response ----------------------------------------------------------


async def test_an_mcp_tool_result_is_redacted(running):
    assert running.mcp_url is not None
    async with (
        httpx2.AsyncClient(timeout=30) as client,
        streamable_http_client(running.mcp_url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        results = [
            await session.call_tool("bearer__headers", {}),
            await session.call_tool("key_query__get", {"q": "x"}),
            await session.call_tool("basic__anything", {"note": "hi"}),
        ]
    dumped = [json.dumps(r.model_dump(by_alias=True, mode="json"), ensure_ascii=False) for r in results]
    assert not any(r.is_error for r in results), dumped
    assert results[0].structured_content["headers"]["Authorization"] == "REDACTED"
    assert results[1].structured_content["args"]["api_key"] == "REDACTED"
    assert_no_leak(dumped, token(running))


def test_a_background_jobs_result_is_redacted(conv, running):
    accepted = conv.api.key_header.headers(background=True)
    assert accepted.status_code == 202
    job = conv.api.jobs.wait(accepted.job_id, timeout=20)
    assert job.state == "succeeded" and job.response is not None
    assert job.response.json()["headers"]["X-Api-Key"] == "REDACTED"
    assert_no_leak([*visible(job.response), json.dumps(job.response.json(), ensure_ascii=False)], token(running))


# --- the forms an echo takes (pure logic) ------------------------------------------------------------------

SECRET = "s3cr/t+k=y é&x<1>'\"\\"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        quote(SECRET, safe="").lower(),  # lower-case hex
        quote(SECRET, safe="/"),
        json.dumps(SECRET)[1:-1],  # \u00e9
        json.dumps(SECRET)[1:-1].replace("\\u00e9", "\\u00E9"),  # upper-case hex
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        json.dumps(SECRET)[1:-1].replace("/", "\\/"),  # PHP
        json.dumps(SECRET)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),  # Go
        "s3cr/t%2Bk%3Dy+\\u00e9%26x%3C1%3E%27%22%5C",  # a mix: werkzeug's URL, then JSON
        "s3cr/t+k=y é&amp;x&lt;1&gt;&#39;&quot;\\",  # HTML
    ],
)
def test_every_echo_form_is_found(form):
    body = ('{"a": "before ' + form + ' after", "b": 1}').encode()
    assert echoes([SECRET]).redact_body(body) == b'{"a": "before REDACTED after", "b": 1}'


def test_a_secret_inside_another_is_redacted_longest_first():
    user, password = "admin-user", "hunter2-admin-user"  # the password ends with the user name
    body = f"{password} and {user}".encode()
    assert echoes([user, password]).redact_body(body) == b"REDACTED and REDACTED"


def test_a_secret_with_no_plain_character_is_still_found():
    assert echoes(["/+/+/+/+"]).redact_body(b'{"k": "%2F%2B%2F%2B\\/+/+"}') == b'{"k": "REDACTED"}'


def response_with(body: bytes, headers: list[tuple[str, str]], reason: str = "OK") -> UpstreamResponse:
    return UpstreamResponse(200, reason, headers, body, 0.0, "https://x")


def test_headers_and_reason():
    response = response_with(
        b'{"token": "tok/1234567"}',
        [
            ("Content-Length", "24"),
            ("Location", "/next?key=tok%2F1234567"),  # percent-encoded
            ("X-Echo-Key", "Bearer tok/1234567"),
            ("X-Token", "ok"),  # named like an injected header
            ("X-Short", " Zq9 "),
            ("X-Mentions", "Zq9x"),
        ],
        reason="Hello tok/1234567",
    )
    dropped = echoes(["tok/1234567", "Zq9"]).redact(response, frozenset({"x-token"}))
    assert dropped == ["Location", "X-Echo-Key", "X-Token", "X-Short"]
    assert response.headers == [("Content-Length", str(len(b'{"token": "REDACTED"}'))), ("X-Mentions", "Zq9x")]
    assert response.body == b'{"token": "REDACTED"}'
    assert response.reason == "Hello REDACTED"


def test_no_secret_no_change():
    body = b'{"x": 1}' * 100
    response = response_with(body, [("Content-Length", str(len(body)))])
    assert echoes([]).redact(response) == [] and response.body is body


# Characters for the text around an echo, none of which a generated secret contains, so the
# expected result is exact: the surroundings untouched, the echo replaced by the marker.
AROUND = '{}[]:, \n#"'
ENCODERS = {
    "raw": lambda s: s,
    "quote": lambda s: quote(s, safe=""),
    "quote_plus": lambda s: quote_plus(s),
    "quote, lower-case hex": lambda s: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")),
    "json": lambda s: json.dumps(s)[1:-1],
    "json, utf-8": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "json, \\/": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "json of quote_plus": lambda s: json.dumps(quote_plus(s))[1:-1],
}


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(
        st.characters(blacklist_characters=AROUND, blacklist_categories=("Cs",)), min_size=MIN_SUBSTRING_SECRET
    ),
    encoder=st.sampled_from(sorted(ENCODERS)),
    before=st.text(AROUND, max_size=8),
    after=st.text(AROUND, max_size=8),
)
def test_any_secret_in_any_encoding_is_redacted_and_nothing_else(secret, encoder, before, after):
    echoed = ENCODERS[encoder](secret)
    body = f"{before}{echoed}{after}".encode("utf-8", "surrogatepass")
    expected = f"{before}REDACTED{after}".encode()
    assert echoes([secret]).redact_body(body) == expected
    untouched = f"{before}{after}".encode()
    assert echoes([secret]).redact_body(untouched) == untouched
