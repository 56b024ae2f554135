"""A claim that loses Redis half-way through, against a real redis-server.

Claiming marks each job running in Redis and heartbeats its stream entry as this sidecar's. A job
marked so and then dropped, because Redis failed on the next one, would never run: nobody else
claims an entry that keeps being heartbeated. Seen once in a failover test (1 of 789 background
calls answered 202 never reached the upstream). The jobs started must run; the rest stay pending
and are claimed once idle."""

from __future__ import annotations

import asyncio
import base64
import os
import pathlib
import uuid
from typing import Any

import pytest

from custom_api_sidecar.config import RedisSettings
from custom_api_sidecar.fleet import FleetRedis, RedisJobStore
from custom_api_sidecar.fleet._seal import Seal
from custom_api_sidecar.fleet.redis import RedisUnavailable
from custom_api_sidecar.secrets import SecretStore
from tests._support.processes import RedisServer

CLAIM_AFTER_S = 0.3


class _JobKey:
    """What ``Seal`` reads of a secret reference: a fresh 32-byte key."""

    ref = "env://TEST_JOB_KEY"

    def __init__(self) -> None:
        self._value = base64.b64encode(os.urandom(32)).decode()

    def value(self) -> str:
        return self._value


async def _store(server: RedisServer, shards: int) -> RedisJobStore:
    redis = FleetRedis(RedisSettings(url=server.url, timeout_ms=2000, job_shards=shards), SecretStore({}), "sandbox")
    await redis.start()
    store = RedisJobStore(redis, Seal(_JobKey(), "redis.job_key", "jobs"), claim_after=CLAIM_AFTER_S)  # type: ignore[arg-type]
    await store.open()
    return store


async def _claim_everything(store: RedisJobStore, expected: int) -> set[str]:
    seen: set[str] = set()
    for _ in range(40):
        seen.update(job.id for job in await store.claim(10))
        if len(seen) >= expected:
            break
        await asyncio.sleep(CLAIM_AFTER_S / 2)
    return seen


@pytest.mark.parametrize("shards", [1, 2])
async def test_jobs_started_before_redis_fails_mid_claim_run_and_the_rest_are_claimed_later(
    tmp_path: pathlib.Path, shards: int
) -> None:
    server = RedisServer(tmp_path)
    store = await _store(server, shards)
    try:
        ids = [uuid.uuid4().hex for _ in range(6)]
        for job_id in ids:
            await store.add(job_id, "crm", "get_contact", b"request", ())
        start, claim_from = store._start, store._claim_from
        calls = {"start": 0, "shard": 0}

        async def failing_start(*args: Any) -> Any:  # Redis goes away after the first job has started
            calls["start"] += 1
            if calls["start"] > 1:
                raise RedisUnavailable("connection lost")
            return await start(*args)

        async def failing_shard(shard: Any, limit: int) -> Any:  # ... or after the first shard's jobs
            calls["shard"] += 1
            if calls["shard"] > 1:
                raise RedisUnavailable("connection lost")
            return await claim_from(shard, limit)

        store._start = failing_start  # type: ignore[method-assign]
        if shards > 1:
            store._start = start  # type: ignore[method-assign]
            store._claim_from = failing_shard  # type: ignore[method-assign]
        first = await store.claim(10)
        assert first, "the jobs started before Redis failed must be returned, or they never run"
        assert all(job.state == "running" for job in first)
        store._start, store._claim_from = start, claim_from  # type: ignore[method-assign]
        for job in first:
            await store.finish(job.id, "succeeded", b"{}", None)
        rest = await _claim_everything(store, len(ids) - len(first))
        assert {job.id for job in first} | rest == set(ids)  # every job ran
        assert not {job.id for job in first} & rest  # and none twice
    finally:
        await store.close()
        await store._redis.aclose()
        server.stop()
