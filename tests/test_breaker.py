"""The circuit breaker: a hanging upstream costs a caller milliseconds once the breaker opens,
other APIs are unaffected, probes close it when the upstream recovers; and the pure state logic
(ratio over a window, half-open) with a fake clock."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_client.proto.sidecar_pb2 import ErrorCode, InvokeRequest
from custom_api_sidecar.config import CircuitBreakerPolicy
from custom_api_sidecar.errors import SidecarError
from custom_api_sidecar.pipeline import Call
from custom_api_sidecar.pipeline.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, upstream_failed
from tests._support.processes import SidecarProcess
from tests._support.upstream import Upstream


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: hanging
    connection:
      allow_http: true
      private_network: true
      base_url: "{upstream.url}"
      timeout_ms: 300
      circuit_breaker: {{consecutive_failures: 3, open_s: 1.5, half_open_probes: 1}}
    endpoints:
      - {{name: wait, method: GET, path: "/delay/{{seconds}}"}}
  - name: healthy
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/healthy"}}
    endpoints:
      - {{name: get, method: GET, path: /items}}
"""


@pytest.fixture(scope="module")
def running(upstream, tmp_path_factory) -> Iterator[SidecarProcess]:
    """A real serve process: the timings below are the sidecar's, not this test process's GIL."""
    directory = tmp_path_factory.mktemp("breaker")
    (directory / "apis.yaml").write_text(config(upstream))
    sidecar = SidecarProcess(
        directory / "apis.yaml", directory / "s.sock", extra_args=["--jobs-db", str(directory / "j.db")]
    )
    yield sidecar
    sidecar.stop()


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def wait_for_line(sidecar: SidecarProcess, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in sidecar.output:
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{sidecar.output[-2000:]}"
        time.sleep(0.02)


def test_a_hanging_upstream_fails_fast_and_others_are_unaffected(running):
    healthy: list[float] = []
    stop = threading.Event()

    def other_api() -> None:
        with connect(running.target) as conv:
            while not stop.wait(0.005):  # a steady 150-200 calls/s beside the outage
                started = time.perf_counter()
                assert conv.api.healthy.get().status_code == 200
                healthy.append((time.perf_counter() - started) * 1000)

    with connect(running.target) as conv:
        baseline = []
        for _ in range(50):
            started = time.perf_counter()
            conv.api.healthy.get()
            baseline.append((time.perf_counter() - started) * 1000)
        caller = threading.Thread(target=other_api)
        caller.start()
        try:
            for _ in range(3):  # each waits the 0.3 s timeout
                with pytest.raises(errors.Timeout):
                    conv.api.hanging.wait("5")
            fast: list[float] = []
            for _ in range(20):
                started = time.perf_counter()
                with pytest.raises(errors.CircuitOpen) as caught:
                    conv.api.hanging.wait("5")
                fast.append((time.perf_counter() - started) * 1000)
            assert "the circuit breaker is open (3 failures in a row)" in caught.value.message
            assert "the next attempt goes through in" in caught.value.message
            wait_for_line(running, "circuit breaker of API 'hanging': closed -> open (3 failures in a row)")
            time.sleep(1.6)  # half-open: one probe goes through, the upstream still hangs
            with pytest.raises(errors.Timeout):
                conv.api.hanging.wait("5")
            with pytest.raises(errors.CircuitOpen):
                conv.api.hanging.wait("0")
            wait_for_line(running, "half_open -> open (a probe call failed)")
            time.sleep(1.6)  # the upstream has recovered: the probe succeeds and closes it
            assert conv.api.hanging.wait("0").status_code == 200
            wait_for_line(running, "half_open -> closed (a probe call succeeded)")
        finally:
            stop.set()
            caller.join(10)
    # Open: failing costs milliseconds, not the 300 ms timeout. One scheduling hiccup of this shared
    # 2-core machine (seen: 80 ms once in CI) is allowed.
    ordered = sorted(fast)
    print(
        f"\nbreaker: open calls failed in median {statistics.median(fast):.2f} ms, max {max(fast):.2f} ms; "
        f"healthy API during the outage: {len(healthy)} calls, p99 {p99(healthy):.2f} ms "
        f"(before: p99 {p99(baseline):.2f} ms)"
    )
    assert statistics.median(fast) < 10 and ordered[-2] < 10, fast
    assert ordered[-1] < 150, fast  # even the hiccup is far below the timeout: nothing waited on the upstream
    assert len(healthy) > 20 and p99(healthy) < 100


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_failure_ratio_over_the_window_opens_it():
    clock = Clock()
    breaker = Breaker("api", CircuitBreakerPolicy(consecutive_failures=100, failure_ratio=0.5, min_calls=10), clock)
    for n in range(9):
        breaker.record(failed=n % 2 == 0)  # 5 of 9 failed, but fewer than min_calls
        clock.now += 1
    assert breaker.state == CLOSED
    breaker.record(failed=False)  # 5 of 10: the ratio is reached
    assert breaker.state == OPEN and breaker.reason == "5 of the last 10 calls failed"


def test_old_results_leave_the_window():
    clock = Clock()
    breaker = Breaker("api", CircuitBreakerPolicy(consecutive_failures=100, min_calls=4, window_s=10), clock)
    for _ in range(3):
        breaker.record(failed=True)
    clock.now += 60  # the failures are old now
    for _ in range(3):
        breaker.record(failed=False)
    breaker.record(failed=True)
    assert breaker.state == CLOSED  # 1 of 4 in the window


def test_half_open_admits_only_the_probes():
    clock = Clock()
    breaker = Breaker("api", CircuitBreakerPolicy(consecutive_failures=1, open_s=5, half_open_probes=2), clock)
    breaker.record(failed=True)
    assert breaker.state == OPEN and not breaker.admit()
    clock.now += 5
    assert breaker.admit() and breaker.state == HALF_OPEN
    assert breaker.admit() and not breaker.admit()  # two probes, no more
    breaker.record(failed=True)
    assert breaker.state == OPEN and breaker.retry_at == clock.now + 5


def test_a_released_probe_lets_the_next_call_probe():
    """A probe that ends with no verdict (its caller's deadline or cancellation) gives its place up."""
    clock = Clock()
    breaker = Breaker("api", CircuitBreakerPolicy(consecutive_failures=1, open_s=5, half_open_probes=1), clock)
    breaker.record(failed=True)
    clock.now += 5
    assert breaker.admit()
    period = breaker.probe_period()
    assert period is not None and not breaker.admit()
    breaker.release(period)
    assert breaker.admit() and breaker.state == HALF_OPEN  # the next call probes
    breaker.record(failed=False)
    assert breaker.state == CLOSED


def test_a_release_from_an_earlier_half_open_period_frees_no_probe():
    clock = Clock()
    breaker = Breaker("api", CircuitBreakerPolicy(consecutive_failures=1, open_s=5, half_open_probes=1), clock)
    breaker.record(failed=True)
    clock.now += 5
    assert breaker.admit()
    stale = breaker.probe_period()
    assert breaker.admit() is False
    breaker.record(failed=True)  # another call's failure reopens it; the first probe is still out
    clock.now += 5
    assert breaker.admit()  # the second period's probe
    breaker.release(stale)  # the first period's probe ends late: not this period's
    assert not breaker.admit()
    closed = Breaker("api", CircuitBreakerPolicy(), clock)
    assert closed.admit() and closed.probe_period() is None  # a closed breaker's calls are no probes
    closed.release(None)
    assert closed.state == CLOSED


@pytest.mark.parametrize(
    ("code", "callers_deadline", "counts"),
    [
        (ErrorCode.TIMEOUT, False, True),  # the API's own timeout ran out
        (ErrorCode.TIMEOUT, True, False),  # a shorter deadline the caller chose ran out
        (ErrorCode.CONNECTION_REFUSED, True, True),  # whatever the caller's deadline
        (ErrorCode.UPSTREAM_PROTOCOL_ERROR, False, True),
        (ErrorCode.SSL_ERROR, False, True),
        (ErrorCode.INVALID_ARGUMENT, False, False),
        (ErrorCode.RATE_LIMITED, False, False),
        (ErrorCode.AUTHENTICATION_FAILED, False, False),
    ],
)
def test_which_failures_are_the_upstream_s(code, callers_deadline, counts):
    call = Call(request=InvokeRequest(api="api", operation="op"), callers_deadline=callers_deadline)
    assert upstream_failed(call, SidecarError(code, "x")) is counts
