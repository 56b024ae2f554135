"""Seed 004's "Test Connection" against real servers: the CLI (text and JSON, exit codes), the
TestConnection RPC, the dashboard's status, and nothing non-idempotent or secret ever sent out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.secrets import build_secret_store
from custom_api_sidecar.secrets.vault import VaultSettings
from tests._support.openbao import ROOT_TOKEN, OpenBao
from tests._support.pki import CertificateAuthority
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.tls_upstream import TlsUpstream
from tests._support.upstream import Upstream

CANARY = "connection-test-canary-2e71"
LOCAL = "allow_http: true, private_network: true"


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    server = OpenBao()
    server.enable_kv("kv", 2)
    server.put("kv", "crm", {"api_key": CANARY}, 2)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory) -> Iterator[TlsUpstream]:
    issued = CertificateAuthority(tmp_path_factory.mktemp("untrusted"), "Nobody's CA").issue(
        "localhost", names=("localhost",)
    )
    server = TlsUpstream(issued.cert, issued.key)
    yield server
    server.close()


def good_config(upstream: Upstream, issuer, protected) -> str:
    return textwrap.dedent(f"""
        apis:
          - name: crm
            connection: {{{LOCAL}, base_url: "{upstream.url}/echo/crm"}}
            authentication: {{type: api_key, config: {{header_name: X-API-Key, key: "vault://kv/crm#api_key"}}}}
            endpoints:
              - name: list_contacts
                method: GET
                path: /contacts
                response_schema: {{type: object, required: [method]}}
              - {{name: get_contact, method: GET, path: "/contacts/{{contact_id}}"}}
              - {{name: create_contact, method: POST, path: /contacts}}
              - name: create_lead
                method: POST
                path: /leads
                test_arguments: {{json: {{name: Connection Test}}}}
          - name: billing
            health_check: whoami
            connection: {{{LOCAL}, base_url: "{protected.url}"}}
            authentication:
              type: oauth2
              config: {{token_url: "{issuer.token_url}", client_id: conn-test, client_secret: "vault://kv/crm#api_key"}}
            endpoints:
              - {{name: whoami, method: GET, path: /me}}
        """)


def bad_config(upstream: Upstream, protected, tls: TlsUpstream) -> str:
    return textwrap.dedent(f"""
        apis:
          - name: schema_drift
            connection: {{{LOCAL}, base_url: "{upstream.url}/echo/drift"}}
            endpoints:
              - {{name: list_items, method: GET, path: /items, response_schema: {{type: array}}}}
          - name: rejected
            connection: {{{LOCAL}, base_url: "{protected.url}"}}
            authentication: {{type: bearer_token, config: {{token: "vault://kv/crm#api_key"}}}}
            endpoints:
              - {{name: whoami, method: GET, path: /me}}
          - name: closed
            connection: {{{LOCAL}, base_url: "http://127.0.0.1:{closed_port()}", timeout_ms: 2000}}
            endpoints: [{{name: ping, method: GET, path: /ping}}]
          - name: nowhere
            connection: {{base_url: "https://crm.nothing.invalid", timeout_ms: 2000}}
            endpoints: [{{name: ping, method: GET, path: /ping}}]
          - name: bad_certificate
            connection: {{private_network: true, base_url: "https://localhost:{tls.port}", timeout_ms: 2000}}
            endpoints: [{{name: ping, method: GET, path: /ping}}]
        """)


def statuses(report: dict) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def detail(report: dict, name: str) -> str:
    return next(check["detail"] for check in report["checks"] if check["name"] == name)


def run_cli(tmp_path, text: str, bao: OpenBao, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "apis.yaml"
    config.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "test", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "VAULT_ADDR": bao.url, "VAULT_TOKEN": ROOT_TOKEN},
    )


def test_every_check_passes_on_a_healthy_config(tmp_path, upstream, issuer, protected, bao):
    posts_before = sum(1 for r in upstream.requests if r["method"] == "POST")
    result = run_cli(tmp_path, good_config(upstream, issuer, protected), bao, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    crm, billing = json.loads(result.stdout)
    assert crm["ok"] and billing["ok"]
    assert statuses(crm) == {
        "dns": "pass",
        "tcp": "pass",
        "tls": "skip",
        "auth": "pass",
        "endpoint:list_contacts": "pass",
        "endpoint:get_contact": "skip",
        "endpoint:create_contact": "skip",
        "endpoint:create_lead": "pass",
    }
    assert detail(crm, "dns") == "127.0.0.1 -> 127.0.0.1"
    assert detail(crm, "endpoint:list_contacts") == "GET /contacts answered 200, body matches response_schema"
    assert detail(crm, "endpoint:create_contact") == "not called: it is a POST (declare test_arguments)"
    assert detail(crm, "endpoint:get_contact") == "not called: it has required arguments (declare test_arguments)"
    assert detail(crm, "auth") == "api_key: credentials resolved; list_contacts answered 200"
    assert detail(billing, "auth") == "oauth2: token obtained; whoami answered 200"
    # exactly one POST: the operation with test_arguments, never the other
    posts = [r for r in upstream.requests if r["method"] == "POST"][posts_before:]
    assert [r["path"] for r in posts] == ["/echo/crm/leads"]
    assert CANARY not in result.stdout + result.stderr


def test_each_failure_is_named_and_exits_1(tmp_path, upstream, protected, untrusted_tls, bao):
    result = run_cli(tmp_path, bad_config(upstream, protected, untrusted_tls), bao)
    assert result.returncode == 1
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]  # columns as single spaces

    def line(prefix: str) -> str:
        found = [text for text in lines if text.startswith(prefix)]
        assert found, f"no line starting {prefix!r} in:\n{result.stdout}"
        return found[0]

    assert line("schema_drift (").endswith(
        "FAIL, 2 of 3 checks passed; endpoint:list_items: GET /items answered 200, but the body fails "
        "response_schema at response: expected type array"
    )
    assert line("fail auth bearer_token:").startswith(
        "fail auth bearer_token: whoami answered 401: the credentials were rejected"
    )
    assert re.match(r"fail tcp 127\.0\.0\.1:\d+: Connection refused", line("fail tcp"))
    assert line("fail dns").startswith("fail dns crm.nothing.invalid does not resolve")
    assert line("fail tls").startswith("fail tls handshake failed: CERTIFICATE_VERIFY_FAILED")
    assert line("fail endpoint:ping ENDPOINT_NOT_FOUND").startswith(
        "fail endpoint:ping ENDPOINT_NOT_FOUND: nowhere.ping: https://crm.nothing.invalid/ping: host name does not"
    )
    assert CANARY not in result.stdout + result.stderr


def test_an_unknown_api_is_a_usage_error(tmp_path, upstream, issuer, protected, bao):
    result = run_cli(tmp_path, good_config(upstream, issuer, protected), bao, "--api", "crn")
    assert result.returncode == 2
    assert ("no API 'crn'" in result.stderr and "did you mean" in result.stderr.lower()) or "crm" in result.stderr


@pytest.fixture(scope="module")
def running(upstream, issuer, protected, bao) -> Iterator[ThreadedSidecar]:
    store = build_secret_store(VaultSettings(address=bao.url, token=ROOT_TOKEN))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(good_config(upstream, issuer, protected), f"{tmp}/s.sock", secret_store=store)
        yield sidecar
        sidecar.stop()


def test_the_rpc_and_the_dashboard_status(running):
    with connect(running.unix_target) as conv:
        (report,) = conv.api.test_connection(["billing"])
        every = conv.api.test_connection()
        with pytest.raises(errors.UnknownApi):
            conv.api.test_connection(["nope"])
    assert report["api"] == "billing" and report["ok"] and report["summary"] == "4 of 4 checks passed"
    assert [r["api"] for r in every] == ["crm", "billing"]
    latest = running.sidecar.connection_status.latest("billing")
    assert latest is not None and latest.ok
    (billing,) = [api for api in running.sidecar.activity.apis() if api["name"] == "billing"]
    assert billing["status"]["state"] == "connected"
    assert CANARY not in json.dumps(every)
