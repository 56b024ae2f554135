"""TestConnection from the agent, through a real sidecar and a real upstream that counts every
request: each API is checked at most once per window however hard the agent asks (a burst, repeats,
a caller that gives up mid-run), a repeat gets the same report marked ``reused``, the operator can
turn it off (DISABLED_BY_OPERATOR, nothing sent), and the operator's CLI ``test`` is not limited."""

from __future__ import annotations

import collections
import concurrent.futures
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

from custom_api_client import connect, errors
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc
from custom_api_sidecar import parse_config
from custom_api_sidecar.agent_connection_tests import DEFAULT_WINDOW_S, AgentTestSettings
from custom_api_sidecar.errors import ERROR_METADATA_KEY
from tests._support.counting_upstream import CountingUpstream
from tests._support.processes import SidecarProcess
from tests._support.sidecar import ThreadedSidecar, start_sidecar

LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"
SAFE = ("/slow/300/crm/contacts", "/crm/leads", "/billing/me")  # the endpoints a test may call


def config(url: str, crm_note: str = "") -> str:
    """crm: two safe endpoints (one slow, so a burst arrives while it runs), a POST that is never
    sent and a GET with a required argument; billing: one safe endpoint."""
    return f"""
apis:
  - name: crm
    description: "CRM{crm_note}"
    connection: {{{LOCAL}, base_url: "{url}"}}
    endpoints:
      - {{name: list_contacts, method: GET, path: /slow/300/crm/contacts}}
      - {{name: list_leads, method: GET, path: /crm/leads}}
      - {{name: get_contact, method: GET, path: "/crm/contacts/{{contact_id}}"}}
      - {{name: delete_everything, method: POST, path: /crm/delete-everything}}
  - name: billing
    connection: {{{LOCAL}, base_url: "{url}/billing"}}
    endpoints:
      - {{name: whoami, method: GET, path: /me}}
"""


def sent(upstream: CountingUpstream) -> collections.Counter[str]:
    with upstream.lock:
        return collections.Counter(r["path"] for r in upstream.requests)


@pytest.fixture
def counting() -> Iterator[CountingUpstream]:
    server = CountingUpstream()
    yield server
    server.close()


def start(tmp_path: pathlib.Path, upstream: CountingUpstream, settings: AgentTestSettings | None) -> ThreadedSidecar:
    return start_sidecar(config(upstream.url), str(tmp_path / "s.sock"), agent_tests=settings)


@pytest.fixture
def running(tmp_path, counting) -> Iterator[ThreadedSidecar]:
    sidecar = start(tmp_path, counting, None)  # the defaults: on, 30 s
    yield sidecar
    sidecar.stop()


def raw_test_connection(target: str, apis: list[str], timeout: float = 30) -> pb.TestConnectionResponse:
    with grpc.insecure_channel(target) as channel:
        return sidecar_pb2_grpc.CustomApiSidecarStub(channel).TestConnection(
            pb.TestConnectionRequest(apis=apis), timeout=timeout
        )


def test_a_burst_reaches_each_safe_endpoint_once(running, counting):
    """64 agents ask at once (the slow endpoint keeps the first run going while they arrive), then
    one agent asks 20 times more: every safe endpoint was called exactly once, nothing else at all."""
    target = running.unix_target

    def ask(_: int) -> list[dict]:
        with connect(target) as conv:
            return conv.api.test_connection()

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        burst = list(pool.map(ask, range(64)))
    with connect(target) as conv:
        repeats = [conv.api.test_connection() for _ in range(20)]
    assert sent(counting) == {path: 1 for path in SAFE}  # never the POST, never the required-argument GET
    answers = [answer for reply in burst + repeats for answer in reply]
    assert len(answers) == 84 * 2
    for api in ("crm", "billing"):
        mine = [a for a in answers if a["api"] == api]
        assert sum(not a["reused"] for a in mine) == 1  # one run; 83 requests got its report
        assert len({(a["checked_at"], str(a["checks"])) for a in mine}) == 1  # the same report, word for word
        assert all(a["ok"] for a in mine)
        assert all(0 < a["next_run_in_s"] <= DEFAULT_WINDOW_S for a in mine)
    crm = next(a for a in answers if a["api"] == "crm" and not a["reused"])
    assert crm["summary"] == "4 of 4 checks passed" and abs(crm["checked_at"] - time.time()) < 60
    print(f"\nagent TestConnection: 84 requests for 2 APIs, {sum(sent(counting).values())} upstream requests")


def test_each_api_has_its_own_window(running, counting):
    with connect(running.unix_target) as conv:
        (first,) = conv.api.test_connection(["billing"])
        crm, billing = conv.api.test_connection()  # crm runs now; billing's run is a moment old
        again = conv.api.test_connection(["crm", "billing", "crm"])  # each API once, in the order named
    assert not first["reused"] and not crm["reused"] and billing["reused"]
    assert billing["checked_at"] == first["checked_at"] and billing["checks"] == first["checks"]
    assert [a["api"] for a in again] == ["crm", "billing"] and all(a["reused"] for a in again)
    assert sent(counting) == {path: 1 for path in SAFE}


def test_after_the_window_the_checks_run_again(tmp_path, counting):
    running = start(tmp_path, counting, AgentTestSettings(window_s=3.0))
    try:
        with connect(running.unix_target) as conv:
            (first,) = conv.api.test_connection(["billing"])
            (second,) = conv.api.test_connection(["billing"])
            assert second["reused"] and sent(counting)["/billing/me"] == 1
            time.sleep(second["next_run_in_s"] + 0.3)
            (third,) = conv.api.test_connection(["billing"])
    finally:
        running.stop()
    assert not first["reused"] and not third["reused"] and third["checked_at"] > first["checked_at"]
    assert sent(counting)["/billing/me"] == 2


def test_a_caller_that_gives_up_leaves_the_run_to_finish_for_the_next(running, counting):
    """The agent's deadline passes while the slow endpoint is still answering: the run goes on, and
    the next request gets its report without a second request upstream."""
    with pytest.raises(grpc.RpcError) as gave_up:
        raw_test_connection(running.unix_target, ["crm"], timeout=0.1)
    assert gave_up.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    (crm,) = raw_test_connection(running.unix_target, ["crm"]).apis
    assert crm.ok and crm.reused and crm.next_run_in_seconds > 0
    deadline = time.monotonic() + 5
    while sent(counting)["/crm/leads"] < 1:  # the run's last request, then nothing more
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sent(counting) == {"/slow/300/crm/contacts": 1, "/crm/leads": 1}


def test_an_unknown_name_refuses_the_request_before_anything_runs(running, counting):
    with connect(running.unix_target) as conv, pytest.raises(errors.UnknownApi, match="billng") as refused:
        conv.api.test_connection(["crm", "billng"])
    assert refused.value.suggestions == ("billing",)
    assert sent(counting) == {}


def test_a_reload_that_changes_an_api_starts_its_window_again(running, counting):
    with connect(running.unix_target) as conv:
        conv.api.test_connection()
        running.run(running.sidecar.reload(parse_config(config(counting.url, crm_note=" v2"), "test.yaml")))
        crm, billing = conv.api.test_connection()
    assert not crm["reused"] and billing["reused"]  # only crm's definition changed
    assert sent(counting) == {**{path: 2 for path in SAFE[:2]}, "/billing/me": 1}


def test_turned_off_it_is_a_typed_error_and_sends_nothing(tmp_path, counting):
    running = start(tmp_path, counting, AgentTestSettings(enabled=False))
    try:
        with connect(running.unix_target) as conv, pytest.raises(errors.DisabledByOperator) as refused:
            conv.api.test_connection()
        with pytest.raises(grpc.RpcError) as raw:
            raw_test_connection(running.unix_target, ["crm"])
        with connect(running.unix_target) as conv:
            assert conv.api.billing.whoami().status_code == 200  # calls are not affected
    finally:
        running.stop()
    assert refused.value.code == "DISABLED_BY_OPERATOR"
    assert "turned off by this sidecar's operator (serve --agent-test-connection off)" in refused.value.message
    assert raw.value.code() == grpc.StatusCode.PERMISSION_DENIED
    detail = dict(raw.value.trailing_metadata())[ERROR_METADATA_KEY]
    assert pb.ErrorDetail.FromString(detail).code == pb.ErrorCode.DISABLED_BY_OPERATOR
    assert sent(counting) == {"/billing/me": 1}  # the call only: no check reached the upstream


def test_serve_turns_it_off_by_flag_or_variable_and_test_still_runs_every_time(tmp_path, counting):
    config_path = tmp_path / "apis.yaml"
    config_path.write_text(config(counting.url))
    off = {"CUSTOM_API_SIDECAR_AGENT_TEST_CONNECTION": "off"}
    for name, args, env in (("flag", ["--agent-test-connection", "off"], None), ("variable", [], off)):
        (tmp_path / name).mkdir()
        process = SidecarProcess(config_path, tmp_path / name / "s.sock", extra_args=args, env=env)
        try:
            with connect(process.target) as conv, pytest.raises(errors.DisabledByOperator):
                conv.api.test_connection()
        finally:
            process.stop()
        assert "TestConnection from the agent: off (--agent-test-connection off)" in process.output
    assert sent(counting) == {}
    # The operator's CLI: no window, and the agent's setting does not apply to it.
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-m", "custom_api_sidecar", "test", "--config", str(config_path), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **off},
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert sent(counting) == {path: 3 for path in SAFE}


def test_a_bad_setting_stops_serve_with_a_clear_message(tmp_path, counting):
    config_path = tmp_path / "apis.yaml"
    config_path.write_text(config(counting.url))
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CUSTOM_API_SIDECAR_AGENT_TEST_CONNECTION": "false"},
    )
    assert result.returncode == 2
    assert "argument --agent-test-connection: must be on or off, not 'false'" in result.stderr
