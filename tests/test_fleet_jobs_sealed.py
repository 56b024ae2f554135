"""Sealed background job records in Redis (``redis.job_key``): a real redis-server, in-process
sidecars, and a real HTTP upstream that records every request it gets.

Redis is untrusted: the tests write to it as an attacker would (redis-py, plain commands) and
read everything back (``redis-cli --scan``, then HGETALL / XRANGE / ZRANGE / GET of every key).

A "submitter" sidecar has no workers (``job_concurrency=0``): it queues jobs and answers
``jobs.get``; the test then does what it likes to Redis before a "worker" sidecar starts.
"""

from __future__ import annotations

import base64
import json
import logging
import pathlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from custom_api_client import connect, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.metrics import Metrics
from tests._support.processes import RedisServer
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

KEY = base64.b64encode(bytes(range(7, 39))).decode()
OTHER_KEY = base64.b64encode(bytes(range(50, 82))).decode()
PREFIX = "custom-api-sidecar"
SCOPE = "{sandbox:background-jobs}"
LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"


def config(redis_url: str, upstream: Upstream, key_env: str = "SEALED_JOB_KEY", extra: str = "") -> str:
    return f"""
redis: {{url: "{redis_url}", job_key: "env://{key_env}", timeout_ms: 250{extra}}}
apis:
  - name: crm
    connection: {{{LOCAL}, base_url: "{upstream.url}", timeout_ms: 10000}}
    endpoints:
      - {{name: book_slot, method: POST, path: "/echo/bookings/{{n}}", parameters: [{{name: note, in: query}}]}}
    security: {{max_request_bytes: 100000, max_response_bytes: 100000}}
"""


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALED_JOB_KEY", KEY)
    monkeypatch.setenv("SEALED_OTHER_KEY", OTHER_KEY)


@pytest.fixture
def redis(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def client(redis: RedisServer) -> Iterator[redis_py.Redis]:
    """The attacker's (and the inspector's) view of Redis."""
    connection = redis_py.Redis.from_url(redis.url)
    yield connection
    connection.close()


class Sidecars:
    """In-process sidecars on one Redis, each with its own SQLite fallback store; stopped at the end."""

    def __init__(self, tmp: pathlib.Path, redis: RedisServer, upstream: Upstream) -> None:
        self.tmp, self.redis, self.upstream = tmp, redis, upstream
        self.started: list[ThreadedSidecar] = []
        self.readers: list[InMemoryMetricReader] = []  # one per sidecar: a reader serves one provider

    def start(self, name: str, *, workers: int, key_env: str = "SEALED_JOB_KEY", extra: str = "") -> ThreadedSidecar:
        reader = InMemoryMetricReader()
        self.readers.append(reader)
        running = start_sidecar(
            config(self.redis.url, self.upstream, key_env, extra),
            str(self.tmp / f"{name}.sock"),
            job_store=SqliteJobStore(self.tmp / f"{name}.sqlite3"),
            job_concurrency=workers,
            metrics=Metrics(MeterProvider(metric_readers=[reader]), None),
        )
        self.started.append(running)
        return running

    def refusals(self) -> dict[tuple[str, str], int]:
        """custom_api_sidecar.jobs.refused by (reason, action), over every sidecar started here."""
        counts: dict[tuple[str, str], int] = {}
        for reader in self.readers:
            data = reader.get_metrics_data()
            for rm in data.resource_metrics if data is not None else ():
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name == "custom_api_sidecar.jobs.refused":
                            for point in metric.data.data_points:
                                key = (str(point.attributes["reason"]), str(point.attributes["action"]))
                                counts[key] = counts.get(key, 0) + int(point.value)
        return counts

    def stop(self) -> None:
        for running in self.started:
            running.stop()


@pytest.fixture
def sidecars(tmp_path: pathlib.Path, redis: RedisServer, upstream: Upstream) -> Iterator[Sidecars]:
    group = Sidecars(tmp_path, redis, upstream)
    yield group
    group.stop()


def refused(running: ThreadedSidecar) -> int:
    """How many records this sidecar's Redis job store refused so far."""
    jobs = running.sidecar.jobs
    assert jobs is not None
    return int(jobs.store.shared.refused)  # a FleetJobStore: Redis first, SQLite when Redis is down


def job_key(job_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}:{SCOPE}:job:{job_id}"


def stream(prefix: str = PREFIX) -> str:
    return f"{prefix}:{SCOPE}:stream"


def reached(upstream: Upstream, marker: str) -> int:
    """How many requests with ``marker`` in their path reached the upstream."""
    return sum(marker in r["raw_path"] for r in list(upstream.requests))


def wait_until(condition: Any, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


def everything_in_redis(url: str, client: redis_py.Redis) -> tuple[list[bytes], bytes]:
    """Every key (``redis-cli --scan``) and every byte of every value, as an attacker reads them."""
    keys = subprocess.run(["redis-cli", "-u", url, "--scan"], capture_output=True, check=True, timeout=30).stdout
    names = sorted(keys.split())
    seen: list[bytes] = []
    for name in names:
        kind = client.type(name)
        if kind == b"hash":
            seen += [field + b"=" + value for field, value in client.hgetall(name).items()]
        elif kind == b"stream":
            seen += [k + b"=" + v for _, fields in client.xrange(name) for k, v in fields.items()]
        elif kind == b"zset":
            seen += client.zrange(name, 0, -1)
        elif kind == b"string":
            seen.append(client.get(name) or b"")
        else:
            raise AssertionError(f"a key of an unexpected type in Redis: {name!r} is a {kind!r}")
    return names, b"\n".join(seen)


def forged_request(marker: str) -> bytes:
    """A plaintext InvokeRequest an attacker would queue: POST /echo/bookings/<marker>."""
    request = pb.InvokeRequest(api="crm", operation="book_slot")
    request.positional.add(string_value=marker)
    request.headers.add(key="Idempotency-Key", value=marker)
    return request.SerializeToString()


def queue_forged(client: redis_py.Redis, job_id: str, fields: dict[str, Any], prefix: str = PREFIX) -> None:
    """What an attacker with write access does: a job hash and its stream entry, in one MULTI."""
    with client.pipeline(transaction=True) as tx:
        tx.hset(job_key(job_id, prefix), mapping=fields)
        tx.xadd(stream(prefix), {"job": job_id})
        tx.execute()


def plaintext_job(marker: str) -> dict[str, Any]:
    """The record format background jobs had before they were sealed: everything in the clear."""
    now = time.time()
    return {
        "state": "queued",
        "api": "crm",
        "operation": "book_slot",
        "request": forged_request(marker),
        "metadata": json.dumps([["x-conversation-id", "attacker"]]),
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


# --- (1) nothing readable in Redis ---------------------------------------------------------------


def test_no_body_argument_metadata_or_response_is_readable_in_redis(sidecars, redis, client, upstream):
    canary = f"CANARY-{uuid.uuid4().hex}"
    submitter = sidecars.start("submitter", workers=0)
    with connect(submitter.unix_target, conversation_id=f"conv-{canary}") as conv:
        accepted = conv.api.crm.book_slot(
            f"path-{canary}",
            note=f"query-{canary}",
            json={"patient": f"body-{canary}"},
            headers={"X-Note": f"header-{canary}"},
            background=True,
        )
        assert accepted.status_code == 202
        # Queued, not run yet (no worker): the request and metadata are in Redis, sealed.
        names, queued = everything_in_redis(redis.url, client)
        assert job_key(accepted.job_id).encode() in names and stream().encode() in names
        sidecars.start("worker", workers=4)
        job = conv.api.jobs.wait(accepted.job_id, timeout=20)
    assert job.state == "succeeded" and job.response.status_code == 200
    echoed = job.response.json()  # the upstream saw every canary: they were sealed, not dropped
    assert canary in echoed["raw_path"] and f"body-{canary}" in echoed["body"]
    assert {k.lower(): v for k, v in echoed["headers"]}["x-note"] == f"header-{canary}"
    # Finished: the response (which echoes every canary back) is in Redis too, sealed.
    names, finished = everything_in_redis(redis.url, client)
    record = client.hgetall(job_key(accepted.job_id))
    assert set(record) == {b"state", b"attempts", b"created_at", b"updated_at", b"call", b"response"}
    assert record[b"state"] == b"succeeded"
    for seen in (queued, finished):
        assert canary.encode() not in seen
        assert base64.b64encode(f"body-{canary}".encode()) not in seen  # the echo carries it as base64 too
        assert b"book_slot" not in seen  # not even which operation
    assert reached(upstream, f"path-{canary}") == 1


# --- (2) a forged job never runs --------------------------------------------------------------------


def test_a_job_forged_by_writing_to_redis_never_reaches_the_upstream(sidecars, redis, client, upstream, caplog):
    caplog.set_level(logging.WARNING, "custom_api_sidecar.jobs")
    marker = f"forged-{uuid.uuid4().hex[:12]}"
    plain, junk, bad_state, huge = (uuid.uuid4().hex for _ in range(4))
    queue_forged(client, plain, plaintext_job(f"{marker}-plain"))  # the old format: would have run before
    queue_forged(client, junk, {**plaintext_job(f"{marker}-junk"), "call": b"\x00" * 64})  # a guess at the new one
    queue_forged(client, bad_state, {**plaintext_job(f"{marker}-attempts"), "attempts": "1e400"})
    queue_forged(client, huge, {**plaintext_job(f"{marker}-huge"), "call": b"\x00" * (3 << 20)})
    queue_forged(client, "../../" + "x" * 5000, plaintext_job(f"{marker}-badid"))  # not an id a sidecar makes
    client.zadd(f"{PREFIX}:{SCOPE}:delayed", {plain: 0})  # and once more through the retry set
    worker = sidecars.start("worker", workers=4)
    wait_until(lambda: refused(worker) >= 6, what="six refusals")
    # A genuine job queued after them runs: the worker is not stuck on what it refused.
    with connect(worker.unix_target) as conv:
        genuine = conv.api.crm.book_slot(f"{marker}-genuine", json={}, background=True)
        assert conv.api.jobs.wait(genuine.job_id, timeout=20).state == "succeeded"
        time.sleep(1.5)  # a further poll of the stream: still nothing forged runs
        with pytest.raises(errors.JobNotFound, match=f"background job '{plain}' was refused"):
            conv.api.jobs.get(plain)
    assert reached(upstream, marker) == 1 and reached(upstream, f"{marker}-genuine") == 1
    counts = sidecars.refusals()
    assert counts[("not_sealed", "run")] == 2  # the plaintext job, from the stream and from the retry set
    assert counts[("unopenable", "run")] == 1
    assert counts[("malformed", "run")] == 1
    assert counts[("too_large", "run")] == 1
    assert counts[("bad_id", "run")] == 1
    assert counts[("not_sealed", "get")] == 1
    # Acknowledged and removed from the stream (never tried again); the records expire.
    assert client.xlen(stream()) == 0
    assert client.xpending(stream(), "workers")["pending"] == 0
    for job_id in (plain, junk, bad_state, huge):
        assert 0 < client.pttl(job_key(job_id)) <= 86_400_000
    # Logged at WARNING with the job id and why, never the forged content.
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any(plain in line and "not_sealed" in line and "not run" in line for line in refusals)
    assert any(junk in line and "unopenable" in line for line in refusals)
    assert any("'../../xxx" in line and "bad_id" in line and len(line) < 400 for line in refusals)
    for forged in ("plain", "junk", "attempts", "huge", "badid"):
        assert f"{marker}-{forged}" not in caplog.text


# --- (3) a sealed value opens only where it was written -------------------------------------------


def test_a_sealed_blob_copied_to_another_job_field_or_prefix_is_refused(sidecars, redis, client, upstream):
    marker = f"moved-{uuid.uuid4().hex[:12]}"
    submitter = sidecars.start("submitter", workers=0)
    with connect(submitter.unix_target) as conv:
        a = conv.api.crm.book_slot(f"{marker}-a", json={}, background=True).job_id
        done = conv.api.crm.book_slot(f"{marker}-done", json={}, background=True).job_id
        sidecars.start("worker", workers=4)
        assert conv.api.jobs.wait(a, timeout=20).state == "succeeded"
        assert conv.api.jobs.wait(done, timeout=20).state == "succeeded"
        record = client.hgetall(job_key(a))
        # A's sealed call in a new job B's hash (the state, attempts and timestamps all in order).
        b = uuid.uuid4().hex
        now = time.time()
        fields = {"state": "queued", "attempts": 0, "created_at": now, "updated_at": now}
        queue_forged(client, b, {**fields, "call": record[b"call"]})
        # A's call under another key prefix (another deployment sharing this Redis and key).
        queue_forged(client, a, {**fields, "call": record[b"call"]}, prefix="other-deployment")
        other = sidecars.start("other", workers=4, extra=", key_prefix: other-deployment")
        # A's response as another finished job's response, and as A's own error.
        client.hset(job_key(done), "response", record[b"response"])
        client.hset(job_key(a), mapping={"error": record[b"response"]})
        client.hdel(job_key(a), "response")
        worker = sidecars.started[1]
        wait_until(lambda: refused(worker) >= 1 and refused(other) >= 1, what="both refusals")
        with pytest.raises(errors.JobNotFound, match="was refused"):
            conv.api.jobs.get(b)
        with pytest.raises(errors.JobNotFound, match="was refused"):
            conv.api.jobs.get(done)
        with pytest.raises(errors.JobNotFound, match="was refused"):
            conv.api.jobs.get(a)
    time.sleep(1.5)  # another poll: nothing moved runs
    assert reached(upstream, f"{marker}-a") == 1  # A ran once, as itself; never as B or under the other prefix
    assert sidecars.refusals() == {("unopenable", "run"): 2, ("unopenable", "get"): 3}


# --- (4) tampering -----------------------------------------------------------------------------------


def test_a_tampered_ciphertext_is_refused(sidecars, redis, client, upstream):
    marker = f"tampered-{uuid.uuid4().hex[:12]}"
    submitter = sidecars.start("submitter", workers=0)
    with connect(submitter.unix_target) as conv:
        ids = [conv.api.crm.book_slot(f"{marker}-{n}", json={"n": n}, background=True).job_id for n in range(4)]
        finished = conv.api.crm.book_slot(f"{marker}-finished", json={}, background=True).job_id
        sealed = [client.hget(job_key(job_id), "call") for job_id in ids]
        assert all(blob is not None and len(blob) > 40 for blob in sealed)
        # One bit of the nonce, of the ciphertext, of the tag; and the tag cut off.
        client.hset(job_key(ids[0]), "call", flip(sealed[0], 3))
        client.hset(job_key(ids[1]), "call", flip(sealed[1], 20))
        client.hset(job_key(ids[2]), "call", flip(sealed[2], len(sealed[2]) - 1))
        client.hset(job_key(ids[3]), "call", sealed[3][:-16])
        worker = sidecars.start("worker", workers=4)
        assert conv.api.jobs.wait(finished, timeout=20).state == "succeeded"
        wait_until(lambda: refused(worker) >= 4, what="four refusals")
        for job_id in ids:
            with pytest.raises(errors.JobNotFound, match="unopenable"):
                conv.api.jobs.get(job_id)
        response = client.hget(job_key(finished), "response")
        assert response is not None
        client.hset(job_key(finished), "response", flip(response, len(response) // 2))
        with pytest.raises(errors.JobNotFound, match="was refused"):
            conv.api.jobs.get(finished)
    assert reached(upstream, marker) == 1  # only the untouched job
    assert sidecars.refusals() == {("unopenable", "run"): 4, ("unopenable", "get"): 5}


def test_plaintext_fields_cannot_change_what_runs_or_what_get_answers(sidecars, redis, client, upstream):
    marker = f"plain-{uuid.uuid4().hex[:12]}"
    submitter = sidecars.start("submitter", workers=0)
    with connect(submitter.unix_target) as conv:
        job_id = conv.api.crm.book_slot(f"{marker}-real", json={}, background=True).job_id
        # Attacker-written plaintext beside the sealed call: the old format's fields, ignored.
        client.hset(job_key(job_id), mapping={"api": "other", "request": forged_request(f"{marker}-swapped")})
        sidecars.start("worker", workers=4)
        job = conv.api.jobs.wait(job_id, timeout=20)
        assert (job.state, job.api, job.operation) == ("succeeded", "crm", "book_slot")
        # A finished job marked failed in plaintext still answers its sealed outcome; junk numbers show as 0.
        client.hset(job_key(job_id), mapping={"state": "failed", "attempts": "lots", "updated_at": "nan"})
        again = conv.api.jobs.get(job_id)
        assert again.state == "succeeded" and again.response.status_code == 200 and again.attempts == 0
    assert reached(upstream, f"{marker}-real") == 1 and reached(upstream, f"{marker}-swapped") == 0


# --- keys ---------------------------------------------------------------------------------------


def test_a_job_sealed_under_another_key_is_refused_not_run(sidecars, redis, client, upstream):
    """What happens to queued jobs when redis.job_key changes: sidecars with the new key refuse them."""
    marker = f"rotated-{uuid.uuid4().hex[:12]}"
    submitter = sidecars.start("submitter", workers=0)
    with connect(submitter.unix_target) as conv:
        job_id = conv.api.crm.book_slot(marker, json={}, background=True).job_id
    rotated = sidecars.start("rotated", workers=4, key_env="SEALED_OTHER_KEY")
    wait_until(lambda: refused(rotated) >= 1, what="the refusal")
    with connect(rotated.unix_target) as conv, pytest.raises(errors.JobNotFound, match=r"another redis\.job_key"):
        conv.api.jobs.get(job_id)
    assert reached(upstream, marker) == 0
    assert client.xlen(stream()) == 0 and 0 < client.pttl(job_key(job_id)) <= 86_400_000


def test_a_genuine_record_older_than_the_retention_is_refused_as_a_replay(sidecars, redis, client, upstream):
    from custom_api_sidecar.auth._parts import Part
    from custom_api_sidecar.fleet import Seal
    from custom_api_sidecar.fleet.job_records import JobRecords, SealedCall
    from custom_api_sidecar.secrets import SecretStore

    marker = f"old-{uuid.uuid4().hex[:12]}"
    # Sealed with the deployment's key, as a sidecar did two days ago (a copy kept), queued again now.
    seal = Seal(Part(KEY, SecretStore({}), "sandbox"), "redis.job_key", "")  # a literal Part: the key itself
    old = uuid.uuid4().hex
    call = SealedCall("crm", "book_slot", forged_request(marker), (), time.time() - 2 * 86_400)
    blob = JobRecords(seal, job_key).seal_call(old, call)
    now = time.time()
    queue_forged(client, old, {"state": "queued", "attempts": 0, "created_at": now, "updated_at": now, "call": blob})
    worker = sidecars.start("worker", workers=4)
    wait_until(lambda: refused(worker) >= 1, what="the refusal")
    assert reached(upstream, marker) == 0
    assert sidecars.refusals() == {("expired", "run"): 1}


# --- (5) the normal flow, and config ---------------------------------------------------------------


def test_the_normal_flow_end_to_end(sidecars, redis, client, upstream):
    submitter = sidecars.start("submitter", workers=0)
    sidecars.start("worker", workers=4)
    with connect(submitter.unix_target, conversation_id="conv-e2e") as conv:
        accepted = conv.api.crm.book_slot("e2e-1", note="hello", json={"seats": 2}, background=True)
        assert accepted.status_code == 202 and accepted.json() == {"job_id": accepted.job_id, "state": "queued"}
        job = conv.api.jobs.wait(accepted.job_id, timeout=20)
    assert (job.state, job.api, job.operation, job.attempts) == ("succeeded", "crm", "book_slot", 1)
    echoed = job.response.json()
    assert echoed["raw_path"] == "/echo/bookings/e2e-1?note=hello" and json.loads(echoed["body"]) == {"seats": 2}
    headers = {k.lower(): v for k, v in echoed["headers"]}
    assert headers["idempotency-key"] == accepted.job_id  # from the sealed request
    assert sidecars.refusals() == {}


def test_job_key_is_required_with_jobs_on_and_must_be_a_reference():
    from custom_api_sidecar import ConfigError, parse_config

    api = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints: [{name: get, method: GET, path: /items}]
"""
    with pytest.raises(ConfigError) as info:
        parse_config('redis: {url: "redis://r:6379/0"}' + api)
    assert "redis.job_key: is required for background jobs in Redis (their records are sealed with AES-256-GCM" in str(
        info.value
    )
    assert "openssl rand -base64 32" in str(info.value) and "or set redis.jobs: false" in str(info.value)
    with pytest.raises(ConfigError, match=r"redis\.job_key: must be a secret reference to a base64-encoded") as literal:
        parse_config(f'redis: {{url: "redis://r:6379/0", job_key: "{KEY}"}}' + api)
    assert KEY not in str(literal.value)  # a key written into the file is refused, and not echoed
    settings = parse_config('redis: {url: "redis://r:6379/0", jobs: false}' + api).redis
    assert settings is not None and settings.job_key is None  # no jobs in Redis: no key needed
    settings = parse_config('redis: {url: "redis://r:6379/0", job_key: "env://K"}' + api).redis
    assert settings is not None and settings.job_key == "env://K"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (base64.b64encode(b"short").decode(), r"must decode to 32 bytes \(AES-256\), not 5; generate one with"),
        ("not base64 at all!", r"is not base64; generate one with: openssl rand -base64 32"),
    ],
)
async def test_a_job_key_that_is_not_32_bytes_of_base64_stops_the_start(monkeypatch, value, expected):
    from custom_api_sidecar import Sidecar, parse_config
    from custom_api_sidecar.errors import StartupError

    monkeypatch.setenv("SEALED_BAD_KEY", value)
    sidecar = Sidecar(
        parse_config(
            """
redis: {url: "redis://127.0.0.1:1/0", job_key: "env://SEALED_BAD_KEY"}
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints: [{name: get, method: GET, path: /items}]
"""
        )
    )
    with pytest.raises(StartupError, match=r"redis.job_key \(env://SEALED_BAD_KEY\) " + expected) as info:
        await sidecar.start()
    await sidecar.aclose()
    assert value not in str(info.value)


def test_tokens_keep_their_format_on_redis():
    """The shared Seal writes what tokens always had: nonce || AES-256-GCM(ciphertext || tag), the
    Redis key as associated data; a token sealed before this change still opens."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from custom_api_sidecar.auth._parts import Part
    from custom_api_sidecar.fleet import Seal
    from custom_api_sidecar.secrets import SecretStore

    key = os.urandom(32)
    seal = Seal(Part(base64.b64encode(key).decode(), SecretStore({}), "sandbox"), "redis.token_key", "")
    redis_key = b"custom-api-sidecar:{sandbox:crm}:oauth2:abc"
    sealed = seal.seal(b'{"v": "t"}', redis_key)
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], redis_key) == b'{"v": "t"}'
    nonce = os.urandom(12)
    assert seal.open(nonce + AESGCM(key).encrypt(nonce, b"old", redis_key), redis_key) == b"old"
