"""Metrics: /metrics on the admin listener scrapes in the Prometheus text format, and the same
instruments go out over OTLP to a real OTLP/gRPC receiver. Attribute sets stay bounded."""

from __future__ import annotations

import re
import tempfile
import urllib.request
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.metrics import make_metrics
from custom_api_sidecar.secrets import build_secret_store
from tests._support.otlp_receiver import OtlpReceiver
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

SECRET = "metrics-canary-6b2f"


def config(upstream: Upstream, token_url: str) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}", retry_attempts: 1}}
    authentication: {{type: api_key, config: {{param_name: api_key, key: "env://M_KEY"}}}}
    endpoints:
      - {{name: item, method: GET, path: "/echo/items/{{item_id}}"}}
      - {{name: status, method: GET, path: "/status/{{code}}"}}
    security: {{rate_limit: {{requests_per_minute: 4}}}}
  - name: dead
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{closed_port()}",
                  retry_attempts: 1, timeout_ms: 2000}}
    endpoints: [{{name: ping, method: GET, path: /ping}}]
  - name: oauth
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/oauth"}}
    authentication:
      type: oauth2
      config: {{token_url: "{token_url}", client_id: metrics-client, client_secret: "env://M_KEY"}}
    endpoints: [{{name: ping, method: GET, path: /ping}}]
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def running(upstream, issuer, receiver) -> Iterator[ThreadedSidecar]:
    env = {
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }
    import os

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env | {"OTEL_METRIC_EXPORT_INTERVAL": "500"})  # the exporter reads its settings here
    try:
        metrics = make_metrics(admin=True, env=env)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream, issuer.token_url),
            f"{tmp}/s.sock",
            admin=("127.0.0.1", 0),
            metrics=metrics,
            secret_store=build_secret_store(environ={"M_KEY": SECRET}),
        )
        yield sidecar
        sidecar.stop()


def scrape(sidecar: ThreadedSidecar) -> str:
    with urllib.request.urlopen(f"{sidecar.admin_url}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def value(text: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} (\S+)$", text, re.M)
    assert match, f"no sample matching {pattern!r} in:\n{text}"
    return float(match.group(1))


def test_metrics_scrape(running):
    with connect(running.unix_target) as conv:
        for n in range(3):
            conv.api.crm.item(f"i{n}")
        conv.api.crm.status(503)  # retried once, then returned
        with pytest.raises(errors.RateLimited):
            conv.api.crm.item("over")
        with pytest.raises(errors.ConnectionRefused):
            conv.api.dead.ping()
        conv.api.oauth.ping()
    text = scrape(running)
    assert "# TYPE custom_api_sidecar_calls_total counter" in text
    ok = r'custom_api_sidecar_calls_total\{custom_api_api="crm",custom_api_operation="item",outcome="ok"\}'
    assert value(text, ok) == 3
    http_error = (
        r'custom_api_sidecar_calls_total\{custom_api_api="crm",custom_api_operation="status",outcome="http_error"\}'
    )
    assert value(text, http_error) == 1
    assert value(text, r'custom_api_sidecar_errors_total\{custom_api_api="crm",error_type="RATE_LIMITED"\}') == 1
    assert value(text, r'custom_api_sidecar_rate_limited_total\{custom_api_api="crm"\}') == 1
    assert value(text, r'custom_api_sidecar_retries_total\{custom_api_api="crm"\}') == 1
    assert value(text, r'custom_api_sidecar_retries_total\{custom_api_api="dead"\}') == 1
    assert value(text, r'custom_api_sidecar_calls_in_flight\{custom_api_api="crm"\}') == 0
    assert value(text, r'custom_api_sidecar_oauth2_token_fetches_total\{custom_api_api="oauth"\}') >= 1
    assert "# TYPE http_client_request_duration_seconds histogram" in text
    labels = r'custom_api_api="crm",http_request_method="GET",http_response_status_code="200"'
    assert value(text, rf"http_client_request_duration_seconds_count\{{{labels}\}}") == 3
    assert value(text, rf'http_client_request_duration_seconds_bucket\{{{labels},le="\+Inf"\}}') == 3
    # bounded labels: no URL, argument value or secret
    assert "i0" not in text and "/echo" not in text and SECRET not in text and "127.0.0.1" not in text


def test_the_same_instruments_go_out_over_otlp(running, receiver):
    with connect(running.unix_target) as conv:
        conv.api.oauth.ping()
    import time

    deadline = time.monotonic() + 15
    wanted = {"custom_api_sidecar.calls", "http.client.request.duration", "custom_api_sidecar.calls.in_flight"}
    while not wanted <= receiver.metric_names() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wanted <= receiver.metric_names()


def test_no_admin_listener_and_no_exporter_means_no_provider():
    metrics = make_metrics(admin=False, env={})
    assert metrics.provider is None and metrics.prometheus_text() == ""
