"""OAuth2 client credentials against the real npm oauth2-mock-server and an API that accepts only
its valid, unexpired tokens: warm at start, one fetch for many callers, refreshed ahead of expiry,
401 -> refetch -> retry once, a failing token endpoint named by its status and nothing else."""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace

from custom_api_client import connect, connect_async, errors
from custom_api_sidecar.auth import ClientCredentials, Credentials
from custom_api_sidecar.config import OAuth2Auth
from custom_api_sidecar.secrets import SecretSettings, build_secret_store
from tests._support.oauth2_server import OAuth2MockServer, ProtectedApi
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

CLIENT_ID = "crm-client"
SECRET = "cs-9f2b7d4e1a6c3e58"
ROTATED_SECRET = "cs-rotated-2c8e5a1f7b3d"


@pytest.fixture(autouse=True)
def clean_issuer(issuer: OAuth2MockServer) -> None:
    issuer.reset()


def oauth_config(issuer: OAuth2MockServer, protected: ProtectedApi, upstream: Upstream, secret_file: str) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{protected.url}"}}
    authentication:
      type: oauth2
      config:
        token_url: "{issuer.token_url}"
        client_id: {CLIENT_ID}
        client_secret: "env://CRM_CLIENT_SECRET"
        scopes: [read, write]
        audience: "https://crm.example.com"
        extra_params: {{resource: crm-api}}
    endpoints:
      - {{name: get, method: GET, path: /items}}
      - {{name: create, method: POST, path: /items, request_body: {{type: object}}}}
      - {{name: denied, method: GET, path: /deny/items}}
  - name: crm_body
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm_body"}}
    authentication:
      type: oauth2
      config:
        token_url: "{issuer.token_url}"
        client_id: "env://CRM_CLIENT_ID"
        client_secret: "file://{secret_file}"
        client_auth: body
        auth_header_name: X-Access-Token
        token_prefix: ""
    endpoints: [{{name: get, method: GET, path: /items}}]
  - name: no_issuer
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/no_issuer"}}
    authentication:
      type: oauth2
      config: {{token_url: "http://127.0.0.1:{closed_port()}/token", client_id: c, client_secret: "env://CRM_CLIENT_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /items}}]
"""


def start(config: str, tmp: str) -> ThreadedSidecar:
    store = build_secret_store(
        None,
        SecretSettings(refresh_interval=0.2, retry_interval=0.2),
        environ={"CRM_CLIENT_SECRET": SECRET, "CRM_CLIENT_ID": CLIENT_ID},
    )
    return start_sidecar(config, f"{tmp}/s.sock", secret_store=store)


@pytest.fixture(scope="module")
def secret_file() -> Iterator[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False) as f:
        f.write(SECRET)
    yield f.name


@pytest.fixture(scope="module")
def sidecar(issuer, protected, upstream, secret_file) -> Iterator[ThreadedSidecar]:
    issuer.reset()
    with tempfile.TemporaryDirectory() as tmp:
        running = start(oauth_config(issuer, protected, upstream, secret_file), tmp)
        yield running
        running.stop()


@pytest.fixture
def conv(sidecar):
    with connect(sidecar.unix_target) as c:
        yield c


def token_source(sidecar: ThreadedSidecar, api: str) -> ClientCredentials:
    source = sidecar.sidecar.authenticators[api]
    assert isinstance(source, ClientCredentials)
    return source


def current_token(sidecar: ThreadedSidecar, api: str) -> str:
    token = token_source(sidecar, api)._token
    assert token is not None
    return token.value


def test_token_is_fetched_at_start_with_the_configured_request(sidecar, conv, issuer, protected):
    source = token_source(sidecar, "crm")
    assert source.fetches == 1  # warm before the first call
    fetches = source.fetches
    for _ in range(5):
        response = conv.api.crm.get()
        assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"
    assert source.fetches == fetches  # no call went to the token endpoint
    assert protected.seen[-1][1] == current_token(sidecar, "crm")


def test_client_secret_basic_and_token_request_parameters(sidecar, issuer, protected):
    # The warm-up request of 'crm' went out before this module's first test reset the stats: fetch again.
    protected.revoke(current_token(sidecar, "crm"))
    with connect(sidecar.unix_target) as conv:
        assert conv.api.crm.get().status_code == 200
    (request,) = issuer.stats()["requests"]
    assert request["authorization"] == "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert request["body"] == {
        "grant_type": "client_credentials",
        "scope": "read write",
        "audience": "https://crm.example.com",
        "resource": "crm-api",
    }


def test_client_secret_post_custom_header_and_bare_token(sidecar, conv, issuer, upstream):
    source = token_source(sidecar, "crm_body")  # as after a 401: the next call fetches, so the request is recorded
    source.rejected(Credentials(secrets=(current_token(sidecar, "crm_body"),)))
    conv.api.crm_body.get()
    (request,) = issuer.stats()["requests"]
    assert request["authorization"] is None
    assert request["body"]["client_id"] == CLIENT_ID and request["body"]["client_secret"] == SECRET
    sent = [v for k, v in upstream.last()["headers"] if k.lower() == "x-access-token"]
    assert sent == [current_token(sidecar, "crm_body")]
    assert not [k for k, _ in upstream.last()["headers"] if k.lower() == "authorization"]


async def test_concurrent_callers_without_a_token_share_one_fetch(issuer):
    """Fifty callers, no token yet, a slow token endpoint: exactly one token request."""
    store = build_secret_store(environ={"S": SECRET})
    settings = OAuth2Auth(token_url=issuer.token_url, client_id=CLIENT_ID, client_secret="env://S")
    from custom_api_sidecar.auth._parts import Part

    source = ClientCredentials(
        "crm", settings, Part(CLIENT_ID, store, "sandbox"), Part("env://S", store, "sandbox"), trace.get_tracer("t")
    )
    await store.start()
    issuer.configure(delay_ms=300)
    try:
        results = await asyncio.gather(*(source.credentials(5.0) for _ in range(50)))
    finally:
        await source.aclose()
        await store.aclose()
    assert source.fetches == 1 and issuer.hits == 1
    assert len({c.headers for c in results}) == 1


async def test_fifty_concurrent_401s_cause_one_refetch(sidecar, issuer, protected):
    old = current_token(sidecar, "crm")
    protected.revoke(old)
    async with connect_async(sidecar.unix_target) as conv:
        responses = await asyncio.gather(*(conv.api.crm.get() for _ in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert issuer.hits == 1
    new = current_token(sidecar, "crm")
    assert new != old
    assert sum(1 for _, token, _, status in protected.seen if token == new and status == 200) >= 50


def test_401_refetches_and_retries_once(sidecar, conv, issuer, protected):
    old = current_token(sidecar, "crm")
    protected.revoke(old)
    before = len(protected.seen)
    response = conv.api.crm.create(json={"name": "x"})  # not idempotent, but a 401 means it was refused
    assert response.status_code == 200
    attempts = protected.seen[before:]
    assert [(token == old, status) for _, token, _, status in attempts] == [(True, 401), (False, 200)]
    assert issuer.hits == 1


def test_a_401_that_a_fresh_token_cannot_fix_is_returned_after_one_retry(sidecar, conv, issuer, protected):
    before = len(protected.seen)
    response = conv.api.crm.denied()
    assert response.status_code == 401  # an upstream answer, returned as a Response
    assert len(protected.seen) - before == 2  # the call and exactly one retry
    assert issuer.hits == 1


def test_failing_token_endpoint_gives_authentication_failed_with_status_only(sidecar, conv, issuer, protected):
    issuer.configure(fail_status=503, fail_body=f"client_secret={SECRET} is wrong")
    protected.revoke(current_token(sidecar, "crm"))
    time.sleep(0.1)
    with pytest.raises(errors.AuthenticationFailed) as info:
        conv.api.crm.get()
    message = str(info.value)
    assert f"the token endpoint {issuer.token_url} answered HTTP 503" in message
    assert SECRET not in message and "client_secret=" not in message
    assert info.value.api == "crm" and info.value.operation == "get"
    issuer.configure(fail_status=None)
    deadline = time.monotonic() + 10
    while True:  # recovers on its own (background retry, or the next call after the short hold)
        try:
            assert conv.api.crm.get().status_code == 200
            break
        except errors.AuthenticationFailed:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_unreachable_token_endpoint(conv, upstream):
    before = len(upstream.requests)
    with pytest.raises(errors.AuthenticationFailed, match=r"could not be reached \(ConnectError\)"):
        conv.api.no_issuer.get()
    assert len(upstream.requests) == before


def test_rotated_client_secret_gets_a_new_token_in_the_background(sidecar, conv, issuer, secret_file):
    old = current_token(sidecar, "crm_body")
    with open(secret_file, "w") as f:
        f.write(ROTATED_SECRET)
    deadline = time.monotonic() + 10
    while current_token(sidecar, "crm_body") == old:
        assert conv.api.crm_body.get().status_code == 200  # calls keep working meanwhile
        assert time.monotonic() < deadline, "no new token after the client secret rotated"
        time.sleep(0.05)
    assert issuer.stats()["requests"][-1]["body"]["client_secret"] == ROTATED_SECRET


def test_short_lived_tokens_are_refreshed_before_expiry_and_no_call_waits(issuer, protected, upstream, secret_file):
    """expires_in 2 s, a token endpoint that takes 300 ms: for 5 s of calls no expired token is
    sent and no call is slow, because refreshes happen in the background at 80% of the lifetime."""
    issuer.configure(expires_in=2, delay_ms=300)
    with tempfile.TemporaryDirectory() as tmp:
        running = start(oauth_config(issuer, protected, upstream, secret_file), tmp)
        try:
            with connect(running.unix_target) as conv:
                first = len(protected.seen)
                slowest = 0.0
                end = time.monotonic() + 5
                calls = 0
                while time.monotonic() < end:
                    started = time.perf_counter()
                    assert conv.api.crm.get().status_code == 200
                    slowest = max(slowest, time.perf_counter() - started)
                    calls += 1
                    time.sleep(0.02)
            seen = protected.seen[first:]
            fetches = token_source(running, "crm").fetches
        finally:
            running.stop()
    assert calls > 50
    assert all(status == 200 for *_, status in seen)
    assert not [entry for entry in seen if entry[2] <= entry[0]]  # never an expired token
    assert len({token for _, token, _, _ in seen}) >= 3  # several tokens over 5 s ...
    assert fetches >= 3
    assert slowest < 0.25  # ... and no call waited on the 300 ms token endpoint


async def test_the_token_request_goes_through_our_httpx_client_with_httpx2_installed():
    """authlib >= 1.9 binds its httpx integration to httpx2 whenever that is installed (the MCP SDK
    depends on it, so it is here); the token client uses only authlib's protocol part, over our
    httpx client and the transport it is given (the egress-checked one in the sidecar)."""
    import httpx
    import httpx2  # installed with the sidecar extra: this suite runs with both

    assert httpx2.__version__.startswith("2.")
    sent: list[httpx.Request] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"access_token": "tok-1", "token_type": "Bearer", "expires_in": 60})

    store = build_secret_store(environ={"S": SECRET})
    settings = OAuth2Auth(
        token_url="https://issuer.example/token", client_id=CLIENT_ID, client_secret="env://S", scopes=("read",)
    )
    from custom_api_sidecar.auth._parts import Part

    source = ClientCredentials(
        "crm",
        settings,
        Part(CLIENT_ID, store, "sandbox"),
        Part("env://S", store, "sandbox"),
        trace.get_tracer("t"),
        transport=httpx.MockTransport(token_endpoint),
    )
    await store.start()
    try:
        credentials = await source.credentials(5.0)
    finally:
        await source.aclose()
        await store.aclose()
    assert credentials.headers == (("Authorization", "Bearer tok-1"),)
    (request,) = sent
    assert request.method == "POST" and str(request.url) == "https://issuer.example/token"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.content == b"grant_type=client_credentials&scope=read"


@pytest.mark.parametrize(
    ("expires_in", "took", "refresh_after"),
    [
        (3600, 0.3, 2880.0),  # a long lifetime: at 80%
        (2, 0.3, 1.2),  # short, slow endpoint: the next token arrives (twice over) before 1.8 s
        (2, 0.9, 1.0),  # never before half the lifetime
    ],
)
async def test_the_refresh_is_scheduled_so_the_next_token_arrives_before_expiry(expires_in, took, refresh_after):
    import httpx

    now = [100.0]

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        now[0] += took  # the request takes this long on the source's clock
        return httpx.Response(200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": expires_in})

    store = build_secret_store(environ={"S": SECRET})
    from custom_api_sidecar.auth._parts import Part

    source = ClientCredentials(
        "crm",
        OAuth2Auth(token_url="https://issuer.example/token", client_id=CLIENT_ID, client_secret="env://S"),
        Part(CLIENT_ID, store, "sandbox"),
        Part("env://S", store, "sandbox"),
        trace.get_tracer("t"),
        clock=lambda: now[0],
        transport=httpx.MockTransport(token_endpoint),
    )
    await store.start()
    try:
        await source.credentials(5.0)
    finally:
        await source.aclose()
        await store.aclose()
    token = source._token
    assert token is not None and token.expires_at is not None
    assert token.refresh_at - 100.0 == pytest.approx(refresh_after)
    assert token.expires_at - 100.0 == pytest.approx(expires_in * 0.9 if expires_in < 300 else expires_in - 30)
