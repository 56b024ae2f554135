"""Trusted context in fleet mode: a background call's context values travel with its sealed job
record through a real redis-server (never readable there) and bind when another sidecar runs it."""

from __future__ import annotations

import base64
import pathlib
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_py

from custom_api_client import connect
from custom_api_sidecar.jobs import SqliteJobStore
from tests._support.processes import RedisServer
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream
from tests.test_fleet_jobs_sealed import everything_in_redis

KEY = base64.b64encode(bytes(range(7, 39))).decode()


def config(redis_url: str, upstream: Upstream) -> str:
    return f"""
redis: {{url: "{redis_url}", job_key: "env://CONTEXT_JOB_KEY", timeout_ms: 250}}
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    endpoints:
      - name: whoami
        method: GET
        path: /whoami
        parameters: [{{name: X-Caller-Number, in: header, type: string, from_context: caller_number}}]
"""


@pytest.fixture
def redis(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def test_a_queued_job_keeps_its_context_sealed_and_binds_it_on_another_sidecar(tmp_path, redis, upstream, monkeypatch):
    monkeypatch.setenv("CONTEXT_JOB_KEY", KEY)
    started: list[ThreadedSidecar] = []

    def sidecar(name: str, workers: int) -> ThreadedSidecar:
        running = start_sidecar(
            config(redis.url, upstream),
            str(tmp_path / f"{name}.sock"),
            job_store=SqliteJobStore(tmp_path / f"{name}.sqlite3"),
            job_concurrency=workers,
        )
        started.append(running)
        return running

    canary = f"+44{uuid.uuid4().int % 10**10:010d}"
    try:
        submitter = sidecar("submitter", workers=0)  # queues, never runs
        with connect(submitter.unix_target, conversation_id="conv-fleet", context={"caller_number": canary}) as conv:
            accepted = conv.api.crm.whoami(background=True)
            with redis_py.Redis.from_url(redis.url) as inspector:
                names, queued = everything_in_redis(redis.url, inspector)
            conv.set_context(conversation_id="conv-fleet", context={"caller_number": "+440000000000"})
            sidecar("worker", workers=2)
            job = conv.api.jobs.wait(accepted.job_id, timeout=20)
    finally:
        for running in started:
            running.stop()
    assert accepted.status_code == 202 and job.state == "succeeded"
    assert {k.lower(): v for k, v in job.response.json()["headers"]}["x-caller-number"] == canary
    assert any(accepted.job_id.encode() in name for name in names)  # queued in Redis, not in SQLite
    assert canary.encode() not in queued and b"caller_number" not in queued  # sealed: not even the key
