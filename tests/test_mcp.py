"""The MCP server, driven by real clients: the SDK's own ``ClientSession`` over stdio (a real
``custom-api-sidecar mcp`` process) and over Streamable HTTP (a sidecar's MCP listener, and a real
``serve --mcp-listen`` process), and the MCP Inspector's CLI as a second, independent client.
Every call reaches the real test upstream through the same pipeline as gRPC: the tool listing is
the tool export, errors carry the gRPC codes and messages, a canary secret reaches the upstream and
nothing else, spans and audit records are written, and the filters hide and refuse tools."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import connect, errors
from custom_api_sidecar import parse_config
from custom_api_sidecar.audit import AuditLog
from custom_api_sidecar.cli import main
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.mcp import McpHttpSettings
from custom_api_sidecar.secrets import build_secret_store
from tests._support import configs
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).with_name("custom-api-sidecar")
CANARY = "CANARY-mcp-5e1d7a"
CANARY_ENV = "MCP_CANARY_TOKEN"
TRANSPORTS = ("stdio", "http")


def mcp_config(upstream: Upstream, dead_port: int) -> str:
    """The shared test APIs, plus one whose bearer token is the canary and a background operation."""
    return (
        configs.test_config(upstream.url, dead_port)
        + f"""
  - name: secured
    description: Needs a bearer token
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/reflect/secured",
                  circuit_breaker: {{enabled: false}}}}
    authentication: {{type: bearer_token, config: {{token: "env://{CANARY_ENV}"}}}}
    endpoints:
      - {{name: whoami, method: GET, path: /me, parameters: [{{name: q, in: query, type: string}}]}}
  - name: outbox
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/outbox"}}
    endpoints:
      - name: send_later
        method: POST
        path: /messages
        background: true
        request_body: {{type: object, required: [to], properties: {{to: {{type: string}}}}}}
        response_schema: {{type: object}}
"""
    )


@pytest.fixture(scope="module")
def workdir() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield pathlib.Path(tmp)


@pytest.fixture(scope="module")
def config_file(upstream: Upstream, workdir: pathlib.Path) -> pathlib.Path:
    path = workdir / "apis.yaml"
    path.write_text(mcp_config(upstream, closed_port()))
    return path


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def sidecar(config_file: pathlib.Path, workdir: pathlib.Path, spans: InMemorySpanExporter) -> Iterator[ThreadedSidecar]:
    """One sidecar with gRPC (unix socket, loopback TCP) and the MCP listener on loopback."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    running = start_sidecar(
        config_file.read_text(),
        str(workdir / "s.sock"),
        mcp=McpHttpSettings("127.0.0.1", 0),
        tracer_provider=provider,
        secret_store=build_secret_store(environ={CANARY_ENV: CANARY}),
        audit=AuditLog(str(workdir / "http-audit.jsonl"), flush_interval=0.05),
        job_store=SqliteJobStore(str(workdir / "http-jobs.sqlite3")),
    )
    yield running
    running.stop(grace=1)


@pytest.fixture
def conv(sidecar: ThreadedSidecar):
    """A gRPC client of the same sidecar, for the answers MCP must match."""
    with connect(sidecar.unix_target) as c:
        yield c


OPERATOR_POLICY = {k: v for k, v in os.environ.items() if k.startswith("CUSTOM_API_SIDECAR_POLICY_")}


@contextlib.asynccontextmanager
async def stdio_session(
    config_file: pathlib.Path, *args: str, env: dict[str, str] | None = None, errlog: Any = None
) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=str(BIN),
        args=["mcp", "--config", str(config_file), *args],
        # the SDK passes a child only a few safe variables: hand it the suite's operator policy too
        env={CANARY_ENV: CANARY, **OPERATOR_POLICY, **(env or {})},
    )
    with contextlib.ExitStack() as stack:
        log = errlog or stack.enter_context(open(os.devnull, "w"))
        async with stdio_client(server, errlog=log) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(
    url: str, headers: dict[str, str] | None = None, message_handler: Any = None
) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write, message_handler=message_handler) as session,
    ):
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def session_for(
    transport: str, sidecar: ThreadedSidecar, config_file: pathlib.Path, workdir: pathlib.Path
) -> AsyncIterator[ClientSession]:
    if transport == "stdio":
        jobs = str(workdir / f"stdio-jobs-{time.monotonic_ns()}.sqlite3")
        async with stdio_session(config_file, "--jobs-db", jobs) as session:
            yield session
    else:
        assert sidecar.mcp_url is not None
        async with http_session(sidecar.mcp_url) as session:
            yield session


def dump(result: Any) -> dict[str, Any]:
    return result.model_dump(by_alias=True, exclude_none=True, mode="json")


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content if block.type == "text"]


def cli_tools(config_file: pathlib.Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["tools", "--config", str(config_file), "--format", "mcp", *args]) == 0
    return json.loads(capsys.readouterr().out)


# --- what is listed ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_tools_are_the_tool_export(transport, sidecar, config_file, workdir, capsys):
    expected = cli_tools(config_file, capsys)
    async with session_for(transport, sidecar, config_file, workdir) as session:
        listed = [dump(tool) for tool in (await session.list_tools()).tools]
        with pytest.raises(MCPError):  # tools only: no resources, no prompts
            await session.list_resources()
        with pytest.raises(MCPError):
            await session.list_prompts()
    *operations, job_reader = listed
    assert operations == expected  # one implementation of names, descriptions and schemas
    assert job_reader["name"] == "get_background_job"  # the server keeps jobs: the reader is listed last
    assert job_reader["inputSchema"]["required"] == ["job_id"]
    by_name = {tool["name"]: tool for tool in listed}
    assert by_name["salesforce__get_contact"]["inputSchema"]["required"] == ["contact_id"]
    assert by_name["salesforce__get_contact"]["outputSchema"] == {"type": "object"}
    assert "outputSchema" not in by_name["outbox__send_later"]  # it answers with its job, not the response


# --- calls -----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_get_with_a_path_value_and_a_post_with_a_json_body(transport, sidecar, config_file, workdir):
    async with session_for(transport, sidecar, config_file, workdir) as session:
        got = await session.call_tool("salesforce__get_contact", {"contact_id": "c 1/../2"})
        posted = await session.call_tool("stripe__create_payment", {"amount": 100, "currency": "eur"})
    assert not got.is_error and texts(got)[0] == "HTTP 200 OK"
    echo = got.structured_content
    assert echo["method"] == "GET" and echo["raw_path"] == "/echo/sf-sandbox/contacts/c%201%2F..%2F2"
    assert json.loads(texts(got)[1]) == echo  # the body as JSON text too, for clients that read only text
    assert not posted.is_error and texts(posted)[0] == "HTTP 200 OK"
    echo = posted.structured_content
    assert echo["method"] == "POST" and echo["path"] == "/echo/stripe/v1/payments"
    assert json.loads(echo["body"]) == {"amount": 100, "currency": "eur"}
    assert dict((k.lower(), v) for k, v in echo["headers"])["content-type"] == "application/json"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_invalid_arguments_get_the_sidecars_code_and_message(transport, sidecar, config_file, workdir, conv):
    calls = [
        ("upstream__search", {}, lambda: conv.api.upstream.search()),
        ("upstream__search", {"q": "x", "limit": "ten"}, lambda: conv.api.upstream.search(q="x", limit="ten")),
        ("upstream__search", {"q": "x", "nope": 1}, lambda: conv.api.upstream.search(q="x", nope=1)),
    ]
    async with session_for(transport, sidecar, config_file, workdir) as session:
        results = [await session.call_tool(name, arguments) for name, arguments, _ in calls]
    for result, (_, _, over_grpc) in zip(results, calls, strict=True):
        with pytest.raises(errors.InvalidArgument) as raised:
            over_grpc()
        assert result.is_error
        assert texts(result) == [f"INVALID_ARGUMENT: {raised.value.message}"]
        error = result.structured_content["error"]
        assert error["code"] == "INVALID_ARGUMENT" and error["message"] == raised.value.message
        assert error["api"] == "upstream" and error["operation"] == "search"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_upstream_4xx_and_5xx_are_error_results_with_the_status(transport, sidecar, config_file, workdir):
    async with session_for(transport, sidecar, config_file, workdir) as session:
        not_found = await session.call_tool("upstream__status", {"code": 404})
        failed = await session.call_tool("upstream__status", {"code": 500})
    assert not_found.is_error and texts(not_found) == ["HTTP 404 Not Found", '{"status": 404}']
    assert not_found.structured_content == {"status": 404}
    assert failed.is_error and texts(failed)[0] == "HTTP 500 Internal Server Error"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sidecar_errors_carry_the_grpc_code_and_message(transport, sidecar, config_file, workdir, conv):
    async with session_for(transport, sidecar, config_file, workdir) as session:
        refused = await session.call_tool("dead__ping", {})
        not_allowed = await session.call_tool("limited__other", {})
        with pytest.raises(MCPError) as unknown:
            await session.call_tool("salesforce__get_contac", {})
    with pytest.raises(errors.ConnectionRefused) as over_grpc:
        conv.api.dead.ping()
    assert refused.is_error and texts(refused) == [f"CONNECTION_REFUSED: {over_grpc.value.message}"]
    with pytest.raises(errors.UrlNotAllowed) as over_grpc:
        conv.api.limited.other()
    assert not_allowed.is_error and texts(not_allowed) == [f"URL_NOT_ALLOWED: {over_grpc.value.message}"]
    # An unknown tool is a protocol error (JSON-RPC invalid params), as the MCP spec has it.
    assert unknown.value.code == -32602
    assert unknown.value.message == "Unknown tool: 'salesforce__get_contac'; did you mean 'salesforce__get_contact'?"


async def test_text_and_binary_bodies(sidecar):
    async with http_session(sidecar.mcp_url) as session:
        text = await session.call_tool("upstream__multi_headers", {})
        binary = await session.call_tool("upstream__bytes", {"n": 300})
        empty = await session.call_tool("upstream__empty", {})
    assert texts(text) == ["HTTP 200 OK", "ok"] and text.structured_content is None
    status, blob = dump(binary)["content"]
    assert status["text"] == "HTTP 200 OK"
    assert blob["resource"]["mimeType"] == "application/octet-stream"
    assert base64.b64decode(blob["resource"]["blob"]) == bytes(range(256)) + bytes(range(44))
    assert texts(empty) == ["HTTP 200 OK"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_background_calls_answer_with_the_job(transport, sidecar, config_file, workdir, upstream):
    marker = f"{transport}-{time.monotonic_ns()}"
    async with session_for(transport, sidecar, config_file, workdir) as session:
        queued = await session.call_tool("outbox__send_later", {"to": marker})  # background: true
        asked = await session.call_tool("upstream__post", {"json": {"m": marker}, "background": True})
        for result in (queued, asked):
            assert not result.is_error
            job = result.structured_content
            assert job == {"job_id": job["job_id"], "state": "queued"}
            assert texts(result)[0] == f"HTTP 202 Accepted: queued as background job {job['job_id']}"
        # the jobs run in the server's process, soon, with the job id as their idempotency key
        keys = {queued.structured_content["job_id"], asked.structured_content["job_id"]}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            sent = {
                dict((k.lower(), v) for k, v in r["headers"]).get("idempotency-key")
                for r in upstream.requests
                if marker in base64.b64decode(r.get("body_b64", "")).decode("utf-8", "replace")
            }
            if keys <= sent:
                break
            time.sleep(0.1)
        assert keys <= sent


async def job_when_finished(session: ClientSession, job_id: str) -> Any:
    deadline = time.monotonic() + 15
    while True:
        result = await session.call_tool("get_background_job", {"job_id": job_id})
        if result.structured_content["job"]["state"] in ("succeeded", "failed"):
            return result
        assert result.structured_content["job"]["state"] in ("queued", "running")
        assert time.monotonic() < deadline, f"job {job_id} still {result.structured_content['job']['state']}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_background_job_is_read_with_get_background_job(transport, sidecar, config_file, workdir):
    async with session_for(transport, sidecar, config_file, workdir) as session:
        queued = await session.call_tool("outbox__send_later", {"to": "ada"})
        missing = await session.call_tool("upstream__status", {"code": 404, "background": True})
        refused = await session.call_tool("limited__other", {"background": True})  # not on the URL allowlist
        done = await job_when_finished(session, queued.structured_content["job_id"])
        answered_404 = await job_when_finished(session, missing.structured_content["job_id"])
        failed = await job_when_finished(session, refused.structured_content["job_id"])
        unknown = await session.call_tool("get_background_job", {"job_id": "no-such-job"})
        no_id = await session.call_tool("get_background_job", {})

    job = done.structured_content["job"]
    assert job["state"] == "succeeded" and job["status_code"] == 200 and job["attempts"] == 1
    assert (job["api"], job["operation"]) == ("outbox", "send_later")
    assert job["created_at"] <= job["updated_at"] and job["created_at"].endswith("+00:00")
    assert not done.is_error
    assert texts(done)[:2] == [
        f"background job {job['job_id']} (outbox__send_later): succeeded, 1 attempt",
        "HTTP 200 OK",
    ]
    assert done.structured_content["result"]["method"] == "POST"  # the echoed request: the call's own answer
    # an upstream 404 is the job's outcome, answered as the call would be: an error result with the status
    assert answered_404.structured_content["job"]["state"] == "succeeded" and answered_404.is_error
    assert texts(answered_404)[1] == "HTTP 404 Not Found"
    # no upstream answer: failed, with the code and message the call would have had
    assert failed.is_error and failed.structured_content["job"]["state"] == "failed"
    assert texts(failed)[1].startswith("URL_NOT_ALLOWED: ")
    assert failed.structured_content["result"]["error"]["code"] == "URL_NOT_ALLOWED"
    assert unknown.is_error and texts(unknown) == ["JOB_NOT_FOUND: no background job 'no-such-job'"]
    assert no_id.is_error and texts(no_id)[0].startswith("INVALID_ARGUMENT: get_background_job: takes one argument")


async def test_a_filter_hides_the_jobs_of_hidden_operations(config_file, workdir):
    jobs = str(workdir / f"filtered-jobs-{time.monotonic_ns()}.sqlite3")
    async with stdio_session(config_file, "--jobs-db", jobs) as everything:
        queued = await everything.call_tool("outbox__send_later", {"to": "grace"})
        await job_when_finished(everything, queued.structured_content["job_id"])
    async with stdio_session(config_file, "--jobs-db", jobs, "--api", "upstream") as filtered:
        names = [tool.name for tool in (await filtered.list_tools()).tools]
        hidden = await filtered.call_tool("get_background_job", {"job_id": queued.structured_content["job_id"]})
    assert "get_background_job" in names and "outbox__send_later" not in names
    assert hidden.is_error and texts(hidden)[0].startswith("JOB_NOT_FOUND: ")  # as for an id that does not exist


# --- the same pipeline -------------------------------------------------------------------


async def test_a_tool_call_is_an_invoke_call(sidecar, spans, workdir, upstream):
    """Span (continuing the caller's trace from _meta), audit record, conversation id from the HTTP header."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    spans.clear()
    async with http_session(sidecar.mcp_url, headers={"x-conversation-id": "conv-mcp-1"}) as session:
        result = await session.call_tool(
            "salesforce__get_contact",
            {"contact_id": "audited"},
            meta={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
    assert not result.is_error
    echoed = dict((k.lower(), v) for k, v in result.structured_content["headers"])
    assert echoed["traceparent"].split("-")[1] == trace_id  # the upstream saw the caller's trace
    (invoke,) = [s for s in spans.get_finished_spans() if s.name == "custom_api_sidecar.v1.CustomApiSidecar/Invoke"]
    assert f"{invoke.context.trace_id:032x}" == trace_id
    assert invoke.attributes["custom_api.operation"] == "get_contact"
    assert invoke.attributes["custom_api.conversation_id"] == "conv-mcp-1"
    audit = workdir / "http-audit.jsonl"
    deadline = time.monotonic() + 5
    while "audited" not in (text := audit.read_text() if audit.exists() else ""):
        assert time.monotonic() < deadline, "no audit record"
        time.sleep(0.05)
    record = next(json.loads(line) for line in text.splitlines() if "audited" in line)
    assert record["type"] == "call" and record["api"] == "salesforce" and record["status"] == 200
    assert record["conversation_id"] == "conv-mcp-1" and record["trace_id"] == trace_id


async def test_a_bad_conversation_id_header_is_refused_by_the_context_stage(sidecar):
    async with http_session(sidecar.mcp_url, headers={"x-conversation-id": "bad id"}) as session:
        result = await session.call_tool("salesforce__get_contact", {"contact_id": "c1"})
    assert result.is_error and texts(result)[0].startswith("INVALID_ARGUMENT: metadata x-conversation-id:")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_canary_secret_reaches_the_upstream_and_nothing_else(
    transport, sidecar, config_file, workdir, upstream
):
    seen: list[str] = []
    stderr = workdir / f"canary-{transport}.stderr"
    audit = workdir / f"canary-{transport}.jsonl"
    handler = _Collect(seen)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with stderr.open("w") as errlog:
            if transport == "stdio":
                opened = stdio_session(config_file, "--log-level", "DEBUG", "--audit-file", str(audit), errlog=errlog)
            else:
                opened = http_session(sidecar.mcp_url)
            async with opened as session:
                before = len(upstream.requests)
                seen.append(json.dumps([dump(t) for t in (await session.list_tools()).tools]))
                for name, arguments in [
                    ("secured__whoami", {"q": "hello"}),
                    ("secured__whoami", {"q": "hello", "headers": {"X-Extra": "1"}}),
                    ("secured__whoami", {"nope": 1}),
                    ("secured__whoami", {"headers": {"Authorization": "Bearer mine"}}),  # may not override it
                ]:
                    seen.append(json.dumps(dump(await session.call_tool(name, arguments))))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    sent = [
        v
        for r in upstream.requests[before:]
        if r["path"].startswith("/reflect/secured")
        for k, v in r["headers"]
        if k.lower() == "authorization"
    ]
    assert sent and set(sent) == {f"Bearer {CANARY}"}  # the upstream did receive it
    if transport == "stdio":
        seen.append(stderr.read_text())
        assert "DEBUG" in seen[-1]  # the process did log, at DEBUG
        seen.append(audit.read_text())
        assert '"api":"secured"' in seen[-1]
    else:
        assert any("secured.whoami GET" in text for text in seen)  # the access line was logged, here
        seen.append((workdir / "http-audit.jsonl").read_text())
    assert len(seen) >= 6 and not [text for text in seen if CANARY in text]


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(self.format(record))


async def test_the_tools_follow_a_config_reload(upstream, workdir):
    def config(operation: str) -> str:
        return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    endpoints: [{{name: {operation}, method: GET, path: /{operation}}}]
"""

    running = start_sidecar(config("before"), str(workdir / "reload.sock"), mcp=McpHttpSettings("127.0.0.1", 0))
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            changed.set()

    def reload(operation: str) -> None:
        running.run(running.sidecar.reload(parse_config(config(operation), "apis.yaml")))

    try:
        async with http_session(running.mcp_url, message_handler=on_message) as session:
            assert session.initialize_result.capabilities.tools.list_changed  # announced at initialize
            assert [tool.name for tool in (await session.list_tools()).tools] == ["crm__before"]
            await asyncio.to_thread(reload, "after")
            async with asyncio.timeout(10):  # the server tells the client, which then lists again
                await changed.wait()
            assert [tool.name for tool in (await session.list_tools()).tools] == ["crm__after"]
            assert texts(await session.call_tool("crm__after", {}))[0] == "HTTP 200 OK"
            with pytest.raises(MCPError):
                await session.call_tool("crm__before", {})
            changed.clear()
            await asyncio.to_thread(reload, "after")  # the same tools: nothing to announce
            await asyncio.sleep(0.5)
            assert not changed.is_set()
    finally:
        running.stop()


# --- filters ------------------------------------------------------------------------------


async def test_filters_hide_tools_and_refuse_their_calls(config_file):
    args = ("--api", "upstream", "--api", "salesforce", "--include", "upstream.s*", "--include", "salesforce__*")
    async with stdio_session(config_file, *args, "--exclude", "upstream.search") as session:
        names = [tool.name for tool in (await session.list_tools()).tools]
        with pytest.raises(MCPError) as hidden:
            await session.call_tool("upstream__search", {"q": "x"})
        with pytest.raises(MCPError):
            await session.call_tool("stripe__create_payment", {"amount": 1})
    assert names == ["salesforce__get_contact", "upstream__status"]
    assert hidden.value.message == "Unknown tool: 'upstream__search'; did you mean 'upstream__status'?"
    env = {"CUSTOM_API_SIDECAR_MCP_INCLUDE": "stripe.*, upstream__empty"}
    async with stdio_session(config_file, env=env) as session:
        names = [tool.name for tool in (await session.list_tools()).tools]
    assert names == ["stripe__create_payment", "upstream__empty"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api", "crm"], "--api 'crm' is not a configured API (the configured APIs are: dead, limited, outbox,"),
        (["--include", "salesforce.get_contacts"], "--include 'salesforce.get_contacts' matches no operation"),
        (["--exclude", "stripe__create"], "--exclude 'stripe__create' matches no operation"),
    ],
)
def test_a_filter_that_names_nothing_is_refused_at_start(config_file, args, message):
    result = subprocess.run(
        [str(BIN), "mcp", "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""


# --- serve --mcp-listen, a real process ----------------------------------------------------


@pytest.fixture
def serve_process(config_file, workdir) -> Iterator[tuple[subprocess.Popen[str], str]]:
    out = workdir / "serve.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                str(BIN),
                "serve",
                "--config",
                str(config_file),
                "--listen",
                f"unix://{workdir}/serve.sock",
                "--jobs-db",
                str(workdir / "serve-jobs.sqlite3"),
                "--mcp-listen",
                "127.0.0.1:0",
                "--mcp-api",
                "salesforce",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, CANARY_ENV: CANARY},
        )
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"mcp: Streamable HTTP on (http://\S+/mcp)", out.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        yield proc, found.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


async def test_serve_with_an_mcp_listener(serve_process, workdir):
    proc, url = serve_process
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", url)
    async with http_session(url) as session:
        names = [tool.name for tool in (await session.list_tools()).tools]
        result = await session.call_tool("salesforce__get_contact", {"contact_id": "from-serve"})
    assert names == ["salesforce__get_contact", "get_background_job"]  # --mcp-api; serve keeps jobs
    assert texts(result)[0] == "HTTP 200 OK" and result.structured_content["path"].endswith("/from-serve")
    # DNS-rebinding protection on loopback: a page on another origin cannot call the tools
    async with httpx.AsyncClient() as client:
        rebound = await client.post(url, headers={"Host": "evil.example"}, json={})
        cross = await client.post(url, headers={"Origin": "https://evil.example"}, json={})
    assert rebound.status_code == 421 and cross.status_code == 403
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert (
        f"mcp: Streamable HTTP on {url}: 1 tool (apis salesforce), and get_background_job\n"
        in (workdir / "serve.out").read_text()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mcp-listen", "0.0.0.0:0"], "'0.0.0.0:0' is not loopback; pass --allow-remote"),
        (["--mcp-listen", "127.0.0.1:0", "--mcp-exclude", "nothing.*"], "--mcp-exclude 'nothing.*' matches no"),
    ],
)
def test_serve_refuses_a_remote_mcp_listener_and_a_filter_naming_nothing(config_file, workdir, args, message):
    result = subprocess.run(
        [
            *(str(BIN), "serve", "--config", str(config_file), "--listen", f"unix://{workdir}/refused.sock"),
            *("--jobs-db", str(workdir / "refused.sqlite3"), *args),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr


def test_serve_without_mcp_listen_never_imports_the_sdk(config_file, workdir):
    """The SDK (and pydantic, starlette, uvicorn, httpx2) cost start time and memory: only --mcp-listen loads
    them; likewise redis-py, only with a redis: section (fleet mode)."""
    heavy = {"mcp", "mcp_types", "starlette", "sse_starlette", "uvicorn", "httpx2", "pydantic", "redis"}
    sock = workdir / "plain.sock"
    argv = ["serve", "--config", str(config_file), "--listen", f"unix://{sock}", "--jobs-db", str(workdir / "p.db")]
    probe = f"""
import os, signal, sys, threading, time
def report():
    while not os.path.exists({str(sock)!r}):
        time.sleep(0.05)
    time.sleep(0.5)
    loaded = sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r})
    print('LOADED', loaded, file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=report, daemon=True).start()
from custom_api_sidecar.cli import main
sys.exit(main({argv!r}))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, CANARY_ENV: CANARY},
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stderr


# --- a second, independent client: the MCP Inspector's CLI --------------------------------


def inspector(*args: str, env: dict[str, str], cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    assert npx, "npx is needed (tests/run.sh installs nodejs and npm)"
    return subprocess.run(
        [npx, "--no-install", "--prefix", str(ROOT / "tests" / "peers"), "mcp-inspector", "--cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=cwd,
    )


def test_the_mcp_inspector_cli_lists_and_calls_tools(config_file, workdir, sidecar):
    home = workdir / "inspector-home"  # the Inspector keeps state in ~/.mcp-inspector: not the real home
    home.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "catalog.json"),
        "CUSTOM_API_SIDECAR_CONFIG": str(config_file),  # the Inspector reads --config itself
        CANARY_ENV: CANARY,
        **OPERATOR_POLICY,  # passed on with -e below, with the config
    }
    version = inspector("--version", env=env, cwd=workdir)
    assert version.returncode == 0 and version.stdout.strip() == "2.12.0", version.stderr
    server_env = [arg for k, v in env.items() if k.startswith(("CUSTOM_API", CANARY_ENV)) for arg in ("-e", f"{k}={v}")]
    over_stdio = [*server_env, str(BIN), "mcp"]
    listed = inspector(*over_stdio, "--api", "upstream", "--method", "tools/list", env=env, cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    names = [tool["name"] for tool in json.loads(listed.stdout)["tools"]]
    assert names[:2] == ["upstream__status", "upstream__bytes"] and "salesforce__get_contact" not in names
    called = inspector(
        *over_stdio,
        "--method",
        "tools/call",
        "--tool-name",
        "upstream__item",
        "--tool-arg",
        "item_id=a b",
        env=env,
        cwd=workdir,
    )
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["content"][0] == {"type": "text", "text": "HTTP 200 OK"}
    assert result["structuredContent"]["raw_path"] == "/echo/items/a%20b"
    over_http = inspector(
        sidecar.mcp_url,
        "--method",
        "tools/call",
        "--tool-name",
        "upstream__status",
        "--tool-arg",
        "code=404",
        env=env,
        cwd=workdir,
    )
    assert over_http.returncode != 0  # the Inspector exits non-zero for isError, and prints the result
    result = json.loads(over_http.stdout)
    assert result["isError"] is True and result["content"][0]["text"] == "HTTP 404 Not Found"
