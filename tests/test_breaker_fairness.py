"""Breaker fairness, through a real sidecar process: only failures the upstream caused within the
API's own timeout count. A caller that chooses a shorter deadline (``timeout=``, or its gRPC
deadline) or cancels its call cannot open the breaker for everyone else; a dead upstream, and one
slower than the API's own timeout, still open it; a cancelled half-open probe does not wedge it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from custom_api_client import connect, connect_async, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from tests._support.processes import SidecarProcess
from tests._support.sidecar import closed_port
from tests._support.slow_upstream import SlowUpstream
from tests._support.upstream import Upstream

UPSTREAM_DELAY = 0.05  # the upstream answers every request in 50 ms


def config(slow: str, upstream: Upstream, dead_port: int) -> str:
    loopback = "allow_http: true, private_network: true"
    return f"""
apis:
  - name: fast  # 50 ms answers, a 5 s timeout of its own
    connection:
      {{{loopback}, base_url: "{slow}", timeout_ms: 5000,
       circuit_breaker: {{consecutive_failures: 3, open_s: 60}}}}
    endpoints: [{{name: get, method: GET, path: /items}}]
  - name: deadline  # the same, for callers that set only a gRPC deadline
    connection:
      {{{loopback}, base_url: "{slow}", timeout_ms: 5000,
       circuit_breaker: {{consecutive_failures: 3, open_s: 60}}}}
    endpoints: [{{name: get, method: GET, path: /items}}]
  - name: sluggish  # the upstream is slower than this API's own timeout
    connection:
      {{{loopback}, base_url: "{slow}", timeout_ms: 20,
       circuit_breaker: {{consecutive_failures: 3, open_s: 60}}}}
    endpoints: [{{name: get, method: GET, path: /items}}]
  - name: dead
    connection:
      {{{loopback}, base_url: "http://127.0.0.1:{dead_port}", timeout_ms: 5000,
       circuit_breaker: {{consecutive_failures: 3, open_s: 60}}}}
    endpoints: [{{name: get, method: GET, path: /items}}]
  - name: cancelled  # one failure would open it
    connection:
      {{{loopback}, base_url: "{upstream.url}", timeout_ms: 1500,
       circuit_breaker: {{consecutive_failures: 1, open_s: 60}}}}
    endpoints: [{{name: wait, method: GET, path: "/delay/{{seconds}}"}}]
  - name: probed
    connection:
      {{{loopback}, base_url: "{upstream.url}", timeout_ms: 1000,
       circuit_breaker: {{consecutive_failures: 1, open_s: 1, half_open_probes: 1}}}}
    endpoints: [{{name: wait, method: GET, path: "/delay/{{seconds}}"}}]
"""


@pytest.fixture(scope="module")
def slow() -> Iterator[SlowUpstream]:
    with SlowUpstream(delay=UPSTREAM_DELAY) as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(
    slow: SlowUpstream, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarProcess]:
    directory: Path = tmp_path_factory.mktemp("fairness")
    (directory / "apis.yaml").write_text(config(slow.url, upstream, closed_port()))
    process = SidecarProcess(
        directory / "apis.yaml", directory / "s.sock", extra_args=["--jobs-db", str(directory / "j.db")]
    )
    yield process
    process.stop()


def wait_for_line(sidecar: SidecarProcess, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in sidecar.output:
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{sidecar.output[-3000:]}"
        time.sleep(0.02)


def wait_for_cancelled(sidecar: SidecarProcess, api: str, timeout: float = 10.0) -> None:
    """Until the access log shows a call of ``api`` that ended cancelled (the sidecar saw the cancel)."""
    deadline = time.monotonic() + timeout
    while not any(f"{api}.wait GET" in line and "-> CANCELLED" in line for line in sidecar.lines):
        assert time.monotonic() < deadline, f"no cancelled {api} call logged:\n{sidecar.output[-3000:]}"
        time.sleep(0.02)


def transitions(sidecar: SidecarProcess, api: str) -> list[str]:
    return [line for line in sidecar.lines if f"circuit breaker of API {api!r}" in line]


def test_a_caller_s_short_timeouts_leave_the_breaker_closed_for_everyone(sidecar):
    with connect(sidecar.target, conversation_id="attacker") as conv:
        for _ in range(100):
            with pytest.raises(errors.Timeout) as caught:
                conv.api.fast.get(timeout=0.001)
    assert "(the shorter timeout this call chose)" in caught.value.message
    with connect(sidecar.target, conversation_id="bystander") as conv:
        started = time.perf_counter()
        response = conv.api.fast.get()
        elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert elapsed >= UPSTREAM_DELAY  # it reached the upstream, not a breaker
    assert transitions(sidecar, "fast") == []


def test_a_short_grpc_deadline_does_not_count(sidecar):
    """A caller in any language sets only a gRPC deadline: the sidecar times out on it (or gRPC
    cuts the call first); either way the upstream is not blamed."""
    with grpc.insecure_channel(sidecar.target) as channel:
        stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
        codes = set()
        for _ in range(20):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Invoke(pb.InvokeRequest(api="deadline", operation="get"), timeout=0.02)
            codes.add(caught.value.code())
    assert codes <= {grpc.StatusCode.DEADLINE_EXCEEDED}, codes
    with connect(sidecar.target, conversation_id="bystander") as conv:
        assert conv.api.deadline.get().status_code == 200
    assert transitions(sidecar, "deadline") == []


def test_an_upstream_slower_than_the_api_s_own_timeout_opens_it(sidecar):
    """A longer ``timeout=`` than the API's own changes nothing: the API's 20 ms is the deadline
    that ran out, so the upstream is to blame."""
    with connect(sidecar.target) as conv:
        for timeout in (30.0, None, 5.0):
            with pytest.raises(errors.Timeout) as caught:
                conv.api.sluggish.get(**({"timeout": timeout} if timeout else {}))
            assert "did not answer within 0.02 s" in caught.value.message
            assert "this call chose" not in caught.value.message
        with pytest.raises(errors.CircuitOpen) as opened:
            conv.api.sluggish.get()
    assert "(3 failures in a row)" in opened.value.message
    wait_for_line(sidecar, "circuit breaker of API 'sluggish': closed -> open (3 failures in a row)")


def test_a_dead_upstream_opens_it_whatever_timeout_the_caller_chose(sidecar):
    with connect(sidecar.target) as conv:
        for _ in range(3):
            with pytest.raises(errors.ConnectionRefused):
                conv.api.dead.get(timeout=1)  # shorter than the API's 5 s: still the upstream's failure
        with pytest.raises(errors.CircuitOpen):
            conv.api.dead.get()
    wait_for_line(sidecar, "circuit breaker of API 'dead': closed -> open (3 failures in a row)")


async def cancel_in_flight(sidecar: SidecarProcess, api: str, after: float) -> None:
    """Start a call that waits 3 s upstream and cancel it, client-side, ``after`` seconds in."""
    async with connect_async(sidecar.target) as conv:
        call = asyncio.ensure_future(getattr(conv.api, api).wait("3"))
        await asyncio.sleep(after)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call


async def test_a_cancelled_call_does_not_count(sidecar):
    await cancel_in_flight(sidecar, "cancelled", 0.3)
    wait_for_cancelled(sidecar, "cancelled")
    # Had it run on to the API's 1.5 s timeout, that one failure would have opened it.
    await asyncio.sleep(1.5)
    async with connect_async(sidecar.target) as conv:
        assert (await conv.api.cancelled.wait("0")).status_code == 200
    assert transitions(sidecar, "cancelled") == []


async def test_a_cancelled_half_open_probe_lets_another_call_probe(sidecar):
    """The only probe of a half-open breaker is cancelled by its caller: that says nothing about the
    upstream, so the next call probes in its place (before, the breaker stayed half-open, refusing
    every call, for good)."""
    async with connect_async(sidecar.target) as conv:
        with pytest.raises(errors.Timeout):
            await conv.api.probed.wait("3")  # the API's own 1 s: opens it
        with pytest.raises(errors.CircuitOpen):
            await conv.api.probed.wait("0")
    await asyncio.sleep(1.1)  # open_s: the next call is the probe
    await cancel_in_flight(sidecar, "probed", 0.3)  # well before the API's own 1 s
    wait_for_cancelled(sidecar, "probed")
    async with connect_async(sidecar.target) as conv:
        assert (await conv.api.probed.wait("0")).status_code == 200
    wait_for_line(sidecar, "circuit breaker of API 'probed': half_open -> closed (a probe call succeeded)")
