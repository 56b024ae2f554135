"""The operator's policy over API definitions (issue 20): what a definition may reference and
open. The suite runs under a permissive policy (conftest.py); these tests pass their own, and the
end-to-end ones run ``serve`` with the policy variables cleared, as a fresh install has them."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import load_config, parse_config
from custom_api_sidecar.policy import ENV_EGRESS, OperatorPolicy
from tests._support.processes import SidecarProcess
from tests._support.upstream import Upstream

DEFAULT = OperatorPolicy()  # no flags, no variables
# What a fresh install has: every policy variable unset (the suite's conftest sets some).
CLEARED = {name: "" for name in os.environ if name.startswith("CUSTOM_API_SIDECAR_POLICY_")}
CANARY_VAULT_TOKEN = "s.CANARY-vault-token-5e1f"


def api(auth: str = "{type: none}", connection: str = "", extra: str = "") -> str:
    return f"""
apis:
  - name: crm
    connection: {{base_url: "https://crm.example.com", {connection}}}
    authentication: {auth}
    endpoints:
      - {{name: get, method: GET, path: /items}}
{extra}"""


def problems(text: str, policy: OperatorPolicy = DEFAULT, source: str = "apis.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source, policy=policy)
    return [str(p) for p in info.value.problems]


def basic(password: str) -> str:
    return f'{{type: basic_auth, config: {{username: svc, password: "{password}"}}}}'


# --- secret references ---------------------------------------------------------------------


def test_the_attack_from_the_issue_proc_self_environ_as_a_password_is_refused() -> None:
    [problem] = problems(api(basic("file:///proc/self/environ")))
    assert problem == (
        "apis.yaml: api 'crm': authentication.config.password: file:///proc/self/environ is refused by the "
        "operator policy: /proc/self/environ is under /proc, which API definitions may never read"
    )


@pytest.mark.parametrize(
    "reference",
    [
        "env://VAULT_TOKEN",
        "env://vault_token",
        "env://CUSTOM_API_SIDECAR_CONFIG",
        "env://REDIS_PASSWORD",
        "env://OTEL_EXPORTER_OTLP_HEADERS",
        "env://KUBERNETES_SERVICE_HOST",
        "env://HTTPS_PROXY",
        "env://AWS_SECRET_ACCESS_KEY",
    ],
)
def test_the_sidecars_own_variables_are_refused_even_when_every_name_is_allowed(reference: str) -> None:
    everything = OperatorPolicy(env_names=("*",))
    [problem] = problems(api(f'{{type: bearer_token, config: {{token: "{reference}"}}}}'), everything)
    assert f"authentication.config.token: {reference} is refused by the operator policy: variable" in problem
    assert "is the sidecar's own setting" in problem and "which API definitions may never read" in problem


def test_an_environment_placeholder_cannot_reach_the_sidecars_settings() -> None:
    # VAULT_{environment} is VAULT_LIVE in live: one environment is enough to refuse it
    [problem] = problems(api('{type: bearer_token, config: {token: "env://VAULT_{environment}"}}'))
    assert "env://VAULT_{environment} is refused" in problem and "'VAULT_SANDBOX'" in problem


def test_variable_name_patterns_narrow_what_definitions_may_read() -> None:
    policy = OperatorPolicy(env_names=("CRM_*",), sources={"env_names": "--policy-env-name"})
    ok = api('{type: bearer_token, config: {token: "env://CRM_TOKEN_{environment}"}}')
    assert parse_config(ok, policy=policy).apis[0].name == "crm"
    [problem] = problems(api('{type: bearer_token, config: {token: "env://BILLING_TOKEN"}}'), policy)
    assert "variable 'BILLING_TOKEN' matches none of the allowed names (CRM_*; --policy-env-name)" in problem


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/sys/kernel/notes", "is under /sys"),
        ("/dev/mem", "is under /dev"),
        ("/var/run/secrets/kubernetes.io/serviceaccount/token", "is under /var/run/secrets/kubernetes.io"),
        ("/etc/custom-api-sidecar/secrets/../../passwd", "is outside the directories API definitions may read"),
        ("/etc/shadow", "is outside the directories API definitions may read"),
    ],
)
def test_file_references_outside_the_operators_directories_are_refused(path: str, why: str) -> None:
    [problem] = problems(api(basic(f"file://{path}")))
    assert f"file://{path} is refused by the operator policy" in problem and why in problem
    assert "/etc/custom-api-sidecar/secrets" in problem or "may never read" in problem


def test_a_link_from_an_allowed_directory_to_proc_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "password").symlink_to("/proc/self/environ")
    policy = OperatorPolicy(file_dirs=(str(tmp_path),))
    [problem] = problems(api(basic(f"file://{tmp_path}/password")), policy)
    assert re.search(rf"{tmp_path}/password \(a link to /proc/\d+/environ\) is under /proc,", problem), problem


def test_files_in_the_operators_directories_load(tmp_path: pathlib.Path) -> None:
    (tmp_path / "live").mkdir()
    policy = OperatorPolicy(file_dirs=(str(tmp_path),))
    config = parse_config(api(basic(f"file://{tmp_path}/{{environment}}/crm")), policy=policy)
    assert config.apis[0].authentication.password == f"file://{tmp_path}/{{environment}}/crm"  # type: ignore[union-attr]


def test_a_ca_bundle_path_is_a_file_the_policy_decides_on() -> None:
    [problem] = problems(api(connection="tls: {ca_bundle: /proc/self/environ}"))
    assert problem.endswith(
        "connection.tls.ca_bundle: /proc/self/environ is under /proc, which API definitions may never read"
    )


def test_schemes_and_vault_prefixes() -> None:
    policy = OperatorPolicy(secret_schemes=frozenset({"vault"}), vault_prefixes=("kv/{environment}/tenant-a",))
    ok = api('{type: bearer_token, config: {token: "vault://kv/{environment}/tenant-a/crm#token"}}')
    assert parse_config(ok, policy=policy).apis[0].name == "crm"
    [other_tenant] = problems(
        api('{type: bearer_token, config: {token: "vault://kv/live/tenant-b/crm#token"}}'), policy
    )
    assert (
        "Vault path 'kv/live/tenant-b/crm' is outside the allowed prefixes (kv/{environment}/tenant-a;" in other_tenant
    )
    [prefix_trick] = problems(api('{type: bearer_token, config: {token: "vault://kv/live/tenant-ab#token"}}'), policy)
    assert "is outside the allowed prefixes" in prefix_trick
    [scheme] = problems(api('{type: bearer_token, config: {token: "env://CRM_TOKEN"}}'), policy)
    assert "env:// references are not allowed (allowed: vault://; set --policy-secret-schemes or" in scheme


def test_every_reference_of_a_definition_is_checked() -> None:
    text = api(
        """{type: custom_header, config: {headers: [
             {name: X-Tenant, value: tenant-a},
             {name: X-Key, value: "env://VAULT_TOKEN"}]}}""",
        connection='tls: {client_cert: "file:///proc/self/fd/0", client_key: "env://REDIS_PASSWORD"}',
    )
    fields = sorted(p.split(": ")[2] for p in problems(text))
    assert fields == [
        "authentication.config.headers[1].value",
        "connection.tls.client_cert",
        "connection.tls.client_key",
    ]


# --- egress opt-ins and proxies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "opt_in", "field"),
    [
        ("private_network: true", "private_network", "connection.private_network"),
        ("ip_allowlist: [10.20.0.0/16]", "ip_allowlist", "connection.ip_allowlist"),
        ("allow_http: true", "allow_http", "connection.allow_http"),
        ("verify_ssl: false", "verify_ssl_off", "connection.verify_ssl"),
        ("", "baggage", "propagate"),  # the agent's baggage (user ids, emails) sent upstream
    ],
)
def test_egress_opt_ins_need_the_operator(connection: str, opt_in: str, field: str) -> None:
    extra = "    propagate: [tracecontext, baggage]" if opt_in == "baggage" else ""
    [problem] = problems(api(connection=connection, extra=extra))
    assert f"api 'crm': {field}: " in problem
    assert problem.endswith(
        f"is refused by the operator policy: it allows no egress opt-ins; an operator allows this one with "
        f"--policy-egress {opt_in} or {ENV_EGRESS}={opt_in}"
    )
    allowed = OperatorPolicy(egress=frozenset({opt_in}))
    assert parse_config(api(connection=connection, extra=extra), policy=allowed).apis[0].name == "crm"


def test_a_proxy_is_only_one_the_operator_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # A definition's own "proxy" would be trusted to reach any address: the metadata service, say.
    [problem] = problems(api(connection='proxy: "http://169.254.169.254:80"'))
    assert "connection.proxy: 'http://169.254.169.254:80' is refused by the operator policy" in problem
    listed = OperatorPolicy(proxies=("http://proxy.internal:3128",))
    assert parse_config(api(connection='proxy: "http://proxy.internal:3128"'), policy=listed).apis
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    assert parse_config(api(connection='proxy: "http://egress.internal:3128"'), policy=DEFAULT).apis
    assert parse_config(api(connection="proxy: direct"), policy=DEFAULT).apis


# --- OpenAPI specs ------------------------------------------------------------------------------


def spec_api(spec: str, extra: str = "") -> str:
    return f"""
apis:
  - name: pets
    connection: {{base_url: "https://pets.example.com"}}
    openapi: {{spec: "{spec}"{extra}}}
"""


SPEC = """openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    get: {operationId: listPets, responses: {"200": {description: ok}}}
"""


def test_local_specs_come_from_the_config_files_directory_or_the_operators(tmp_path: pathlib.Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pets.yaml").write_text(SPEC)
    (tmp_path / "elsewhere.yaml").write_text(SPEC)
    config_file = tmp_path / "conf" / "apis.yaml"
    config_file.write_text(spec_api("pets.yaml"))
    assert [e.name for e in load_config(config_file, DEFAULT).apis[0].endpoints] == ["list_pets"]
    for spec in ("../elsewhere.yaml", "/proc/self/environ"):
        config_file.write_text(spec_api(spec))
        with pytest.raises(ConfigError) as info:
            load_config(config_file, DEFAULT)
        assert "openapi.spec: " in str(info.value) and "refusing to read: " in str(info.value)
    config_file.write_text(spec_api("../elsewhere.yaml"))
    assert load_config(config_file, OperatorPolicy(spec_dirs=(str(tmp_path),))).apis[0].endpoints


def test_a_specs_ref_cannot_leave_the_allowed_directories(tmp_path: pathlib.Path) -> None:
    (tmp_path / "secret.yaml").write_text("password: hunter2\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pets.yaml").write_text(
        SPEC.replace("responses:", "parameters: [{$ref: '../secret.yaml#/password'}], responses:")
    )
    config_file = tmp_path / "conf" / "apis.yaml"
    config_file.write_text(spec_api("pets.yaml"))
    with pytest.raises(ConfigError) as info:
        load_config(config_file, DEFAULT)
    assert f"refusing to read: {tmp_path}/secret.yaml is outside the directories" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_spec_fetch_cannot_turn_on_private_networks_or_http() -> None:
    found = problems(spec_api("http://127.0.0.1:1/spec.yaml", ", allow_private_network: true, allow_http: true"))
    assert [p.split(": ")[2] for p in found] == ["openapi.allow_private_network", "openapi.allow_http"]
    assert all("refused by the operator policy" in p for p in found)


# --- where the policy comes from -----------------------------------------------------------------


def test_the_policy_comes_from_flags_over_variables_over_defaults() -> None:
    env = {ENV_EGRESS: "private_network", "CUSTOM_API_SIDECAR_POLICY_FILE_DIRS": "/run/secrets/crm, /etc/crm"}
    policy = OperatorPolicy.from_env(env, egress=["allow_http"])
    assert policy.egress == {"allow_http"} and policy.source("egress") == "--policy-egress"
    assert policy.file_dirs == ("/run/secrets/crm", "/etc/crm")
    assert policy.source("file_dirs") == "CUSTOM_API_SIDECAR_POLICY_FILE_DIRS"
    assert OperatorPolicy.from_env({}) == DEFAULT
    with pytest.raises(ValueError, match="unknown egress opt-in\\(s\\) everything: use private_network"):
        OperatorPolicy.from_env({ENV_EGRESS: "everything"})
    with pytest.raises(ValueError, match="must be an absolute path"):
        OperatorPolicy.from_env({"CUSTOM_API_SIDECAR_POLICY_FILE_DIRS": "secrets"})


def test_the_definitions_file_cannot_set_the_policy() -> None:
    text = "policy: {egress: [private_network]}\n" + api(connection="private_network: true")
    found = problems(text)
    assert any("policy" in p and "unknown" in p.lower() for p in found), found
    assert any("connection.private_network" in p for p in found)


# --- end to end: serve, and a reload that tries to widen the policy ------------------------------


def _wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_serve_refuses_a_definition_that_reads_the_sidecars_environment(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "apis.yaml"
    config.write_text(api(basic("file:///proc/self/environ")))
    serve = [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(config)]
    env = {**os.environ, **CLEARED, "VAULT_TOKEN": CANARY_VAULT_TOKEN}
    done = subprocess.run([*serve, "--listen", f"unix://{tmp_path}/s.sock"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        f"{config}: api 'crm': authentication.config.password: file:///proc/self/environ is refused by the "
        "operator policy: /proc/self/environ is under /proc, which API definitions may never read"
    )


def test_a_reload_cannot_read_vault_token_and_is_audited(tmp_path: pathlib.Path, upstream: Upstream) -> None:
    def definitions(*apis: tuple[str, str]) -> str:
        entries = [
            f"""  - name: {name}
    connection: {{base_url: "{upstream.url}/echo/{name}", allow_http: true, private_network: true}}
    authentication: {{type: bearer_token, config: {{token: "{token}"}}}}
    endpoints:
      - {{name: get, method: GET, path: /items}}"""
            for name, token in apis
        ]
        return "apis:\n" + "\n".join(entries) + "\n"

    config, audit = tmp_path / "apis.yaml", tmp_path / "audit.jsonl"
    config.write_text(definitions(("crm", "env://CRM_TOKEN")))
    env = {
        **CLEARED,
        ENV_EGRESS: "private_network,allow_http",
        "CRM_TOKEN": "crm-token-1",
        "VAULT_TOKEN": CANARY_VAULT_TOKEN,
    }
    sidecar = SidecarProcess(config, tmp_path / "s.sock", env=env, extra_args=["--audit-file", str(audit)])
    try:
        with connect(sidecar.target) as conv:
            assert conv.api.crm.get().status_code == 200
            before = len(upstream.requests)
            config.write_text(definitions(("crm", "env://VAULT_TOKEN")))
            _wait_for(lambda: "NOT reloaded" in sidecar.output)
            assert "env://VAULT_TOKEN is refused by the operator policy" in sidecar.output
            assert conv.api.crm.get().status_code == 200  # the old definition keeps serving
            # a widening the operator allowed goes through, and says what changed
            config.write_text(definitions(("crm", "env://CRM_TOKEN"), ("billing", "env://CRM_TOKEN")))
            _wait_for(lambda: "config reloaded" in sidecar.output)
            assert conv.api.billing.get().status_code == 200
            with pytest.raises(errors.UnknownApi):
                conv.api.nowhere.get()
        sent = json.dumps(upstream.requests[before:])
        assert CANARY_VAULT_TOKEN not in sent and "crm-token-1" in sent
    finally:
        sidecar.stop()
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    config_records = [r for r in records if r["type"] == "config"]
    assert [r["event"] for r in config_records] == ["loaded", "rejected", "applied"]
    loaded, rejected, applied = config_records
    assert loaded["added"] == ["crm"] and loaded["secret_references"] == {
        "crm": {"added": ["env://CRM_TOKEN"], "removed": []}
    }
    assert loaded["egress"]["crm"]["private_network"] == [None, True]
    assert any("env://VAULT_TOKEN is refused by the operator policy" in p for p in rejected["problems"])
    assert applied["added"] == ["billing"] and applied["removed"] == [] and applied["changed"] == []
    assert applied["egress"]["billing"]["base_urls"][1]["live"] == f"{upstream.url}/echo/billing"
    assert applied["secret_references"] == {"billing": {"added": ["env://CRM_TOKEN"], "removed": []}}
    assert CANARY_VAULT_TOKEN not in audit.read_text() and "crm-token-1" not in audit.read_text()
    assert "config reloaded from" in sidecar.output and "2 APIs; added: billing" in sidecar.output
