"""The in-flight cap (issue 20, item 5): a burst of calls ends with every call either a Response or
a typed, retryable OVERLOADED error, never CANCELLED/UNKNOWN/INTERNAL; the cap holds exactly, for
gRPC, MCP and background submissions alike, while health and discovery keep answering.

On main, about 9% of a 2,000-call burst ended CANCELLED (InternalError in the client): grpc core
cancels calls queued past its pending-request limit (1,000, then randomly up to 3,000) before
grpc.aio takes them. The bursts here run against a real ``serve`` process and an upstream slow
enough that they overlap."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx2
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from custom_api_client import connect, connect_async, errors
from custom_api_client.errors import from_rpc_error
from custom_api_sidecar.admission import DEFAULT_MAX_IN_FLIGHT
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.mcp import McpHttpSettings
from tests._support.processes import SidecarProcess
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.slow_upstream import SlowUpstream
from tests._support.upstream import Upstream

BURST = 2000


def config(url: str) -> str:
    return f"""
apis:
  - name: slow
    connection: {{allow_http: true, private_network: true, base_url: "{url}", timeout_ms: 60000}}
    endpoints:
      - {{name: get, method: GET, path: /items}}
      - {{name: hold, method: GET, path: "/delay/{{seconds}}"}}
      - {{name: later, method: POST, path: /echo/later, background: true}}
"""


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[SlowUpstream]:
    with SlowUpstream(delay=0.5) as upstream:
        yield upstream


def serve(directory: pathlib.Path, url: str, *args: str, env: dict[str, str] | None = None) -> SidecarProcess:
    (directory / "apis.yaml").write_text(config(url))
    return SidecarProcess(
        directory / "apis.yaml",
        directory / "s.sock",
        extra_args=["--jobs-db", str(directory / "j.db"), "--log-format", "json", "--audit-file", "/dev/null", *args],
        env=env,
    )


@pytest.fixture(scope="module")
def burst_sidecar(slow_upstream: SlowUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """A real serve process with the default cap."""
    sidecar = serve(tmp_path_factory.mktemp("burst"), slow_upstream.url)
    yield sidecar
    sidecar.stop()


def outcome(result: Any) -> str:
    if isinstance(result, BaseException):
        return type(result).__name__
    return f"HTTP {result.status_code}"


async def burst(target: str, calls: int) -> collections.Counter[str]:
    async with connect_async(target) as conv:
        results = await asyncio.gather(*(conv.api.slow.get() for _ in range(calls)), return_exceptions=True)
    return collections.Counter(outcome(r) for r in results)


def test_a_2000_call_burst_ends_in_responses_and_overloaded_only(burst_sidecar):
    outcomes = asyncio.run(burst(burst_sidecar.target, BURST))
    assert set(outcomes) == {"HTTP 200", "Overloaded"}, outcomes
    assert outcomes["HTTP 200"] >= DEFAULT_MAX_IN_FLIGHT  # the cap's worth at least; more as calls finish
    with burst_sidecar.conv() as conv:
        assert conv.api.slow.get().ok  # and the sidecar serves on


def test_retrying_overloaded_with_backoff_gets_every_call_through(burst_sidecar):
    """OVERLOADED is retryable: nothing was sent, so a client that backs off gets every call done."""

    async def patient(conv: Any) -> int:
        for attempt in range(100):
            try:
                return (await conv.api.slow.get()).status_code
            except errors.Overloaded:
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("still overloaded after 100 tries")

    async def run() -> list[int]:
        async with connect_async(burst_sidecar.target) as conv:
            return await asyncio.gather(*(patient(conv) for _ in range(BURST // 2)))

    assert asyncio.run(run()) == [200] * (BURST // 2)


def test_a_thread_pool_of_sync_clients_gets_responses_or_overloaded(slow_upstream, tmp_path):
    """The cap from the environment (CUSTOM_API_SIDECAR_MAX_IN_FLIGHT), and one channel per thread."""
    sidecar = serve(tmp_path, slow_upstream.url, env={"CUSTOM_API_SIDECAR_MAX_IN_FLIGHT": "40"})
    try:

        def call(_: int) -> str:
            with connect(sidecar.target) as conv:
                try:
                    return outcome(conv.api.slow.get())
                except errors.CustomApiError as err:
                    return outcome(err)

        with concurrent.futures.ThreadPoolExecutor(200) as pool:
            outcomes = collections.Counter(pool.map(call, range(400)))
    finally:
        sidecar.stop()
    assert set(outcomes) == {"HTTP 200", "Overloaded"}, outcomes
    assert outcomes["HTTP 200"] >= 40


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--max-in-flight", "0"], {}, "--max-in-flight: must be at least 1, not 0"),
        ([], {"CUSTOM_API_SIDECAR_MAX_IN_FLIGHT": "lots"}, "--max-in-flight: 'lots' is not a whole number"),
    ],
)
def test_a_bad_cap_is_refused_at_start(tmp_path, args, env, says):
    (tmp_path / "apis.yaml").write_text(config("http://127.0.0.1:9"))
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(tmp_path / "apis.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert result.returncode == 2 and says in result.stderr


# --- the cap, exactly, for every way in ----------------------------------------------------------------


@pytest.fixture
def capped(upstream: Upstream) -> Iterator[ThreadedSidecar]:
    """An in-process sidecar capped at 3 calls, with MCP and background jobs."""
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream.url),
            f"{tmp}/s.sock",
            mcp=McpHttpSettings("127.0.0.1", 0),
            job_store=SqliteJobStore(f"{tmp}/j.db"),
            max_in_flight=3,
        )
        yield sidecar
        sidecar.stop(grace=5)


def hold(sidecar: ThreadedSidecar, calls: int, seconds: float) -> list[threading.Thread]:
    """``calls`` calls that each take ``seconds``, running until the sidecar counts them in flight."""
    threads = []
    for _ in range(calls):

        def call() -> None:
            with connect(sidecar.unix_target) as conv:
                conv.api.slow.hold(seconds)

        threads.append(threading.Thread(target=call, daemon=True))
        threads[-1].start()
    deadline = time.monotonic() + 10
    while sidecar.sidecar.admission.in_flight < calls:
        assert time.monotonic() < deadline, "the held calls never arrived"
        time.sleep(0.01)
    return threads


async def mcp_call(url: str, tool: str) -> Any:
    async with (
        httpx2.AsyncClient(timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await session.call_tool(tool, {})


def test_the_cap_holds_exactly_for_grpc_mcp_and_background_submissions(capped):
    held = hold(capped, 3, 2.0)
    with connect(capped.unix_target) as conv:
        started = time.monotonic()
        with pytest.raises(errors.Overloaded) as info:
            conv.api.slow.get()
        assert time.monotonic() - started < 1.0  # refused at once, not queued behind the held calls
        assert info.value.code == "OVERLOADED" and (info.value.api, info.value.operation) == ("slow", "get")
        assert "3 calls in flight" in info.value.message and "retry" in info.value.message
        with pytest.raises(errors.Overloaded):
            conv.api.slow.later(json={"n": 1})  # a background submission is a call in flight too
        # discovery and health are not capped: a pod under load stays healthy and describable
        assert conv.api.list() == ["slow"]
        with grpc.insecure_channel(capped.unix_target) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert capped.mcp_url is not None
    result = asyncio.run(mcp_call(capped.mcp_url, "slow__get"))
    assert result.is_error and result.content[0].text.startswith("OVERLOADED: slow.get: the sidecar already has 3")
    for thread in held:
        thread.join(10)
    assert capped.sidecar.admission.in_flight == 0
    with connect(capped.unix_target) as conv:
        assert conv.api.slow.hold(0).ok  # below the cap again
        assert conv.api.slow.later(json={"n": 2}).status_code == 202


def test_refused_calls_do_not_count_against_the_cap(capped):
    """An invalid call is refused before it is counted; a refused one leaves the count as it was."""
    with connect(capped.unix_target) as conv:
        for _ in range(10):
            with pytest.raises(errors.InvalidArgument):
                conv.api["Nope"].get()
            with pytest.raises(errors.UnknownApi):
                conv.api.nope.get()
    assert capped.sidecar.admission.in_flight == 0
    held = hold(capped, 3, 1.0)
    with connect(capped.unix_target) as conv, pytest.raises(errors.InvalidArgument):
        conv.api["Nope"].get()  # bounds first: the same answer under any load
    for thread in held:
        thread.join(10)
    assert capped.sidecar.admission.in_flight == 0


# --- CANCELLED in the client ---------------------------------------------------------------------------


def test_a_call_the_server_cancels_is_sidecar_unavailable_not_internal(tmp_path):
    """A real gRPC server that cancels the call, as grpc core does to calls queued past its limit."""

    def cancel(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.cancel()
        return b""

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    handler = grpc.unary_unary_rpc_method_handler(cancel)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("custom_api_sidecar.v1.CustomApiSidecar", {"Invoke": handler}),)
    )
    server.add_insecure_port(f"unix://{tmp_path}/cancelling.sock")
    server.start()
    try:
        with connect(f"unix://{tmp_path}/cancelling.sock") as conv, pytest.raises(errors.SidecarUnavailable) as info:
            conv.api.slow.get()
    finally:
        server.stop(0)
    assert "dropped the call before answering" in info.value.message


class _Cancelled(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED

    def details(self) -> str:
        return "CANCELLED"

    def trailing_metadata(self) -> tuple[()]:
        return ()


def test_cancelled_without_a_detail_maps_to_sidecar_unavailable():
    err = from_rpc_error(_Cancelled(), "unix:///tmp/s.sock")
    assert isinstance(err, errors.SidecarUnavailable)
    assert err.message.startswith("custom-api-sidecar at unix:///tmp/s.sock dropped the call before answering")
