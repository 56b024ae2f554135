"""Background jobs belong to their conversation: a job queued with ``x-conversation-id`` is found
only with that id, over gRPC and MCP, on a real sidecar with its SQLite store and in fleet mode
with a real Redis. Anyone else (another conversation, none, a near miss) gets JOB_NOT_FOUND with
the same status, message and detail as an id that was never issued, so the answer is no oracle.
A job queued without a conversation id is found by anyone, as before."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import pathlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx2
import pytest
import redis as redis_py
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from custom_api_client import build_invoke_request, connect, connect_async, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar.errors import ERROR_METADATA_KEY
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.mcp import McpHttpSettings
from tests._support.processes import RedisServer
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"
JOB_KEY = base64.b64encode(bytes(range(64, 96))).decode()
KEY_ENV = "CONVERSATION_JOB_KEY"
CONVERSATION = "x-conversation-id"
# What others send: another conversation, none, and near misses of the owner's id "conv-a"
# (case, a prefix, an extension, the id as the agent id instead).
OTHERS: list[tuple[tuple[str, str], ...]] = [
    ((CONVERSATION, "conv-b"),),
    (),
    ((CONVERSATION, "CONV-A"),),
    ((CONVERSATION, "conv-"),),
    ((CONVERSATION, "conv-a-"),),
    ((CONVERSATION, "conv-a/.."),),
    (("x-agent-id", "conv-a"),),
]


def config(upstream: Upstream, redis_url: str = "") -> str:
    fleet = f'redis: {{url: "{redis_url}", job_key: "env://{KEY_ENV}", timeout_ms: 250}}' if redis_url else ""
    return f"""{fleet}
apis:
  - name: crm
    connection: {{{LOCAL}, base_url: "{upstream.url}"}}
    endpoints:
      - {{name: create_lead, method: POST, path: /echo/leads}}
      - {{name: send_later, method: POST, path: /echo/outbox, background: true}}
"""


def get_job(target: str, job_id: str, metadata: tuple[tuple[str, str], ...]) -> pb.GetJobResponse:
    with grpc.insecure_channel(target) as channel:
        return sidecar_pb2_grpc.CustomApiSidecarStub(channel).GetJob(
            pb.GetJobRequest(job_id=job_id), metadata=metadata, timeout=10
        )


def refusal(target: str, job_id: str, metadata: tuple[tuple[str, str], ...]) -> tuple[Any, ...]:
    """Everything a caller learns from a refused GetJob, with the asked id written as <id>."""
    with pytest.raises(grpc.RpcError) as refused:
        get_job(target, job_id, metadata)
    err = refused.value
    detail = pb.ErrorDetail.FromString(dict(err.trailing_metadata())[ERROR_METADATA_KEY])
    detail.message = detail.message.replace(job_id, "<id>")
    return err.code(), err.details().replace(job_id, "<id>"), detail.SerializeToString(deterministic=True)


def assert_not_found_as_unknown(target: str, job_id: str) -> None:
    """For every other caller: JOB_NOT_FOUND, and not a byte different from a never-issued id."""
    never_issued = uuid.uuid4().hex  # the same shape as a real id
    for metadata in OTHERS:
        theirs = refusal(target, job_id, metadata)
        assert theirs == refusal(target, never_issued, metadata), metadata
        assert theirs[0] == grpc.StatusCode.NOT_FOUND and theirs[1] == "no background job '<id>'"


def queue(target: str, conversation_id: str | None, name: str) -> str:
    with connect(target, conversation_id=conversation_id) as conv:
        accepted = conv.api.crm.create_lead(json={"name": name}, background=True)
    assert accepted.status_code == 202
    return accepted.job_id


# --- the embedded SQLite store -------------------------------------------------------------------


@pytest.fixture(scope="module")
def running(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedSidecar]:
    tmp = tmp_path_factory.mktemp("conversation-jobs")
    sidecar = start_sidecar(
        config(upstream),
        str(tmp / "s.sock"),
        job_store=SqliteJobStore(tmp / "jobs.sqlite3"),
        mcp=McpHttpSettings("127.0.0.1", 0),
    )
    yield sidecar
    sidecar.stop(grace=1)


def test_a_job_is_found_only_from_its_own_conversation(running):
    job_id = queue(running.unix_target, "conv-a", "Ada")
    with connect(running.unix_target, conversation_id="conv-a") as owner:
        job = owner.api.jobs.wait(job_id, timeout=10)
    assert job.state == "succeeded" and json.loads(job.response.json()["body"]) == {"name": "Ada"}
    assert_not_found_as_unknown(running.unix_target, job_id)
    with connect(running.unix_target, conversation_id="conv-b") as other, pytest.raises(errors.JobNotFound):
        other.api.jobs.wait(job_id, timeout=10)  # at once: nothing to wait for
    with connect(running.unix_target) as nobody, pytest.raises(errors.JobNotFound):
        nobody.api.jobs.get(job_id)
    with connect(running.unix_target) as switched:  # a client that moves to the conversation finds it
        switched.set_context(conversation_id="conv-a")
        assert switched.api.jobs.get(job_id).state == "succeeded"


async def test_the_async_client_sends_its_conversation_too(running):
    job_id = queue(running.unix_target, "conv-a", "Grace")
    async with connect_async(running.unix_target, conversation_id="conv-a") as owner:
        assert (await owner.api.jobs.wait(job_id, timeout=10)).state == "succeeded"
    async with connect_async(running.unix_target, conversation_id="conv-b") as other:
        with pytest.raises(errors.JobNotFound):
            await other.api.jobs.get(job_id)


def test_a_job_queued_without_a_conversation_is_found_by_anyone(running):
    job_id = queue(running.unix_target, None, "Anyone")
    for conversation_id in (None, "conv-a", "conv-b"):
        with connect(running.unix_target, conversation_id=conversation_id) as conv:
            assert conv.api.jobs.wait(job_id, timeout=10).state == "succeeded"


def test_a_malformed_conversation_id_is_refused_whatever_the_job(running, upstream):
    """A background call with one is refused before it is stored (it would decide who reads the job);
    a GetJob with one gets INVALID_ARGUMENT naming the key, the same for a real and an unknown id."""
    job_id = queue(running.unix_target, "conv-a", "Malformed")
    hostile = ["conv a", "conv-a;", "c" * 129, "conv-a,conv-b", "c" * 4000]
    request = build_invoke_request("crm", "create_lead", (), {"json": {"name": "never-queued"}, "background": True})
    with grpc.insecure_channel(running.unix_target) as channel:
        stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
        for value in hostile:
            with pytest.raises(grpc.RpcError) as refused:
                stub.Invoke(request, metadata=((CONVERSATION, value),), timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details().startswith("metadata x-conversation-id: must be 1-128 characters")
    for value in hostile:
        for asked in (job_id, uuid.uuid4().hex):
            code, details, _ = refusal(running.unix_target, asked, ((CONVERSATION, value),))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("metadata x-conversation-id:")
    assert not any(b"never-queued" in base64.b64decode(r.get("body_b64", "")) for r in list(upstream.requests))


def test_a_stored_owner_no_caller_could_send_matches_no_one(running):
    """A job stored before submissions were checked, with a conversation id that is not valid:
    nobody finds it (no valid id equals it, and an invalid one is refused)."""
    request = build_invoke_request("crm", "create_lead", (), {"json": {"name": "legacy"}})
    job_id = uuid.uuid4().hex
    jobs = running.sidecar.jobs
    assert jobs is not None
    running.run(jobs.store.add(job_id, "crm", "create_lead", request.SerializeToString(), ((CONVERSATION, "conv a"),)))
    assert_not_found_as_unknown(running.unix_target, job_id)
    code, _, _ = refusal(running.unix_target, job_id, ((CONVERSATION, "conv-a"),))
    assert code == grpc.StatusCode.NOT_FOUND


# --- MCP (Streamable HTTP: the conversation id is the x-conversation-id request header) -------------


@contextlib.asynccontextmanager
async def http_session(url: str, conversation_id: str | None) -> AsyncIterator[ClientSession]:
    headers = {CONVERSATION: conversation_id} if conversation_id else None
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def read_job(url: str, conversation_id: str | None, job_id: str) -> Any:
    async with http_session(url, conversation_id) as session:
        return await session.call_tool("get_background_job", {"job_id": job_id})


async def finished(url: str, conversation_id: str, job_id: str) -> Any:
    deadline = time.monotonic() + 15
    while True:
        result = await read_job(url, conversation_id, job_id)
        assert not result.is_error, result
        if result.structured_content["job"]["state"] in ("succeeded", "failed"):
            return result
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content if block.type == "text"]


async def test_over_mcp_a_job_is_found_only_from_its_conversation(running):
    url = running.mcp_url
    async with http_session(url, "conv-mcp-a") as session:
        queued = await session.call_tool("crm__send_later", {"json": {"to": "ada"}})
    job_id = queued.structured_content["job_id"]
    done = await finished(url, "conv-mcp-a", job_id)
    assert done.structured_content["job"]["state"] == "succeeded"
    never_issued = uuid.uuid4().hex
    for conversation_id in ("conv-mcp-b", None, "CONV-MCP-A"):
        theirs = await read_job(url, conversation_id, job_id)
        unknown = await read_job(url, conversation_id, never_issued)
        assert theirs.is_error and texts(theirs) == [f"JOB_NOT_FOUND: no background job '{job_id}'"]
        assert texts(unknown) == [f"JOB_NOT_FOUND: no background job '{never_issued}'"]
        mine, other = theirs.structured_content["error"], unknown.structured_content["error"]
        assert {**mine, "message": ""} == {**other, "message": ""}
    # One conversation across protocols: gRPC in it finds the MCP job, gRPC elsewhere does not.
    with connect(running.unix_target, conversation_id="conv-mcp-a") as conv:
        assert conv.api.jobs.get(job_id).state == "succeeded"
    assert_not_found_as_unknown(running.unix_target, job_id)
    grpc_job = queue(running.unix_target, "conv-mcp-a", "from gRPC")
    assert (await finished(url, "conv-mcp-a", grpc_job)).structured_content["job"]["api"] == "crm"
    assert (await read_job(url, "conv-mcp-b", grpc_job)).is_error


async def test_over_mcp_without_a_header_only_jobs_without_a_conversation_are_found(running):
    """What a session with no conversation id (every stdio session) may read."""
    url = running.mcp_url
    async with http_session(url, None) as session:
        queued = await session.call_tool("crm__send_later", {"json": {"to": "grace"}})
    mine = queued.structured_content["job_id"]
    assert (await finished(url, "conv-any", mine)).structured_content["job"]["state"] == "succeeded"  # anyone's
    theirs = queue(running.unix_target, "conv-a", "not yours")
    assert texts(await read_job(url, None, theirs)) == [f"JOB_NOT_FOUND: no background job '{theirs}'"]


# --- fleet mode: jobs in a real Redis, sealed ----------------------------------------------------


@pytest.fixture
def redis(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.setenv(KEY_ENV, JOB_KEY)
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def test_in_fleet_mode_a_job_is_found_only_from_its_conversation_on_any_sidecar(tmp_path, redis, upstream):
    started = [
        start_sidecar(
            config(upstream, redis.url), str(tmp_path / f"{name}.sock"), job_store=SqliteJobStore(tmp_path / name)
        )
        for name in ("a", "b")
    ]
    a, b = started
    try:
        job_id = queue(a.unix_target, "conv-fleet-a", "Fleet")
        with connect(b.unix_target, conversation_id="conv-fleet-a") as owner:  # another sidecar of the fleet
            job = owner.api.jobs.wait(job_id, timeout=20)
        assert job.state == "succeeded" and json.loads(job.response.json()["body"]) == {"name": "Fleet"}
        for running in started:
            # the owner is read from the sealed call: "conv-fleet-a" is nowhere in Redis in the clear
            assert_not_found_as_unknown(running.unix_target, job_id)
        anyone = queue(b.unix_target, None, "Fleet, anyone")
        with connect(a.unix_target, conversation_id="conv-b") as conv:
            assert conv.api.jobs.wait(anyone, timeout=20).state == "succeeded"
        client = redis_py.Redis.from_url(redis.url)
        try:
            record = client.hgetall(f"custom-api-sidecar:{{sandbox:background-jobs}}:job:{job_id}")
        finally:
            client.close()
        assert set(record) >= {b"call", b"response"} and not any(b"conv-fleet-a" in v for v in record.values())
    finally:
        for running in started:
            running.stop()
