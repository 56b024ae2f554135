"""The audit stream when its sink stalls: a real FIFO nobody reads (or whose reader stops), and a
real ``serve`` process writing its audit stream into one. Calls never wait, memory stays within the
byte budget, the oldest records are dropped and counted (``custom_api_sidecar.audit.dropped``), one
WARNING says so, and when a reader appears the newest records flow again. A full stdout pipe
cannot stop the process from exiting either."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import pathlib
import re
import select
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from custom_api_client import connect
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar.audit import AuditLog
from tests._support.memory import MB
from tests._support.processes import SidecarProcess, free_port
from tests._support.upstream import Upstream

KiB = 1024
WARNING = "WARNING custom_api_sidecar.audit"


class FifoReader:
    """The FIFO's read end, opened without waiting for a writer; lines as they arrive."""

    def __init__(self, path: pathlib.Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._partial = b""
        self.lines: list[bytes] = []

    def read_until(self, done: Callable[[list[bytes]], bool], timeout: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not done(self.lines):
            assert time.monotonic() < deadline, f"{len(self.lines)} lines read, the last {self.lines[-1:]!r}"
            poller.poll(100)
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            if not data:  # no writer (yet, or for now)
                time.sleep(0.02)
                continue
            *complete, self._partial = (self._partial + data).split(b"\n")
            self.lines.extend(complete)
        return self.lines

    def close(self) -> None:
        os.close(self.fd)


def dropped_counter(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "custom_api_sidecar.audit.dropped":
                    return sum(int(point.value) for point in metric.data.data_points)  # type: ignore[union-attr]
    raise AssertionError("no custom_api_sidecar.audit.dropped")


def seqs(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["n"] for line in lines]


def audit_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "custom_api_sidecar.audit" and r.levelno >= logging.WARNING
    ]


# --- in process: AuditLog on a real FIFO ---------------------------------------------------


def test_a_fifo_nobody_reads_never_blocks_and_then_gets_the_newest_records(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="custom_api_sidecar.audit")
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    metric_reader = InMemoryMetricReader()
    budget = 256 * KiB
    audit = AuditLog(str(fifo), 0.05, max_buffer_bytes=budget, close_timeout=1.0,
                     meter_provider=MeterProvider(metric_readers=[metric_reader]))  # fmt: skip
    total = 20_000  # about 4 MB: 16 budgets
    padding = "x" * 160

    async def scenario() -> tuple[float, list[float], int]:
        began = time.perf_counter()
        await audit.start()  # no reader: opening must not wait for one
        opened = time.perf_counter() - began
        slowest = []
        for n in range(total):
            began = time.perf_counter()
            audit.write({"n": n, "pad": padding})
            slowest.append(time.perf_counter() - began)
            if n % 1000 == 0:
                await asyncio.sleep(0)  # let the writer try (it cannot: nobody reads)
        await asyncio.sleep(0.3)
        return opened, slowest, audit.stream.buffered_bytes

    loop = asyncio.new_event_loop()
    try:
        opened, durations, buffered = loop.run_until_complete(scenario())
        assert opened < 0.5
        assert max(durations) < 0.25 and statistics.median(durations) < 0.001  # never waits on the sink
        assert buffered <= budget  # memory: the budget, however much was written
        kept = buffered // len(json.dumps({"n": 0, "pad": padding}, separators=(",", ":")))
        assert audit.dropped >= total - kept - 100 and dropped_counter(metric_reader) == audit.dropped
        assert audit_warnings(caplog) == [
            f"audit stream {fifo} is not keeping up: dropping the oldest records past {budget} bytes of buffer "
            "(counted in custom_api_sidecar.audit.dropped); calls go on without waiting for it"
        ]

        reader = FifoReader(fifo)  # a reader appears: the newest records flow, in order, to the last one
        got = seqs(reader.read_until(lambda lines: bool(lines) and json.loads(lines[-1])["n"] == total - 1))
        assert got == list(range(got[0], total)) and got[0] > total // 2
        assert len(got) + audit.dropped == total  # every record was either written or counted
        # the writer logs it once its write returned, which may be just after the reader saw the last record
        deadline = time.monotonic() + 5
        while not any("caught up" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records):
            assert time.monotonic() < deadline, "no 'caught up' INFO line"
            loop.run_until_complete(asyncio.sleep(0.05))

        for n in range(total, total + 5):  # and keep flowing
            audit.write({"n": n})
        assert seqs(reader.read_until(lambda lines: len(lines) == len(got) + 5))[-5:] == list(range(total, total + 5))

        reader.close()  # stalls again: after it recovered, a second WARNING is due
        os.unlink(fifo)
        os.mkfifo(fifo)  # (a new FIFO with no reader; the writer's end of the old one is broken)
        for n in range(total + 5, 2 * total):
            audit.write({"n": n, "pad": padding})
        loop.run_until_complete(asyncio.sleep(0.3))
        stalls = [w for w in audit_warnings(caplog) if "is not keeping up" in w]
        assert len(stalls) == 2  # one per stall, the second only after the first recovered
        assert any("cannot write (Broken pipe)" in w for w in audit_warnings(caplog))  # the reader left

        began = time.perf_counter()
        loop.run_until_complete(audit.aclose())  # nobody reads: returns within its timeout
        assert time.perf_counter() - began < 1.0 + 1.5
    finally:
        loop.close()


def test_a_reader_that_stops_reading(tmp_path, caplog):
    """What the pipe already held comes first, then the newest; the middle is dropped, once warned."""
    caplog.set_level(logging.INFO, logger="custom_api_sidecar.audit")
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)  # present, never reading until the end
    audit = AuditLog(str(fifo), 0.05, max_buffer_bytes=128 * KiB, close_timeout=1.0)
    total = 10_000

    async def scenario() -> None:
        await audit.start()
        for n in range(total):
            audit.write({"n": n, "pad": "y" * 100})
            if n % 500 == 0:
                await asyncio.sleep(0.01)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
        assert audit.dropped > 0 and len(audit_warnings(caplog)) == 1
        got = seqs(reader.read_until(lambda lines: bool(lines) and json.loads(lines[-1])["n"] == total - 1))
        gaps = [(a, b) for a, b in itertools.pairwise(got) if b != a + 1]
        assert got[0] == 0 and len(gaps) == 1  # the oldest (held by the pipe) ... the newest; one hole
        assert len(got) + audit.dropped == total
        loop.run_until_complete(audit.aclose())
    finally:
        reader.close()
        loop.close()


def test_closing_with_a_stuck_sink_returns_within_its_timeout(tmp_path, caplog):
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)  # holds the FIFO open and never reads: every write would wait forever
    audit = AuditLog(str(fifo), 0.05, close_timeout=0.5)

    async def scenario() -> float:
        await audit.start()
        for n in range(3000):  # about 300 KB: more than the pipe holds
            audit.write({"n": n, "pad": "z" * 100})
        await asyncio.sleep(0.2)
        began = time.perf_counter()
        await audit.aclose()
        return time.perf_counter() - began

    try:
        assert asyncio.run(scenario()) < 0.5 + 1.5
        assert audit.dropped > 0  # what could not be written is counted, and said
        assert any("could not be written within 0.5s of closing" in w for w in audit_warnings(caplog))
    finally:
        reader.close()


# --- the real process -------------------------------------------------------------------


def rss(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError("VmRSS")


def scrape_dropped(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(r"^custom_api_sidecar_audit_dropped_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    assert match, text[-2000:]
    return float(match.group(1))


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    endpoints: [{{name: ping, method: GET, path: /echo/ping}}]
"""


def timed_calls(conv, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    durations = []
    for _ in range(count):
        began = time.perf_counter()
        assert conv.api.crm.ping().status_code == 200
        durations.append(time.perf_counter() - began)
    return durations


def log_rpc(channel: grpc.Channel) -> Callable[[int], None]:
    """conv.log entries of about 4 KB (8 MiB of buffer holds about 2,000), each sent and answered
    before the next (the client's own conv.log is fire-and-forget and may shed entries)."""
    stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
    padding = "m" * 3990

    def send(n: int) -> None:
        stub.Log(pb.LogRequest(level="info", message=f"{n:08d}{padding}"), timeout=30)

    return send


def test_serve_with_its_audit_stream_in_a_fifo_nobody_reads(upstream, tmp_path):
    """Thousands of calls keep their latency and the process its memory; the counter counts the
    drops, one WARNING; a reader then gets the newest records and new ones keep coming."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    (tmp_path / "apis.yaml").write_text(config(upstream))
    admin = free_port()
    began = time.monotonic()
    proc = SidecarProcess(
        tmp_path / "apis.yaml",
        tmp_path / "s.sock",
        extra_args=["--log-format", "json", "--audit-file", str(fifo), "--admin-listen", f"127.0.0.1:{admin}"],
    )
    reader: FifoReader | None = None
    try:
        assert time.monotonic() - began < 30  # started with nobody on the FIFO's other end
        with proc.conv() as conv, grpc.insecure_channel(proc.target) as channel:
            log = log_rpc(channel)
            before = timed_calls(conv, 300)
            rss_start = rss(proc.process.pid)
            for n in range(2500):  # about 10 MB: past the budget
                log(n)
            rss_full = rss(proc.process.pid)
            for n in range(2500, 5500):  # about 12 MB more, all of it dropping the oldest
                log(n)
            after = timed_calls(conv, 300)
            rss_end = rss(proc.process.pid)
        written = 1 + 300 + 5500 + 300  # the config's load record, then the calls and entries in order
        dropped = scrape_dropped(admin)
        assert dropped > 3000  # 8 MiB keeps about 2,000 entries and the last calls

        median_before, median_after = statistics.median(before), statistics.median(after)
        assert median_after < 3 * median_before + 0.005, (median_before, median_after)
        assert max(after) < 1.0
        assert rss_end - rss_full < 6 * MB, (rss_full, rss_end)  # flat: the buffer was already full
        warnings = [line for line in proc.lines if WARNING in line]
        assert len(warnings) == 1 and "is not keeping up" in warnings[0], warnings

        reader = FifoReader(fifo)  # a reader appears: the newest records, up to the last call
        lines = reader.read_until(lambda got: len(got) >= 300 and b'"type":"call"' in got[-1] and
                                  sum(b'"type":"call"' in line for line in got) >= 300)  # fmt: skip
        records = [json.loads(line) for line in lines]
        logs = [int(r["message"][:8]) for r in records if r["type"] == "log"]
        calls = [r for r in records if r["type"] == "call"]
        assert records[-300:] == calls and len(calls) == 300  # the newest: the last 300 calls, whole
        assert logs == list(range(logs[0], 5500)) and logs[0] > 2500  # then the newest entries, in order
        assert len(records) + scrape_dropped(admin) == written  # each record written or counted

        with proc.conv() as conv:  # recovered: new records flow at once
            conv.log.warning("after the reader came back")
        reader.read_until(lambda got: b"after the reader came back" in got[-1], timeout=5)
        deadline = time.monotonic() + 5
        while not any("caught up" in line for line in proc.lines):
            assert time.monotonic() < deadline, "no 'caught up' line"
            time.sleep(0.05)
        print(
            f"\nlatency median before {median_before * 1000:.2f} ms, after {median_after * 1000:.2f} ms; "
            f"RSS {rss_start / MB:.1f} -> {rss_full / MB:.1f} -> {rss_end / MB:.1f} MB; "
            f"dropped {dropped:.0f} of {written}"
        )
    finally:
        proc.stop()
        if reader is not None:
            reader.close()
    assert proc.process.returncode == 0, proc.output[-3000:]


def test_a_full_stdout_pipe_does_not_stop_calls_or_the_exit(upstream, tmp_path):
    """--log-format json with a stdout nobody reads (a stalled log collector): calls go on, and
    SIGTERM ends the process within its grace and the audit close timeout."""
    (tmp_path / "apis.yaml").write_text(config(upstream))
    socket_path = tmp_path / "s.sock"
    with (tmp_path / "stderr.log").open("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(tmp_path / "apis.yaml"),
             "--listen", f"unix://{socket_path}", "--log-format", "json", "--grace", "1"],
            stdout=subprocess.PIPE,  # never read
            stderr=stderr,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not socket_path.exists():
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            with connect(f"unix://{socket_path}") as conv, grpc.insecure_channel(f"unix://{socket_path}") as channel:
                durations = timed_calls(conv, 100)
                log = log_rpc(channel)
                for n in range(100):  # about 400 KB: six times what the pipe holds
                    log(n)
                durations += timed_calls(conv, 100)
            assert max(durations) < 1.0
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
            assert time.monotonic() - began < 1 + 2 + 3  # grace, the audit close timeout, a margin
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
        stderr.seek(0)
        log = stderr.read()
    assert proc.returncode == 0, log[-3000:]
    assert "could not be written within 2s of closing" in log
