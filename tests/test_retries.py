"""Retries done right, against a real upstream: Retry-After honoured only within the caller's
deadline, non-idempotent methods retried only with an Idempotency-Key, a retry budget, and
exponential backoff with full jitter."""

from __future__ import annotations

import email.utils
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

from custom_api_client import connect
from custom_api_sidecar import parse_config
from custom_api_sidecar.pipeline.retry import Retry
from custom_api_sidecar.registry import Registry
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"


PARAMETERS = "[{name: fail, in: query}, {name: status, in: query}, {name: retry_after, in: query}]"


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: flaky
    connection: {{{LOCAL}, base_url: "{upstream.url}/flaky", retry_attempts: 2, timeout_ms: 5000,
                  retry: {{backoff_ms: 10, max_backoff_ms: 40}}}}
    endpoints:
      - {{name: get, method: GET, path: "/{{key}}", parameters: {PARAMETERS}}}
      - {{name: create, method: POST, path: "/{{key}}", parameters: {PARAMETERS}}}
  - name: thrifty
    connection: {{{LOCAL}, base_url: "{upstream.url}/flaky", retry_attempts: 1,
                  retry: {{backoff_ms: 1, max_backoff_ms: 1, budget_ratio: 0.0}}}}
    endpoints:
      - {{name: get, method: GET, path: "/{{key}}", parameters: [{{name: fail, in: query}}]}}
"""


@pytest.fixture(scope="module")
def running(upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(config(upstream), f"{tmp}/s.sock")
        yield sidecar
        sidecar.stop()


@pytest.fixture
def conv(running):
    with connect(running.unix_target) as c:
        yield c


def key() -> str:
    return uuid.uuid4().hex[:12]


def test_a_502_is_retried_with_backoff_then_succeeds(conv):
    response = conv.api.flaky.get(key(), fail=2, status=502)
    assert response.status_code == 200 and response.json() == {"attempt": 3}


def test_retry_after_in_seconds_is_honoured_when_it_fits(conv):
    started = time.monotonic()
    response = conv.api.flaky.get(key(), fail=1, status=429, retry_after="1")
    took = time.monotonic() - started
    assert response.status_code == 200 and response.json() == {"attempt": 2}
    assert 0.9 < took < 3.0


def test_retry_after_as_an_http_date(conv):
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    response = conv.api.flaky.get(key(), fail=1, status=503, retry_after=when)
    assert response.status_code == 200


def test_a_retry_after_past_the_deadline_returns_the_response_at_once(conv):
    started = time.monotonic()
    response = conv.api.flaky.get(key(), fail=1, status=503, retry_after="30", timeout=3)
    took = time.monotonic() - started
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert took < 1.0  # never sleeps past the deadline


def test_post_after_a_5xx_is_retried_only_with_an_idempotency_key(conv, upstream):
    plain = key()
    assert conv.api.flaky.create(plain, fail=1, status=503).status_code == 503
    assert len([r for r in upstream.requests if plain in r["path"]]) == 1  # not repeated
    keyed = key()
    response = conv.api.flaky.create(keyed, fail=1, status=503, headers={"Idempotency-Key": "order-42"})
    assert response.status_code == 200
    sent = [r for r in upstream.requests if keyed in r["path"]]
    assert len(sent) == 2
    assert all(["idempotency-key", "order-42"] in [[k.lower(), v] for k, v in r["headers"]] for r in sent)


def test_a_429_with_retry_after_is_retried_for_any_method(conv):
    assert conv.api.flaky.create(key(), fail=1, status=429, retry_after="0").status_code == 200


def test_the_retry_budget_stops_retries_amplifying_an_outage(conv, upstream, running):
    """budget_ratio 0: the burst allowance (10 retries) is all there is."""
    before = len(upstream.requests)
    for _ in range(20):
        assert conv.api.thrifty.get(key(), fail=5).status_code == 503
    sent = len(upstream.requests) - before
    assert sent == 20 + 10  # 20 calls, only 10 of them retried
    assert running.sidecar.generation.retry.denied >= 10


def test_backoff_has_full_jitter():
    registry = Registry(
        parse_config(
            "apis: [{name: a, connection: {base_url: 'https://a.example', retry: {backoff_ms: 100, max_backoff_ms: "
            "1000}}, endpoints: [{name: g, method: GET, path: /g}]}]"
        ),
        "sandbox",
    )
    bounds: list[tuple[float, float]] = []
    retry = Retry(registry, jitter=lambda low, high: bounds.append((low, high)) or high)

    class FakeCall:
        operation = registry.api("a").operations["g"]

    for attempt in range(6):
        retry._backoff(FakeCall(), attempt)  # type: ignore[arg-type]
    assert bounds == [(0.0, 0.1), (0.0, 0.2), (0.0, 0.4), (0.0, 0.8), (0.0, 1.0), (0.0, 1.0)]
