"""A full background job store fails clearly: a response it cannot keep fails its job with
RESPONSE_TOO_LARGE (the call was made: it is not left running, to be sent again after a
restart), and a call it cannot queue is refused with OVERLOADED before any 202. Proved on a
real 1 MiB tmpfs (SQLite's own "database or disk is full"), and with --jobs-max-size, which keeps
the store's files within a volume's size so Kubernetes never evicts the pod for outgrowing it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.jobs import _queue as queue_module
from custom_api_sidecar.quantity import parse_size
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

MiB = 2**20


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: files
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    endpoints:
      - {{name: download, method: GET, path: "/bytes/{{size}}"}}
"""


@pytest.fixture
def tiny_fs(tmp_path) -> Iterator[pathlib.Path]:
    """A real 1 MiB filesystem (tmpfs; mounting needs root, as the podman tests do)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    assert mounted.returncode == 0, f"cannot mount a 1 MiB tmpfs (run as root): {mounted.stderr.decode()}"
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def sidecar_on(db: pathlib.Path, upstream: Upstream, socket_dir: str) -> ThreadedSidecar:
    return start_sidecar(config(upstream), f"{socket_dir}/s.sock", job_store=SqliteJobStore(db))


def sent(upstream: Upstream, size: int) -> int:
    return sum(1 for r in upstream.requests if r["path"] == f"/bytes/{size}")


def test_a_response_the_disk_cannot_hold_fails_its_job_once(tiny_fs, upstream):
    size = 2 * MiB + 17  # over the whole filesystem; the odd size names this test's requests
    db = tiny_fs / "jobs.sqlite3"
    with tempfile.TemporaryDirectory() as sockets:
        sidecar = sidecar_on(db, upstream, sockets)
        try:
            with connect(sidecar.unix_target) as conv:
                accepted = conv.api.files.download(str(size), background=True)
                assert accepted.status_code == 202
                job = conv.api.jobs.wait(accepted.job_id, timeout=20)
                assert job.state == "failed" and job.response is None
                assert isinstance(job.error, errors.ResponseTooLarge)
                assert "the call was made (HTTP 200)" in job.error.message
                assert "did not fit in the background job store, which is full" in job.error.message
                # the store still works: the failed write left no damage and took no room
                small = conv.api.files.download("1000", background=True)
                done = conv.api.jobs.wait(small.job_id, timeout=20)
                assert done.state == "succeeded" and len(done.response.content) == 1000
        finally:
            sidecar.stop()
        # after a restart the failed job stays failed, and its call is not sent again
        again = sidecar_on(db, upstream, sockets)
        try:
            with connect(again.unix_target) as conv:
                # jobs run oldest first: once a new one is done, a recovered one would have run
                later = conv.api.files.download("1005", background=True)
                assert conv.api.jobs.wait(later.job_id, timeout=20).state == "succeeded"
                assert conv.api.jobs.get(accepted.job_id).state == "failed"
        finally:
            again.stop()
    assert sent(upstream, size) == 1


def test_a_call_a_full_disk_cannot_queue_is_refused_before_any_202(tiny_fs, upstream):
    db = tiny_fs / "jobs.sqlite3"
    with tempfile.TemporaryDirectory() as sockets:
        sidecar = sidecar_on(db, upstream, sockets)
        filler = tiny_fs / "filler"
        try:
            # something else fills the volume to its last byte
            with filler.open("wb", buffering=0) as out, pytest.raises(OSError, match="No space left"):
                while True:
                    out.write(b"\0" * 4096)
            with connect(sidecar.unix_target) as conv:
                with pytest.raises(errors.Overloaded) as refused:
                    conv.api.files.download("1001", background=True)
                assert "the background job store is full, so the call was not queued" in refused.value.message
                assert refused.value.api == "files" and refused.value.operation == "download"
                assert conv.api.files.download("1002").status_code == 200  # calls made now still work
                filler.unlink()  # room again: background calls are accepted again
                accepted = conv.api.files.download("1003", background=True)
                assert conv.api.jobs.wait(accepted.job_id, timeout=20).state == "succeeded"
        finally:
            sidecar.stop()
    assert sent(upstream, 1001) == 0


# --- --jobs-max-size: the store stays within its volume ------------------------------------


def serve(tmp_path: pathlib.Path, upstream: Upstream, *flags: str, env: dict[str, str] | None = None):
    config_file = tmp_path / "apis.yaml"
    config_file.write_text(config(upstream))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custom_api_sidecar",
            "serve",
            "--config",
            str(config_file),
            "--listen",
            f"unix://{tmp_path}/s.sock",
            "--jobs-db",
            str(tmp_path / "jobs" / "jobs.sqlite3"),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def store_bytes(folder: pathlib.Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


def test_the_size_cap_keeps_the_store_within_its_volume(tmp_path, upstream):
    """16 MiB (the least accepted), from the environment variable the chart sets: the worst
    responses (about the database's share, over it, near max_response_bytes) never take the
    store's files past it, measured every 5 ms while the jobs run."""
    proc = serve(tmp_path, upstream, env={"CUSTOM_API_SIDECAR_JOBS_MAX_SIZE": "16Mi"})
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):  # SQLite may be replacing a file
                peak = max(peak, store_bytes(tmp_path / "jobs"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    try:
        socket_path = tmp_path / "s.sock"
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
            time.sleep(0.05)
        sampler.start()
        outcomes = []
        with connect(f"unix://{socket_path}") as conv:
            # the database may hold (16 - 8) / 2 = 4 MiB: 3 MiB fits, 3 more do not, 512 KiB more do
            for size in (3 * MiB, 3 * MiB + 1, 9 * MiB, 512 * 1024):
                job = conv.api.jobs.wait(conv.api.files.download(str(size), background=True).job_id, timeout=30)
                outcomes.append(job.state)
                if job.state == "failed":
                    assert isinstance(job.error, errors.ResponseTooLarge), job.error
        assert outcomes == ["succeeded", "failed", "failed", "succeeded"]
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        proc.terminate()
        proc.wait(30)
    print(f"\njob store capped at 16 MiB: its files peaked at {peak / MiB:.1f} MiB")
    assert 3 * MiB < peak <= 16 * MiB
    with sqlite3.connect(tmp_path / "jobs" / "jobs.sqlite3") as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    assert states == {"succeeded": 2, "failed": 2}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8Mi", "--jobs-max-size must be at least 16Mi (got 8388608 bytes)"),
        ("1.5Gi", "--jobs-max-size: '1.5Gi' is not a size"),
        ("-256Mi", "--jobs-max-size: '-256Mi' is not a size"),
        ("9" * 5000, "--jobs-max-size: a 5000-character value is not a size"),  # not echoed
    ],
)
def test_a_bad_size_stops_the_sidecar_at_start(tmp_path, upstream, value, message):
    proc = serve(tmp_path, upstream, f"--jobs-max-size={value}")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert message in stderr and len(stderr) < 500


@pytest.mark.parametrize(
    ("text", "size"),
    [("256Mi", 256 * MiB), ("1Gi", 2**30), ("500M", 500_000_000), ("16777216", 16 * MiB), ("2k", 2000)],
)
def test_sizes_are_kubernetes_quantities(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "Mi", "1mi", "1e9", "0x10", "1 Gi", "1" * 16 + "Mi", "256Mi\n\n1"])
def test_anything_else_is_not_a_size(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


# --- the queue keeps going and makes room --------------------------------------------------


def test_finished_jobs_are_forgotten_while_running_so_a_capped_store_gets_room_back(tmp_path, upstream):
    store = SqliteJobStore(tmp_path / "jobs.sqlite3", max_bytes=16 * MiB)
    with tempfile.TemporaryDirectory() as sockets:
        sidecar = start_sidecar(config(upstream), f"{sockets}/s.sock", job_store=store)
        jobs = sidecar.sidecar.jobs
        jobs._retention, jobs._prune_every, jobs._next_prune = 0.5, 0.2, 0.0  # a day and ten minutes, in a test's time
        try:
            with connect(sidecar.unix_target) as conv:
                for size in (3 * MiB, 3 * MiB + 2):  # the second fits only once the first is forgotten
                    accepted = conv.api.files.download(str(size), background=True)
                    assert conv.api.jobs.wait(accepted.job_id, timeout=20).state == "succeeded"
                    deadline = time.monotonic() + 10
                    while True:
                        try:
                            conv.api.jobs.get(accepted.job_id)
                        except errors.JobNotFound:
                            break
                        assert time.monotonic() < deadline, "a finished job outlived its retention"
                        time.sleep(0.1)
        finally:
            sidecar.stop()


class FailingStore(SqliteJobStore):
    """A store whose reads fail for a while (say, an I/O error), then recover."""

    def __init__(self, path: pathlib.Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures

    async def claim(self, limit: int):
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return await super().claim(limit)


def test_the_dispatcher_outlives_a_failing_store(tmp_path, upstream, monkeypatch, caplog):
    monkeypatch.setattr(queue_module, "STORE_RETRY_S", 0.1)
    store = FailingStore(tmp_path / "jobs.sqlite3", failures=3)
    with tempfile.TemporaryDirectory() as sockets:
        sidecar = start_sidecar(config(upstream), f"{sockets}/s.sock", job_store=store)
        try:
            with connect(sidecar.unix_target) as conv:
                accepted = conv.api.files.download("1004", background=True)
                assert conv.api.jobs.wait(accepted.job_id, timeout=20).state == "succeeded"
        finally:
            sidecar.stop()
    assert store.failures == 0
    failed = [r.getMessage() for r in caplog.records if "the store failed" in r.getMessage()]
    assert failed and "OperationalError: disk I/O error" in failed[0]


def test_an_outcome_that_cannot_be_recorded_is_logged_not_lost_in_a_dead_task(tmp_path, caplog):
    """Even the failure cannot be written: the worker says which job and what happens next."""

    class Full(SqliteJobStore):
        async def finish(self, job_id, state, response, error):
            raise sqlite3.OperationalError("database or disk is full")

    async def scenario() -> None:
        from custom_api_client.proto import sidecar_pb2 as pb
        from custom_api_sidecar.jobs import JobQueue
        from custom_api_sidecar.pipeline import UpstreamResponse

        async def run(call):
            return UpstreamResponse(status_code=200, reason="OK", headers=[], body=b"x", elapsed=0.0, url="")

        queue = JobQueue(Full(tmp_path / "jobs.sqlite3"), run)
        await queue.start()
        try:
            job_id = await queue.submit(pb.InvokeRequest(api="files", operation="download"), ())
            deadline = time.monotonic() + 10
            while not any(job_id in r.getMessage() and "not be recorded" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert (await queue.get(job_id)).state == "running"  # and at the next start it runs again
        finally:
            await queue.aclose()

    asyncio.run(scenario())
