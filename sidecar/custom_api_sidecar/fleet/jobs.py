"""Background jobs in a Redis Stream, shared by the fleet: any sidecar of the deployment runs
them, ``conv.api.jobs.get`` answers on any sidecar, and a job outlives the pod that took it.

Keys: ``redis.job_shards`` shards (default 1), each its own hash tag, so on Redis Cluster each
lives in one slot and the shards spread over the primaries: shard 0 is
``<prefix>:{<env>:background-jobs}``, shard i > 0 ``<prefix>:{<env>:background-jobs:<i>}``. A job
belongs to the shard its id names (its first 32 bits modulo the shard count), so any sidecar finds
it; every sidecar reads every shard. In each shard:
- ``...:stream``: one entry per job to run, read through the consumer group ``workers``; every
  sidecar process is a consumer of its own;
- ``...:job:<id>``: the job (a hash), written atomically with its stream entry; it expires
  ``retention`` after finishing. What it runs and answers with is sealed (``job_records.py``:
  fields ``call``, ``response``, ``error``); ``state``, ``attempts``, ``created_at`` and
  ``updated_at`` are plaintext, for scheduling and for whoever looks at Redis;
- ``...:delayed``: a sorted set of jobs waiting out a retry delay, moved to the stream when due.
Changing ``redis.job_shards`` down strands the jobs queued in the shards removed: raise it freely,
lower it only with the streams drained.

Replicated before 202 (``redis.jobs_min_replicas``, default 1 with cluster or sentinel): the record
and its stream entry are written by one script on the primary that owns the shard, then ``WAIT
jobs_min_replicas redis.timeout_ms`` on that same connection. Fewer replicas confirming: the job is
taken back out of Redis if no sidecar has started it, and kept in this sidecar's SQLite store instead
(``FleetJobStore``), so a primary that dies before replicating loses no acknowledged job. Until
it is confirmed, the record carries ``unconfirmed`` (a deadline): no sidecar starts it before then
(its entry stays pending and is claimed once idle), so one taken back never also runs from Redis.
A job can still run twice (each time with its ``Idempotency-Key``) when taking it back fails, and
when a primary dies after replicating a job but before its outcome (or its acknowledgement)
reached the replica: the promoted replica still has it queued or pending.

At least once: an entry is acknowledged only when its job is finished or requeued. While a
job runs, its sidecar claims the entry again every ``claim_after / 3`` (a heartbeat); an entry
idle for ``claim_after`` belonged to a sidecar that died and is claimed by another (XAUTOCLAIM),
so a crash costs at most ``claim_after`` of delay. A sidecar that stops gracefully hands its
running jobs back to the stream at once.

Durability is Redis's: run it with ``appendonly yes`` (``appendfsync always`` for no loss at
all on a Redis crash; ``everysec`` loses at most a second).

Redis is not trusted. A record that does not open (forged by writing to Redis, tampered with,
copied from another job, sealed with another key), that is larger than any call could make, or
that was accepted longer than ``retention`` ago is **refused**: never run, logged (WARNING, the
job id and why, never content) and counted (``custom_api_sidecar.jobs.refused{reason, action}``);
its stream entry is acknowledged and deleted (so it is not tried again), and its record expires
after ``retention`` (kept that long for inspection). ``jobs.get`` of it answers JOB_NOT_FOUND,
saying it was refused. Stream entries and delayed-set members are job ids: one that is not a
job id this sidecar could have made is refused before any other key is read.

What sealing cannot stop: whoever can write to Redis can delete jobs, or queue a genuine job
again within ``retention`` (it runs as sealed, with its own ``Idempotency-Key``, so the upstream
can tell a repeat); the plaintext state and attempts shown by ``jobs.get`` are theirs to change.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from opentelemetry import metrics
from redis.exceptions import ResponseError

from custom_api_client.proto import sidecar_pb2 as pb

from ..config._model import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES
from ..errors import SidecarError
from ..jobs import FAILED, QUEUED, RUNNING, SUCCEEDED, Job, JobStore
from ._seal import Seal
from .job_records import CALL, ERROR, RESPONSE, JobRecords, Refused, SealedCall, is_job_id
from .redis import FleetRedis, RedisUnavailable

log = logging.getLogger("custom_api_sidecar.jobs")
GROUP = "workers"
SCOPE = "background-jobs"  # not an API name (those are identifiers): no key collides with an API's
UNCONFIRMED = "unconfirmed"  # a job's field until a replica has it: no sidecar starts it before this time
COMMAND_TIMEOUT_S = 2.0  # background work, not a caller's path: more patience than timeout_ms
POLL_S = 1.0  # how often the stream is looked at for jobs other sidecars queued
PROMOTE_BATCH = 100
CONSUMER_CLEANUP_S = 600.0  # how often consumers of stopped sidecars are removed from the group
CONSUMER_IDLE_MS = 3_600_000  # a consumer idle this long with nothing pending is gone
RECORD_OVERHEAD_BYTES = 1 << 20  # headers, arguments, metadata and sealing around a body
MAX_ATTEMPTS_FIELD = 1_000_000  # a plaintext attempts count past this was not written by a sidecar
START_REFUSALS = {  # what START's refusals mean
    "malformed": "its plaintext attempts count is not one a sidecar writes",
    "not_sealed": "it has no sealed 'call' field (not written by a sidecar)",
    "too_large": "its sealed call is larger than any call could make",
}

# KEYS: delayed set, stream. ARGV: now, batch. Due jobs move from the set to the stream, atomically.
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'job', id)
end
return #due
"""

# KEYS: the job, the stream. ARGV: the job id, then field, value pairs. The record and its entry at once.
ADD = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
"""

# KEYS: the job, the stream. ARGV: its entry id. Take back a job no replica confirmed, unless a sidecar
# started it already (then it runs from Redis, and from the local store too: a duplicate). 1 when taken.
RETRACT = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' or redis.call('HGET', KEYS[1], 'attempts') ~= '0' then
  return 0
end
redis.call('XDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: the job. ARGV: now, the largest sealed field to read, the largest attempts count. Mark it
# running and count the attempt, unless it is gone or finished (a stale entry: a duplicate, or a job
# whose record expired: nil), or not yet (a replica has not confirmed it yet: {'later'}). Returns
# {'ok', attempts, sealed call}, or {reason} for a record no sidecar wrote (it is not marked; nothing
# but the checked fields is read, so its size is bounded).
START = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'running' then return false end
local hold = tonumber(redis.call('HGET', KEYS[1], 'unconfirmed') or '')
if hold and tonumber(ARGV[1]) < hold then return {'later'} end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts == nil or attempts ~= math.floor(attempts) or attempts < 0 or attempts > tonumber(ARGV[3]) then
  return {'malformed'}
end
if redis.call('HEXISTS', KEYS[1], 'call') == 0 then return {'not_sealed'} end
if redis.call('HSTRLEN', KEYS[1], 'call') > tonumber(ARGV[2]) then return {'too_large'} end
attempts = attempts + 1
redis.call('HSET', KEYS[1], 'state', 'running', 'attempts', attempts, 'updated_at', ARGV[1])
return {'ok', tostring(attempts), redis.call('HGET', KEYS[1], 'call')}
"""

# KEYS: the job. ARGV: the largest sealed field to read. nil when there is no such job; {'too_large'};
# else {'ok', state, attempts, updated_at, call, response, error} (nil for a missing field).
READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
for _, field in ipairs({'call', 'response', 'error', 'state', 'attempts', 'updated_at'}) do
  if redis.call('HSTRLEN', KEYS[1], field) > tonumber(ARGV[1]) then return {'too_large'} end
end
local f = redis.call('HMGET', KEYS[1], 'state', 'attempts', 'updated_at', 'call', 'response', 'error')
return {'ok', f[1], f[2], f[3], f[4], f[5], f[6]}
"""


class Shard:
    """One job stream with its delayed set (and its jobs' records), under one hash tag."""

    def __init__(self, redis: FleetRedis, index: int) -> None:
        self.index = index
        self.scope = SCOPE if index == 0 else f"{SCOPE}:{index}"  # shard 0 keeps the unsharded names
        self.stream = redis.key(self.scope, "stream")
        self.delayed = redis.key(self.scope, "delayed")
        self.group_ready = False


class RedisJobStore:
    """The JobStore protocol on sharded Redis Streams (see the module docstring)."""

    def __init__(
        self,
        redis: FleetRedis,
        seal: Seal,
        *,
        claim_after: float = 15.0,
        retention: float = 86_400.0,
        max_body_bytes: Callable[[], int] = lambda: max(DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES),
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        """``seal`` holds ``redis.job_key`` (records are sealed with it); ``max_body_bytes`` is
        the largest request or response body a call may have now (records read back are bounded by it);
        a record accepted more than ``retention`` ago is refused (a copy kept to replay later is useless)."""
        self._redis = redis
        self._records = JobRecords(seal, self._job_key)
        self._max_body_bytes = max_body_bytes
        self._retention = retention
        self._claim_after_ms = int(claim_after * 1000)
        self._retention_ms = int(retention * 1000)
        self._shards = [Shard(redis, index) for index in range(redis.settings.job_shards)]
        self._min_replicas = redis.settings.jobs_min_replicas
        self._next_shard = 0  # claim starts at a different shard each time: none is always last
        self._consumer = redis.instance_id
        self._entries: dict[str, bytes] = {}  # running here: job id -> its stream entry
        self.unreplicated = 0  # jobs kept locally because too few replicas confirmed them
        self._last_heartbeat = 0.0
        self._last_cleanup = time.monotonic()
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("custom_api_sidecar.jobs")
        self._refused = meter.create_counter(
            "custom_api_sidecar.jobs.refused",
            unit="{record}",
            description="Background job records in Redis refused (never run): forged, tampered or unreadable",
        )
        self.refused = 0  # the same count, for tests and status pages

    def _max_record_bytes(self) -> int:
        return 2 * self._max_body_bytes() + RECORD_OVERHEAD_BYTES  # a body may arrive as JSON text

    def _shard(self, job_id: str) -> Shard:
        """The shard a job id names (ids are hex; anything else is refused before it is looked up)."""
        if len(self._shards) == 1 or not is_job_id(job_id):
            return self._shards[0]
        return self._shards[int(job_id[:8], 16) % len(self._shards)]

    def _job_key(self, job_id: str) -> str:
        return self._redis.key(self._shard(job_id).scope, f"job:{job_id}")

    async def _run(self, fn: Any) -> Any:
        try:
            return await self._redis.run(fn, timeout=COMMAND_TIMEOUT_S)
        except RedisUnavailable as exc:
            if "NOGROUP" in str(exc):  # Redis (or a shard) restarted without its data: make the groups again
                for shard in self._shards:
                    shard.group_ready = False
            raise

    async def _ensure_group(self, shard: Shard) -> None:
        if shard.group_ready:
            return

        async def create(client: aioredis.Redis) -> None:
            try:
                await client.xgroup_create(shard.stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):  # already there: another sidecar made it
                    raise

        await self._run(create)
        shard.group_ready = True

    # --- the JobStore protocol ------------------------------------------------------------------

    async def open(self) -> None:
        try:
            for shard in self._shards:
                await self._ensure_group(shard)
        except RedisUnavailable as exc:  # made when Redis answers; until then jobs stay local
            log.warning("background jobs: the Redis stream is not ready (%s); using the local store meanwhile", exc)

    async def add(
        self, job_id: str, api: str, operation: str, request: bytes, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        shard = self._shard(job_id)
        await self._ensure_group(shard)
        now = time.time()
        sealed = self._records.seal_call(job_id, SealedCall(api, operation, request, metadata, now))
        fields: dict[Any, str | bytes | float] = {
            "state": QUEUED,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            CALL: sealed,
        }

        key = self._job_key(job_id)
        if self._min_replicas == 0:

            async def add(client: aioredis.Redis) -> None:
                async with client.pipeline(transaction=True) as tx:
                    tx.hset(key, mapping=fields)
                    tx.xadd(shard.stream, {"job": job_id})
                    await tx.execute()

            await self._run(add)
            return
        # Not started by anyone before this add has either confirmed it or taken it back (or given up).
        fields[UNCONFIRMED] = now + COMMAND_TIMEOUT_S * 2 + self._redis.settings.timeout_ms / 1000
        pairs = [part for field, value in fields.items() for part in (field, value)]
        command = ("EVAL", ADD, 2, key, shard.stream, job_id, *pairs)
        entry_id, confirmed = await self._redis.write_replicated(key, command, self._min_replicas, COMMAND_TIMEOUT_S)
        if confirmed >= self._min_replicas:
            with contextlib.suppress(RedisUnavailable):  # else it starts at its deadline
                await self._run(lambda c: c.hdel(key, UNCONFIRMED))
            return
        self.unreplicated += 1
        why = (
            f"only {confirmed} of the {self._min_replicas} replica(s) redis.jobs_min_replicas asks for confirmed it "
            f"within {self._redis.settings.timeout_ms} ms"
        )
        try:
            await self._run(lambda c: c.eval(RETRACT, 2, key, shard.stream, entry_id))
        except RedisUnavailable:
            why += "; taking it back failed, so it may also run from Redis"
        raise RedisUnavailable(why)

    async def claim(self, limit: int) -> list[Job]:
        jobs: list[Job] = []
        start = self._next_shard
        self._next_shard = (start + 1) % len(self._shards)
        for offset in range(len(self._shards)):
            if len(jobs) >= limit:
                break
            try:
                jobs.extend(
                    await self._claim_from(self._shards[(start + offset) % len(self._shards)], limit - len(jobs))
                )
            except RedisUnavailable:
                if not jobs:
                    raise
                return jobs  # the jobs already started must run (see _claim_from)
        return jobs

    async def _claim_from(self, shard: Shard, limit: int) -> list[Job]:
        await self._ensure_group(shard)
        now = time.time()
        await self._run(lambda c: c.eval(PROMOTE, 2, shard.delayed, shard.stream, now, PROMOTE_BATCH))
        # First entries a dead sidecar left behind, then new ones.
        claimed = await self._run(
            lambda c: c.xautoclaim(shard.stream, GROUP, self._consumer, self._claim_after_ms, "0-0", count=limit)
        )
        stale = claimed[1]  # [next cursor, entries, deleted ids]
        entries = list(stale)
        if stale:
            log.warning("background jobs: claimed %d job(s) a stopped sidecar left running", len(stale))
        if len(entries) < limit:
            read = await self._run(
                lambda c: c.xreadgroup(GROUP, self._consumer, {shard.stream: ">"}, count=limit - len(entries))
            )
            for _, new in read or ():
                entries.extend(new)
        await self._remove_gone_consumers(shard)
        jobs: list[Job] = []
        for entry_id, fields in entries:
            try:
                job = await self._start(shard, entry_id, fields.get(b"job", b""))
            except RedisUnavailable:
                # A job started already is marked running and heartbeated as this sidecar's: dropped here,
                # it would never run, nor be claimed by anyone. It runs; the rest stay pending, claimed once idle.
                if not jobs:
                    raise
                break
            if job is not None:
                jobs.append(job)
        return jobs

    async def _start(self, shard: Shard, entry_id: bytes, raw_id: bytes) -> Job | None:
        job_id = raw_id[:65].decode("ascii", "replace")  # enough to tell, bounded (an id is 32)
        now = time.time()
        try:
            if not is_job_id(job_id):
                raise Refused("bad_id", "its stream entry does not name a job id a sidecar makes")
            key = self._job_key(job_id)
            reply = await self._run(lambda c: c.eval(START, 1, key, now, self._max_record_bytes(), MAX_ATTEMPTS_FIELD))
            if not reply:  # a stale entry: the job is finished or gone
                await self._run(lambda c: self._forget(c, shard, entry_id))
                return None
            if reply[0] == b"later":  # its submitter is still waiting for a replica: claimed once idle
                return None
            if reply[0] != b"ok":
                reason = reply[0].decode()
                raise Refused(reason, START_REFUSALS.get(reason, "its record was not written by a sidecar"))
            call = self._records.open_call(job_id, reply[2])
            if call.created_at < now - self._retention:
                raise Refused("expired", f"it was accepted more than {self._retention:g} s ago (a replay?)")
        except Refused as refused:
            await self._refuse(shard, entry_id, job_id, refused)
            return None
        self._entries[job_id] = entry_id
        return Job(
            id=job_id,
            state=RUNNING,
            api=call.api,
            operation=call.operation,
            request=call.request,
            metadata=call.metadata,
            attempts=int(reply[1]),
            created_at=call.created_at,
            updated_at=now,
        )

    def _count_refusal(self, job_id: str, refused: Refused, action: str) -> None:
        self.refused += 1
        self._refused.add(1, {"reason": refused.reason, "action": action})
        shown = job_id if is_job_id(job_id) else repr(job_id[:64])
        done = "not run" if action == "run" else "not answered"
        log.warning("background job %s refused (%s): %s; %s", shown, refused.reason, refused.why, done)

    async def _refuse(self, shard: Shard, entry_id: bytes, job_id: str, refused: Refused) -> None:
        """Never run: acknowledged and deleted from the stream (not tried again); a record that is
        there expires after ``retention``, left until then for whoever investigates."""
        self._count_refusal(job_id, refused, "run")
        key = self._job_key(job_id) if is_job_id(job_id) else None

        async def drop(client: aioredis.Redis) -> None:
            async with client.pipeline(transaction=True) as tx:
                tx.xack(shard.stream, GROUP, entry_id)
                tx.xdel(shard.stream, entry_id)
                if key is not None:
                    tx.pexpire(key, self._retention_ms)
                await tx.execute()

        await self._run(drop)

    async def _forget(self, client: aioredis.Redis, shard: Shard, entry_id: bytes) -> None:
        async with client.pipeline(transaction=True) as tx:
            tx.xack(shard.stream, GROUP, entry_id)
            tx.xdel(shard.stream, entry_id)
            await tx.execute()

    async def _remove_gone_consumers(self, shard: Shard) -> None:
        """Each process is a consumer of its own: forget those of sidecars long stopped."""
        if time.monotonic() - self._last_cleanup < CONSUMER_CLEANUP_S:
            return
        if shard.index == len(self._shards) - 1:
            self._last_cleanup = time.monotonic()  # every shard had its turn
        consumers = await self._run(lambda c: c.xinfo_consumers(shard.stream, GROUP))
        for consumer in consumers:
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            if name != self._consumer and consumer["pending"] == 0 and consumer["idle"] > CONSUMER_IDLE_MS:
                await self._run(lambda c, name=name: c.xgroup_delconsumer(shard.stream, GROUP, name))

    async def _heartbeat(self) -> None:
        """Claim this sidecar's running entries again, so nobody takes them for a dead sidecar's."""
        now = time.monotonic()
        if not self._entries or now - self._last_heartbeat < self._claim_after_ms / 3000:
            return
        self._last_heartbeat = now
        by_shard: dict[int, list[bytes]] = {}
        for job_id, entry in self._entries.items():
            by_shard.setdefault(self._shard(job_id).index, []).append(entry)
        for index, entries in by_shard.items():
            stream = self._shards[index].stream
            await self._run(lambda c, s=stream, e=entries: c.xclaim(s, GROUP, self._consumer, 0, e, justid=True))

    async def finish(self, job_id: str, state: str, response: bytes | None, error: bytes | None) -> None:
        entry_id = self._entries.pop(job_id, None)
        key = self._job_key(job_id)
        stream = self._shard(job_id).stream
        fields: dict[Any, str | bytes | float] = {"state": state, "updated_at": time.time()}
        if response is not None:
            fields[RESPONSE] = self._records.seal_outcome(job_id, RESPONSE, response)
        if error is not None:
            fields[ERROR] = self._records.seal_outcome(job_id, ERROR, error)

        async def finish(client: aioredis.Redis) -> None:
            async with client.pipeline(transaction=True) as tx:
                tx.hset(key, mapping=fields)
                tx.pexpire(key, self._retention_ms)
                if entry_id is not None:
                    tx.xack(stream, GROUP, entry_id)
                    tx.xdel(stream, entry_id)
                await tx.execute()

        await self._run(finish)

    async def requeue(self, job_id: str, delay: float) -> None:
        entry_id = self._entries.pop(job_id, None)
        now = time.time()
        shard = self._shard(job_id)

        async def requeue(client: aioredis.Redis) -> None:
            async with client.pipeline(transaction=True) as tx:
                tx.hset(self._job_key(job_id), mapping={"state": QUEUED, "updated_at": now})
                if delay > 0:
                    tx.zadd(shard.delayed, {job_id: now + delay})
                else:
                    tx.xadd(shard.stream, {"job": job_id})
                if entry_id is not None:
                    tx.xack(shard.stream, GROUP, entry_id)
                    tx.xdel(shard.stream, entry_id)
                await tx.execute()

        await self._run(requeue)

    async def recover(self) -> int:
        """Nothing to do at start: a dead sidecar's entries are claimed when idle (``claim``)."""
        return 0

    async def get(self, job_id: str) -> Job | None:
        """The job as sealed (its outcome decides a finished job's state); SidecarError(JOB_NOT_FOUND)
        naming the refusal for a record that does not open."""
        if not is_job_id(job_id):
            return None  # no sidecar made it: nothing to look up
        reply = await self._run(lambda c: c.eval(READ, 1, self._job_key(job_id), self._max_record_bytes()))
        if not reply:
            return None
        try:
            return self._open_job(job_id, reply)
        except Refused as refused:
            self._count_refusal(job_id, refused, "get")
            raise SidecarError(
                pb.ErrorCode.JOB_NOT_FOUND,
                f"background job {job_id!r} was refused: its record in Redis failed the seal check "
                f"({refused.reason}: forged, tampered with, or sealed with another redis.job_key)",
            ) from None

    def _open_job(self, job_id: str, reply: list[Any]) -> Job:
        if reply[0] != b"ok":
            raise Refused(reply[0].decode(), "its fields are larger than any call could make")
        state_raw, attempts, updated_at, sealed_call, sealed_response, sealed_error = reply[1:7]
        call = self._records.open_call(job_id, sealed_call)
        response = self._records.open_outcome(job_id, RESPONSE, sealed_response) if sealed_response else None
        error = self._records.open_outcome(job_id, ERROR, sealed_error) if sealed_error else None
        if response is not None and error is not None:
            raise Refused("malformed", "it has both a sealed response and a sealed error")
        state = _text(state_raw)
        if response is not None or error is not None:
            state = SUCCEEDED if response is not None else FAILED  # the sealed outcome, not the plaintext
        elif state not in (QUEUED, RUNNING):
            raise Refused("malformed", "its state is not one a sidecar writes without a sealed outcome")
        return Job(
            id=job_id,
            state=state,
            api=call.api,
            operation=call.operation,
            request=call.request,
            metadata=call.metadata,
            attempts=_number(attempts, int),
            created_at=call.created_at,
            updated_at=_number(updated_at, float),
            response=response,
            error=error,
        )

    async def next_due(self) -> float | None:
        """Other sidecars queue jobs here too: look again within POLL_S."""
        await self._heartbeat()  # the dispatcher asks this on every turn, even with every worker busy
        due = time.time() + POLL_S
        for shard in self._shards:
            head = await self._run(lambda c, s=shard: c.zrange(s.delayed, 0, 0, withscores=True))
            if head:
                due = min(due, head[0][1])
        return due

    async def prune(self, older_than: float) -> int:
        """Finished jobs expire by themselves (``retention``)."""
        return 0

    async def close(self) -> None:
        """Hand the jobs still running here back to the stream, for the next sidecar to run."""
        for job_id in list(self._entries):
            try:
                await self.requeue(job_id, 0)
            except RedisUnavailable:
                break  # Redis is gone: the entries stay pending and are claimed when idle
        self._entries.clear()


class FleetJobStore:
    """Jobs in Redis while it answers; in this sidecar's own SQLite store while it doesn't (a job
    is never refused for want of Redis: the local store is just as durable, only not shared)."""

    def __init__(self, redis: FleetRedis, shared: RedisJobStore, local: JobStore) -> None:
        self._redis = redis
        self.shared = shared
        self.local = local
        self._local_ids: set[str] = set()  # running jobs that came from the local store
        self.kept_locally = 0  # jobs accepted into the local store because Redis could not take them

    async def open(self) -> None:
        await self.local.open()
        await self.shared.open()

    async def add(
        self, job_id: str, api: str, operation: str, request: bytes, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        try:
            await self.shared.add(job_id, api, operation, request, metadata)
            return
        except RedisUnavailable as exc:
            self._redis.fell_back("background_jobs")
            self.kept_locally += 1
            log.info("background job %s: kept in this sidecar's own store (%s)", job_id, exc)
        await self.local.add(job_id, api, operation, request, metadata)

    async def claim(self, limit: int) -> list[Job]:
        jobs = await self.local.claim(limit)
        self._local_ids.update(job.id for job in jobs)
        if len(jobs) < limit and self._redis.available:
            # On failure, entries read but not returned stay pending: claimed again when idle.
            with contextlib.suppress(RedisUnavailable):
                jobs.extend(await self.shared.claim(limit - len(jobs)))
        return jobs

    async def finish(self, job_id: str, state: str, response: bytes | None, error: bytes | None) -> None:
        if job_id in self._local_ids:
            self._local_ids.discard(job_id)
            await self.local.finish(job_id, state, response, error)
            return
        try:
            await self.shared.finish(job_id, state, response, error)
        except RedisUnavailable as exc:
            log.warning("background job %s: its outcome could not be stored in Redis (%s); it runs again", job_id, exc)

    async def requeue(self, job_id: str, delay: float) -> None:
        if job_id in self._local_ids:
            self._local_ids.discard(job_id)
            await self.local.requeue(job_id, delay)
            return
        try:
            await self.shared.requeue(job_id, delay)
        except RedisUnavailable as exc:
            log.warning("background job %s: could not be requeued in Redis (%s); it runs again", job_id, exc)

    async def recover(self) -> int:
        return await self.local.recover() + await self.shared.recover()

    async def get(self, job_id: str) -> Job | None:
        if self._redis.available:
            try:
                job = await self.shared.get(job_id)
                if job is not None:
                    return job
            except RedisUnavailable:
                pass
        return await self.local.get(job_id)

    async def next_due(self) -> float | None:
        due = [await self.local.next_due()]
        if self._redis.available:
            with contextlib.suppress(RedisUnavailable):
                due.append(await self.shared.next_due())
        known = [d for d in due if d is not None]
        return min(known) if known else None

    async def prune(self, older_than: float) -> int:
        return await self.local.prune(older_than) + await self.shared.prune(older_than)

    async def close(self) -> None:
        await self.shared.close()
        await self.local.close()


def _text(raw: bytes | None) -> str:
    return (raw or b"")[:64].decode("utf-8", "replace")


def _number(raw: bytes | None, kind: type[int] | type[float]) -> Any:
    """A plaintext visibility field (attempts, updated_at): shown as 0 when it is not a number."""
    try:
        value = kind(_text(raw) or 0)
    except ValueError:
        return kind(0)
    return value if math.isfinite(value) else kind(0)


__all__ = ["FleetJobStore", "RedisJobStore"]
