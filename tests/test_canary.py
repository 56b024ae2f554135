"""The canary test: every auth type runs with recognizable secret values, and none of them appears
anywhere the agent (responses, URLs, errors, bodies echoing the request), the logs (every logger at
DEBUG, the access log included), the exported spans (names, attributes, events, statuses), the
audit stream, /metrics, the dashboard (page and JSON) or a connection test's results can see, while
the upstream did receive each one, so the test cannot pass by sending nothing."""

from __future__ import annotations

import json
import logging
import pathlib
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import Response, connect, errors
from custom_api_sidecar.audit import AuditLog
from custom_api_sidecar.auth import ClientCredentials
from custom_api_sidecar.connection_check import ConnectionChecker, reports_json
from custom_api_sidecar.metrics import make_metrics
from custom_api_sidecar.secrets import build_secret_store
from tests._support.oauth2_server import OAuth2MockServer, ProtectedApi
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

CANARY = "CANARY-7f3a"
SECRETS = {
    "C_KEY_HEADER": f"{CANARY}-keyheader-91c2",
    "C_KEY_QUERY": f"{CANARY}-keyquery-4d8e",
    "C_BEARER": f"{CANARY}-bearer-62af",
    "C_BASIC_USER": f"{CANARY}-user-0b7d",
    "C_BASIC_PASS": f"{CANARY}-pass-e35c",
    "C_CUSTOM": f"{CANARY}-custom-8a14",
    "C_PREFIXED": f"{CANARY}-prefixed-3e07",
    "C_CLIENT_SECRET": f"{CANARY}-clientsecret-5f90",
}


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def canary_config(upstream: Upstream, issuer: OAuth2MockServer, protected: ProtectedApi) -> str:
    reflect = f"{upstream.url}/reflect"
    oauth = f"""{{type: oauth2, config: {{token_url: "{issuer.token_url}", client_id: "env://C_BASIC_USER",
        client_secret: "env://C_CLIENT_SECRET", scopes: [read]}}}}"""
    apis = [
        ("key_header", reflect, '{type: api_key, config: {header_name: X-API-Key, key: "env://C_KEY_HEADER"}}'),
        ("key_query", reflect, '{type: api_key, config: {param_name: api_key, key: "env://C_KEY_QUERY"}}'),
        ("bearer", reflect, '{type: bearer_token, config: {token: "env://C_BEARER"}}'),
        (
            "basic",
            reflect,
            '{type: basic_auth, config: {username: "env://C_BASIC_USER", password: "env://C_BASIC_PASS"}}',
        ),
        (
            "custom",
            reflect,
            '{type: custom_header, config: {headers: [{name: X-Custom-Auth, value: "env://C_CUSTOM"}, '
            "{name: X-Tenant-ID, value: tenant_123}]}}",
        ),
        (  # a seed-003 tool header such as `Authorization: Bearer <reference>`
            "custom_prefixed",
            reflect,
            '{type: custom_header, config: {headers: [{name: X-Token, prefix: "Token ", value: "env://C_PREFIXED"}]}}',
        ),
        ("oauth_reflect", reflect, oauth),
        ("oauth_protected", protected.url, oauth),
        (
            "key_query_dead",
            f"http://127.0.0.1:{closed_port()}",
            '{type: api_key, config: {param_name: api_key, key: "env://C_KEY_QUERY"}}',
        ),
        ("missing", reflect, '{type: bearer_token, config: {token: "env://C_NOT_SET"}}'),
    ]
    # The same credentials against an upstream that echoes the whole request in its body.
    apis += [(f"echo_{name}", f"{upstream.url}/echo", auth) for name, _, auth in apis[:7]]
    return "apis:" + "".join(
        f"""
  - name: {name}
    connection: {{allow_http: true, private_network: true, base_url: "{base}/{name}", timeout_ms: 3000,
                  circuit_breaker: {{enabled: false}}}}
    authentication: {auth}
    endpoints:
      - {{name: get, method: GET, path: /items, parameters: [{{name: q, in: query}}]}}
"""
        for name, base, auth in apis
    )


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("canary-audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def running(upstream, issuer, protected, exporter, audit_file) -> Iterator[ThreadedSidecar]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = build_secret_store(environ=SECRETS)
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            canary_config(upstream, issuer, protected),
            f"{tmp}/s.sock",
            tracer_provider=provider,
            secret_store=store,
            audit=AuditLog(str(audit_file), flush_interval=0.05),
            metrics=make_metrics(admin=True, env={}),
            admin=("127.0.0.1", 0),
        )
        yield sidecar
        sidecar.stop()


def operator_views(running: ThreadedSidecar, audit_file: pathlib.Path) -> list[str]:
    """What operators see: the audit stream, /metrics, the dashboard page and JSON, and a
    connection test's results (over the RPC, and as the CLI prints them)."""
    time.sleep(0.2)  # the audit writer flushes every 0.05 s
    texts = [audit_file.read_text() if audit_file.exists() else ""]
    for path in ("/metrics", "/", "/api/apis", "/api/calls"):
        with urllib.request.urlopen(running.admin_url + path, timeout=5) as response:
            texts.append(response.read().decode())
    with connect(running.unix_target) as conv:
        texts.append(json.dumps(conv.api.test_connection()))
    reports = running.run(ConnectionChecker(running.sidecar).run())
    texts += [reports_json(reports), *(report.as_text() for report in reports)]
    assert '"type":"call"' in texts[0]  # the audit stream did record the calls
    return texts


@pytest.fixture
def conv(running):
    with connect(running.unix_target) as c:
        yield c


@pytest.fixture
def seen(caplog, exporter, running, audit_file) -> Iterator[list[str]]:
    """Collects what the agent saw; at teardown adds every log record and span, then checks for secrets."""
    exporter.clear()
    caplog.set_level(logging.DEBUG)  # every logger, the access log and httpx included
    agent: list[str] = []
    yield agent
    agent.extend(operator_views(running, audit_file))
    tokens = [source._token.value for source in oauth_sources(running) if source._token is not None]
    forbidden = [*SECRETS.values(), *tokens]
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    visible = [*agent, *log_texts(records), *span_texts(exporter)]
    assert any(r.name == "custom_api_sidecar.access" for r in records), "the access log was not captured"
    for secret in forbidden:
        leaks = [text for text in visible if secret in text]
        assert not leaks, f"secret leaked: {leaks[:3]}"
    assert not [text for text in visible if CANARY in text]


def oauth_sources(running: ThreadedSidecar) -> list[ClientCredentials]:
    return [a for a in running.sidecar.authenticators.values() if isinstance(a, ClientCredentials)]


def log_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    out = []
    for record in records:
        out.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            out.append(repr(record.exc_info[1]))
        if record.exc_text:
            out.append(record.exc_text)
    return out


def span_texts(exporter: InMemorySpanExporter) -> list[str]:
    out = []
    for span in exporter.get_finished_spans():
        out.append(span.name)
        out.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        out.append(span.status.description or "")
        for event in span.events:
            out.append(event.name)
            out.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    return out


def response_texts(response: Response) -> list[str]:
    return [response.url, response.text, response.reason, *(f"{k}: {v}" for k, v in response.headers.items())]


def error_texts(err: errors.CustomApiError) -> list[str]:
    return [str(err), err.message, err.field, err.api, err.operation, *err.suggestions]


def upstream_saw(upstream: Upstream, secret: str) -> bool:
    last = upstream.last()
    return secret in last["query"] or any(secret in value for _, value in last["headers"])


@pytest.mark.parametrize(
    ("api", "env"),
    [
        ("key_header", "C_KEY_HEADER"),
        ("key_query", "C_KEY_QUERY"),
        ("bearer", "C_BEARER"),
        ("custom", "C_CUSTOM"),
        ("custom_prefixed", "C_PREFIXED"),
    ],
)
def test_static_credentials_reach_only_the_upstream(conv, seen, upstream, api, env):
    response = getattr(conv.api, api).get(q="x")
    seen.extend(response_texts(response))
    assert response.status_code == 200
    assert upstream_saw(upstream, SECRETS[env])
    assert response.headers.get("X-Reflect-User-Agent")  # the upstream does echo headers back


@pytest.mark.parametrize(
    "api", ["key_header", "key_query", "bearer", "basic", "custom", "custom_prefixed", "oauth_reflect"]
)
def test_an_upstream_echoing_the_request_in_its_body_shows_it_redacted(conv, seen, upstream, running, api):
    import base64

    response = getattr(conv.api, f"echo_{api}").get(q="x")
    seen.extend(response_texts(response))
    assert response.status_code == 200
    echoed = response.json()
    assert "REDACTED" in echoed["raw_path"] + json.dumps(echoed["headers"])  # echoed where it was
    sent = {
        "key_header": SECRETS["C_KEY_HEADER"],
        "key_query": SECRETS["C_KEY_QUERY"],
        "bearer": SECRETS["C_BEARER"],
        "basic": base64.b64encode(f"{SECRETS['C_BASIC_USER']}:{SECRETS['C_BASIC_PASS']}".encode()).decode(),
        "custom": SECRETS["C_CUSTOM"],
        "custom_prefixed": SECRETS["C_PREFIXED"],
        "oauth_reflect": next(s._token.value for s in oauth_sources(running) if s.api == "echo_oauth_reflect"),
    }[api]
    assert upstream_saw(upstream, sent)


def test_basic_auth_reaches_only_the_upstream(conv, seen, upstream):
    import base64

    response = conv.api.basic.get()
    seen.extend(response_texts(response))
    expected = base64.b64encode(f"{SECRETS['C_BASIC_USER']}:{SECRETS['C_BASIC_PASS']}".encode()).decode()
    assert upstream_saw(upstream, f"Basic {expected}")
    seen.append(expected)  # the encoded form must not be visible either ...
    assert not [h for h in response.headers.values() if expected in h]


def test_oauth2_token_and_client_secret_reach_only_their_peers(conv, seen, upstream, issuer, running, exporter):
    response = conv.api.oauth_reflect.get()
    seen.extend(response_texts(response))
    (token,) = [s._token.value for s in oauth_sources(running) if s.api == "oauth_reflect" and s._token]
    assert upstream_saw(upstream, f"Bearer {token}")
    assert response.status_code == 200
    # The token request happened (at start) with the client secret: force one inside this test's capture.
    source = next(s for s in oauth_sources(running) if s.api == "oauth_protected")
    source.rejected(_sent(token_of(source)))
    response = conv.api.oauth_protected.get()
    seen.extend(response_texts(response))
    assert response.status_code == 200
    assert issuer.stats()["requests"][-1]["authorization"] is not None  # the client secret went to the issuer
    assert [s for s in exporter.get_finished_spans() if s.attributes.get("oauth2.grant_type")]  # token span exported


def test_401_retry(conv, seen, protected, running):
    source = next(s for s in oauth_sources(running) if s.api == "oauth_protected")
    conv.api.oauth_protected.get()
    protected.revoke(token_of(source))
    response = conv.api.oauth_protected.get()
    seen.extend(response_texts(response))
    assert response.status_code == 200
    assert [status for *_, status in protected.seen[-2:]] == [401, 200]


def test_token_endpoint_down_echoing_the_secret(conv, seen, issuer, running):
    source = next(s for s in oauth_sources(running) if s.api == "oauth_protected")
    issuer.configure(fail_status=401, fail_body=f"bad client_secret {SECRETS['C_CLIENT_SECRET']}")
    try:
        source.rejected(_sent(token_of(source)))
        with pytest.raises(errors.AuthenticationFailed) as info:
            conv.api.oauth_protected.get()
    finally:
        issuer.reset()
    seen.extend(error_texts(info.value))
    assert "answered HTTP 401" in str(info.value)


def test_credentials_unavailable(conv, seen):
    with pytest.raises(errors.CredentialsUnavailable) as info:
        conv.api.missing.get()
    seen.extend(error_texts(info.value))
    assert "env://C_NOT_SET" in str(info.value)


def test_connection_error_shows_the_query_key_redacted(conv, seen):
    with pytest.raises(errors.ConnectionRefused) as info:
        conv.api.key_query_dead.get(q="x")
    seen.extend(error_texts(info.value))
    assert "api_key=REDACTED" in str(info.value)


def test_caller_override_attempt(conv, seen, upstream):
    with pytest.raises(errors.InvalidArgument) as info:
        conv.api.key_header.get(headers={"X-API-Key": "guess"})
    seen.extend(error_texts(info.value))


def token_of(source: ClientCredentials) -> str:
    assert source._token is not None
    return source._token.value


def _sent(token: str):
    from custom_api_sidecar.auth import Credentials

    return Credentials(secrets=(token,))
