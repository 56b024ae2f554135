"""Background jobs in fleet mode: a Redis Stream (real redis-server) that every sidecar works.

- a job queued on one sidecar is visible from another, and retried through the delayed set;
- 1,000 queued jobs survive a SIGKILL of the sidecar that took them: another process claims
  them once idle, and every job reaches the upstream (duplicates counted);
- a sidecar that stops gracefully hands its running jobs back at once;
- with Redis down, a background call is stored in the sidecar's own SQLite store and still runs;
  when Redis comes back empty, the stream is made again and jobs go there.
"""

from __future__ import annotations

import base64
import collections
import pathlib
import time
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.jobs import SqliteJobStore
from tests._support.processes import RedisServer, SidecarProcess
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"
JOB_KEY = base64.b64encode(bytes(range(100, 132))).decode()


@pytest.fixture(autouse=True)
def job_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis.job_key (required with jobs on), for in-process sidecars and the processes they start."""
    monkeypatch.setenv("FLEET_JOBS_KEY", JOB_KEY)


def config(redis_url: str, upstream: Upstream, claim_after_s: float = 1.0) -> str:
    return f"""
redis: {{url: "{redis_url}", job_key: "env://FLEET_JOBS_KEY", timeout_ms: 250, job_claim_after_s: {claim_after_s}}}
apis:
  - name: crm
    connection: {{{LOCAL}, base_url: "{upstream.url}", timeout_ms: 10000}}
    endpoints:
      - {{name: book, method: POST, path: "/echo/bookings/{{n}}", parameters: [{{name: delay, in: query}}]}}
      - {{name: flaky, method: POST, path: "/flaky/{{key}}", parameters: [{{name: fail, in: query}}]}}
"""


def sent_keys(upstream: Upstream, prefix: str) -> collections.Counter[str]:
    return collections.Counter(
        {k.lower(): v for k, v in r["headers"]}.get("idempotency-key", "")
        for r in list(upstream.requests)
        if r["path"].startswith(prefix)
    )


@pytest.fixture
def redis(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def in_process(tmp_path: pathlib.Path, name: str, text: str) -> ThreadedSidecar:
    store = SqliteJobStore(tmp_path / f"{name}.sqlite3")
    running = start_sidecar(text, str(tmp_path / f"{name}.sock"), job_store=store)
    assert running.sidecar.jobs is not None
    running.sidecar.jobs._backoff = 0.05  # job-level retries fast enough for a test
    return running


def test_a_job_queued_on_one_sidecar_is_seen_from_another(tmp_path, redis, upstream):
    a = in_process(tmp_path, "a", config(redis.url, upstream))
    b = in_process(tmp_path, "b", config(redis.url, upstream))
    try:
        key = f"fleet-{time.monotonic_ns()}"
        with connect(a.unix_target) as conv:
            accepted = conv.api.crm.flaky(key, fail=2, background=True)  # two 503s, then 200
        assert redis.command("EXISTS", f"custom-api-sidecar:{{sandbox:background-jobs}}:job:{accepted.job_id}") == (
            b":1\r\n"
        )
        with connect(b.unix_target) as conv:
            job = conv.api.jobs.wait(accepted.job_id, timeout=20)
        assert job.state == "succeeded" and job.attempts == 3 and job.response.status_code == 200
        assert sent_keys(upstream, f"/flaky/{key}") == {accepted.job_id: 3}  # one key across tries
        # Finished: acknowledged and deleted from the stream; the record expires (retention).
        assert redis.command("XLEN", "custom-api-sidecar:{sandbox:background-jobs}:stream") == b":0\r\n"
        ttl = redis.command("TTL", f"custom-api-sidecar:{{sandbox:background-jobs}}:job:{accepted.job_id}")
        assert 80_000 < int(ttl[1:]) <= 86_400
        with connect(b.unix_target) as conv, pytest.raises(errors.JobNotFound):
            conv.api.jobs.get("no-such-job")
    finally:
        a.stop()
        b.stop()


def serve(tmp: pathlib.Path, name: str, config_path: pathlib.Path) -> SidecarProcess:
    directory = tmp / name
    directory.mkdir()
    return SidecarProcess(
        config_path,
        directory / "s.sock",
        extra_args=["--jobs-db", str(directory / "jobs.sqlite3"), "--jobs-concurrency", "32"],
    )


def test_1000_jobs_survive_a_sigkill_of_the_sidecar_that_took_them(tmp_path, redis, upstream):
    config_path = tmp_path / "apis.yaml"
    config_path.write_text(config(redis.url, upstream, claim_after_s=1.0))
    first = serve(tmp_path, "first", config_path)
    job_ids: list[str] = []
    try:
        with connect(first.target) as conv:
            for n in range(1000):
                job_ids.append(conv.api.crm.book(str(n), delay="0.3", json={"n": n}, background=True).job_id)
    finally:
        first.kill()  # SIGKILL mid-run: some done, up to 32 running (pending in its name), most queued
    done_before = len(set(sent_keys(upstream, "/echo/bookings/")) & set(job_ids))
    second = serve(tmp_path, "second", config_path)  # a new process: a new consumer of the stream
    try:
        deadline = time.monotonic() + 120
        while not set(job_ids) <= set(sent_keys(upstream, "/echo/bookings/")):
            assert time.monotonic() < deadline, len(set(sent_keys(upstream, "/echo/bookings/")) & set(job_ids))
            time.sleep(0.2)
        with connect(second.target) as conv:
            deadline = time.monotonic() + 30
            while any(conv.api.jobs.get(job_id).state != "succeeded" for job_id in job_ids[-20:]):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            states = collections.Counter(conv.api.jobs.get(job_id).state for job_id in job_ids)
    finally:
        second.stop()
    keys = sent_keys(upstream, "/echo/bookings/")
    duplicates = sum(keys[job_id] - 1 for job_id in job_ids)
    print(
        f"\nredis jobs: 1000 queued, {done_before} reached the upstream before SIGKILL; after a new sidecar "
        f"took over: all 1000 reached it, {duplicates} duplicate deliveries (same Idempotency-Key); {dict(states)}"
    )
    assert states == {"succeeded": 1000}
    assert duplicates <= 32  # at most the jobs that were running when it was killed
    assert "claimed" in second.output  # the killed sidecar's running jobs were taken over


def test_a_sidecar_that_stops_hands_its_running_jobs_back(tmp_path, redis, upstream):
    text = config(redis.url, upstream, claim_after_s=3600)  # no takeover by idleness in this test
    a = in_process(tmp_path, "a", text)
    b = None
    try:
        with connect(a.unix_target) as conv:
            ids = [conv.api.crm.book(f"h{n}", delay="3", json={}, background=True).job_id for n in range(4)]
        deadline = time.monotonic() + 10
        while a.sidecar.jobs is not None and len(a.sidecar.jobs._running) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        a.stop()  # its 4 jobs were running: they go back to the stream
        b = in_process(tmp_path, "b", text)
        with connect(b.unix_target) as conv:
            jobs = [conv.api.jobs.wait(job_id, timeout=30) for job_id in ids]
        assert [job.state for job in jobs] == ["succeeded"] * 4
        assert [job.attempts for job in jobs] == [2] * 4  # the interrupted try, then b's
    finally:
        if b is not None:
            b.stop()


def test_with_redis_down_a_background_call_is_kept_locally_and_runs(tmp_path, redis, upstream):
    redis.kill()
    running = in_process(tmp_path, "a", config(redis.url, upstream))
    try:
        with connect(running.unix_target) as conv:
            began = time.perf_counter()
            accepted = conv.api.crm.book("local-1", delay="0", json={}, background=True)
            assert time.perf_counter() - began < 1.0
            job = conv.api.jobs.wait(accepted.job_id, timeout=10)
        assert job.state == "succeeded"
        fleet = running.sidecar.fleet
        assert fleet is not None and fleet.redis.fallbacks >= 1
        assert sent_keys(upstream, "/echo/bookings/local-1") == {accepted.job_id: 1}
        # Redis comes back empty (no persistence here): the stream and its group are made again.
        redis.start()
        for attempt in range(2):  # the second time, Redis restarts under a sidecar whose group existed
            if attempt:
                redis.kill()
                redis.start()
                time.sleep(1.5)  # the job store's next poll notices the restart (or the outage, if it fell in it)
            deadline = time.monotonic() + 10
            while not fleet.redis.available:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            with connect(running.unix_target) as conv:
                accepted = conv.api.crm.book(f"shared-{attempt}", delay="0", json={}, background=True)
                assert conv.api.jobs.wait(accepted.job_id, timeout=15).state == "succeeded"
            job_key = f"custom-api-sidecar:{{sandbox:background-jobs}}:job:{accepted.job_id}"
            assert redis.command("EXISTS", job_key) == b":1\r\n"
    finally:
        running.stop()
