"""conv.log through the sidecar: one conversation's calls and log lines read together in the
audit stream and in its trace; a sidecar that is down never blocks or breaks the agent."""

from __future__ import annotations

import json
import logging
import pathlib
import tempfile
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import connect, connect_async
from custom_api_sidecar.audit import AuditLog
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    endpoints: [{{name: get_contact, method: GET, path: "/contacts/{{contact_id}}"}}]
"""


@pytest.fixture(scope="module")
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def running(upstream, exported, tmp_path_factory) -> Iterator[tuple[ThreadedSidecar, pathlib.Path]]:
    audit_file = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream), f"{tmp}/s.sock", tracer_provider=provider, audit=AuditLog(str(audit_file), 0.05)
        )
        yield sidecar, audit_file
        sidecar.stop()


def conversation(path: pathlib.Path, conversation_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while True:
        found = [
            r for r in map(json.loads, path.read_text().splitlines()) if r.get("conversation_id") == conversation_id
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def agent_tracer() -> trace.Tracer:
    provider = TracerProvider()
    return provider.get_tracer("agent")


def test_calls_and_log_lines_read_together(running, exported, agent_tracer):
    sidecar, audit_file = running
    with connect(sidecar.unix_target, conversation_id="conv-log-1") as conv:
        with agent_tracer.start_as_current_span("turn") as turn:
            conv.log.info("looking up %s", "c1")
            conv.api.crm.get_contact("c1")
            conv.log.error("lookup failed: %d", 404)
        trace_id = f"{turn.get_span_context().trace_id:032x}"
    records = conversation(audit_file, "conv-log-1", 3)
    assert [(r["type"], r.get("level"), r.get("message")) for r in records] == [
        ("log", "info", "looking up c1"),
        ("call", None, None),
        ("log", "error", "lookup failed: 404"),
    ]
    assert {r["trace_id"] for r in records} == {trace_id}  # one trace for the turn
    events = [
        event
        for span in exported.get_finished_spans()
        if span.context.trace_id == int(trace_id, 16)
        for event in span.events
        if event.name == "conv.log"
    ]
    assert [(e.attributes["log.level"], e.attributes["log.message"]) for e in events] == [
        ("info", "looking up c1"),
        ("error", "lookup failed: 404"),
    ]


async def test_the_async_client_sends_too(running):
    sidecar, audit_file = running
    async with connect_async(sidecar.unix_target, conversation_id="conv-log-async") as conv:
        conv.log.warning("escalating")
        await conv.api.crm.get_contact("c9")
    records = conversation(audit_file, "conv-log-async", 2)
    assert {(r["type"], r.get("message")) for r in records} == {("log", "escalating"), ("call", None)}


def test_a_multi_line_message_stays_one_record(running):
    sidecar, audit_file = running
    with connect(sidecar.unix_target, conversation_id="conv-log-lines") as conv:
        conv.log.info('first line\n{"type": "call", "forged": true}')
    (record,) = conversation(audit_file, "conv-log-lines", 1)
    assert record["message"] == 'first line\n{"type": "call", "forged": true}'
    assert all("forged" not in line or line.startswith('{"type":"log"') for line in audit_file.read_text().splitlines())


def test_a_sidecar_that_is_down_never_blocks_or_breaks_the_agent(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="custom_api.conv")
    conv = connect(f"unix://{tmp_path}/nobody-here.sock", conversation_id="conv-down")
    started = time.perf_counter()
    for n in range(200):
        conv.log.info("entry %d", n)
    spent = time.perf_counter() - started
    closing = time.perf_counter()
    conv.close()
    closed = time.perf_counter() - closing
    assert spent < 0.5  # 200 entries: queue inserts, never a network wait
    assert closed < 3.0  # close waits a bounded time for queued entries
    local = [r.getMessage() for r in caplog.records if r.name == "custom_api.conv"]
    assert "entry 0" in local and "entry 199" in local  # every entry is still logged locally
    assert any("not reaching the sidecar" in line for line in local)
