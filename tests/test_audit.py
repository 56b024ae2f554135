"""Audit records: one JSON object per call and per conv.log entry, with the documented fields,
to stdout (--log-format json) or a file, never a secret, header value or body; and the
conversation id from the client on every record and span."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import connect, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar.audit import AuditLog
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

SECRET = "audit-canary-secret-5d1e"
CALL_FIELDS = {
    "type",
    "time",
    "conversation_id",
    "agent_id",
    "api",
    "operation",
    "method",
    "url",
    "status",
    "error",
    "attempts",
    "elapsed_ms",
    "request_bytes",
    "response_bytes",
    "trace_id",
    "span_id",
    "context_keys",
    "cache",
}


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm", retry_attempts: 2}}
    authentication: {{type: api_key, config: {{param_name: api_key, key: "env://AUDIT_KEY"}}}}
    endpoints:
      - {{name: get_contact, method: GET, path: "/contacts/{{contact_id}}"}}
      - {{name: create, method: POST, path: /contacts}}
  - name: dead
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{closed_port()}",
                  retry_attempts: 1, timeout_ms: 2000}}
    endpoints:
      - {{name: ping, method: GET, path: /ping}}
"""


@pytest.fixture(scope="module")
def traced() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def running(upstream, traced, tmp_path_factory) -> Iterator[tuple[ThreadedSidecar, pathlib.Path]]:
    from custom_api_sidecar.secrets import build_secret_store

    audit_file = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(traced))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            tracer_provider=provider,
            audit=AuditLog(str(audit_file), flush_interval=0.05),
            secret_store=build_secret_store(environ={"AUDIT_KEY": SECRET}),
        )
        yield sidecar, audit_file
        sidecar.stop()


def records(path: pathlib.Path, conversation: str, count: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        found = [r for r in map(json.loads, lines) if r.get("conversation_id") == conversation]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_one_record_per_call_with_the_documented_fields(running, traced):
    sidecar, audit_file = running
    with connect(sidecar.unix_target, conversation_id="conv-A1", agent_id="agent-7") as conv:
        ok = conv.api.crm.get_contact("c1")
        posted = conv.api.crm.create(json={"name": "Ada"})
        with pytest.raises(errors.UnknownOperation):
            conv.api.crm.get_contacts("c1")
        with pytest.raises(errors.ConnectionRefused):
            conv.api.dead.ping()
    assert ok.status_code == 200
    got = records(audit_file, "conv-A1", 4)
    assert len(got) == 4
    for record in got:
        assert set(record) == CALL_FIELDS
        assert record["type"] == "call" and record["agent_id"] == "agent-7"
        assert record["time"].endswith("Z") and len(record["trace_id"]) == 32 and len(record["span_id"]) == 16
    first, created, unknown, dead = got
    assert first["api"] == "crm" and first["operation"] == "get_contact" and first["method"] == "GET"
    assert first["status"] == 200 and first["error"] is None and first["attempts"] == 1
    assert first["url"].endswith("/echo/crm/contacts/c1?api_key=REDACTED")
    assert first["response_bytes"] == len(ok.content) and first["request_bytes"] == 0
    assert created["method"] == "POST" and created["request_bytes"] == posted.json()["body_length"] > 0
    assert unknown["error"] == "UNKNOWN_OPERATION" and unknown["status"] is None and unknown["method"] is None
    assert dead["error"] == "CONNECTION_REFUSED" and dead["attempts"] == 2  # retried once
    # the records point at their server spans
    spans = {f"{s.context.span_id:016x}": s for s in traced.get_finished_spans()}
    assert spans[first["span_id"]].attributes["custom_api.conversation_id"] == "conv-A1"
    assert spans[first["span_id"]].attributes["custom_api.agent_id"] == "agent-7"
    text = audit_file.read_text()
    assert SECRET not in text and '"name": "Ada"' not in text and "Ada" not in text  # no secret, no body


def test_set_context_changes_later_calls(running):
    sidecar, audit_file = running
    with connect(sidecar.unix_target) as conv:
        conv.api.crm.get_contact("c2")
        conv.set_context(conversation_id="conv-B2")
        conv.api.crm.get_contact("c3")
    (record,) = records(audit_file, "conv-B2", 1)
    assert record["url"].endswith("/contacts/c3?api_key=REDACTED")


def test_a_bad_conversation_id_is_refused_on_both_sides(running):
    sidecar, _ = running
    with pytest.raises(errors.InvalidArgument, match="conversation_id must be 1-128 characters"):
        connect(sidecar.unix_target, conversation_id="a b\nforged line")
    with grpc.insecure_channel(sidecar.unix_target) as channel:
        stub = sidecar_pb2_grpc.CustomApiSidecarStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Invoke(
                pb.InvokeRequest(api="crm", operation="get_contact", positional=[pb.Value(string_value="x")]),
                metadata=(("x-conversation-id", "bad id"),),
                timeout=5,
            )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata x-conversation-id" in caught.value.details()


# --- the real process: --log-format json writes records to stdout -------------------------


def test_log_format_json_writes_records_to_stdout_and_flushes_on_sigterm(upstream, tmp_path):
    config_file = tmp_path / "apis.yaml"
    config_file.write_text(config(upstream))
    socket_path = tmp_path / "s.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custom_api_sidecar",
            "serve",
            "--config",
            str(config_file),
            "--listen",
            f"unix://{socket_path}",
            "--log-format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AUDIT_KEY": SECRET},
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with connect(f"unix://{socket_path}", conversation_id="conv-proc") as conv:
            for n in range(25):
                conv.api.crm.get_contact(f"c{n}")
            conv.log.warning("caller asked for a human")
        proc.send_signal(signal.SIGTERM)  # at once: records still in the buffer must be written
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    lines = stdout.splitlines()
    parsed = [json.loads(line) for line in lines]  # stdout holds JSON only
    calls = [r for r in parsed if r["type"] == "call"]
    logs = [r for r in parsed if r["type"] == "log"]
    assert len(calls) == 25 and all(r["conversation_id"] == "conv-proc" for r in calls)
    assert logs == [
        {
            "type": "log",
            "time": logs[0]["time"],
            "conversation_id": "conv-proc",
            "agent_id": None,
            "level": "warning",
            "message": "caller asked for a human",
            "trace_id": None,
            "span_id": None,
        }
    ]
    assert "custom-api-sidecar listening on" in stderr  # startup lines moved to stderr
    assert "crm.get_contact GET" not in stderr  # no text access line in json mode
    assert SECRET not in stdout + stderr
