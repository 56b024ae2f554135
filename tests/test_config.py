"""Config validation: every problem named by file, API, field and problem, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from custom_api_sidecar import ConfigError, parse_config
from custom_api_sidecar.registry import Registry
from tests.conftest import REPO

GOOD_ENDPOINT = "endpoints: [{name: get_item, method: GET, path: /items}]"


def problems(text: str, environment: str | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config = parse_config(textwrap.dedent(text), "apis.yaml")
        if environment:
            Registry(config, environment)
    return [str(p) for p in info.value.problems]


def test_example_config_is_valid():
    from custom_api_sidecar import load_config

    config = load_config("examples/apis.yaml")
    assert [api.name for api in config.apis] == ["salesforce", "stripe"]
    for env in ("sandbox", "draft", "pre-release", "live"):
        Registry(config, env)


def test_unknown_field():
    out = problems(f"""
        apis:
          - name: crm
            connection: {{base_url: "https://crm.example.com"}}
            {GOOD_ENDPOINT}
            colour: blue
    """)
    assert out == [
        "apis.yaml: api 'crm': colour: unknown field; allowed: authentication, connection, description, "
        "display_name, endpoints, health_check, id, metadata, name, openapi, propagate, security, tunnel, user_id, "
        "validation"
    ]


def test_duplicate_api_and_operation_names():
    out = problems("""
        apis:
          - name: crm
            connection: {base_url: "https://a.example.com"}
            endpoints:
              - {name: get_item, method: GET, path: /a}
              - {name: get_item, method: GET, path: /b}
          - name: crm
            connection: {base_url: "https://b.example.com"}
            endpoints: [{name: x, method: GET, path: /x}]
    """)
    assert "apis.yaml: api 'crm': endpoints[1].name: duplicate operation name 'get_item'" in out
    assert "apis.yaml: api 'crm': name: duplicate API name 'crm'" in out


def test_bad_method():
    out = problems("""
        apis:
          - name: crm
            connection: {base_url: "https://crm.example.com"}
            endpoints: [{name: get_item, method: FETCH, path: /items}]
    """)
    assert out == [
        "apis.yaml: api 'crm': endpoints[0].method: 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE, HEAD"
    ]


def test_path_variable_not_declared_and_declared_but_unused():
    out = problems("""
        apis:
          - name: crm
            connection: {base_url: "https://crm.example.com"}
            endpoints:
              - name: get_ticket
                method: GET
                path: /tickets/{ticket_id}
                parameters: [{name: other_id, in: path}]
    """)
    assert "{ticket_id}" not in out  # undeclared path variables are exposed (seed 000), not errors
    assert (
        "apis.yaml: api 'crm': endpoints[0].parameters: path parameter 'other_id' does not appear in path "
        "'/tickets/{ticket_id}'" in out
    )


def test_missing_base_url_for_active_environment():
    text = """
        apis:
          - name: crm
            connection: {base_urls: {sandbox: "https://sandbox.example.com"}}
            endpoints: [{name: get_item, method: GET, path: /items}]
    """
    Registry(parse_config(textwrap.dedent(text), "apis.yaml"), "draft")  # alias of sandbox
    assert problems(text, environment="live") == [
        "apis.yaml: api 'crm': connection.base_urls: no base URL for the active environment 'live'"
    ]


@pytest.mark.parametrize("name", ["CRM", "my-crm", "1crm", "my crm", "class", "list", "x" * 65])
def test_non_identifier_names(name):
    out = problems(f"""
        apis:
          - name: "{name}"
            connection: {{base_url: "https://crm.example.com"}}
            {GOOD_ENDPOINT}
    """)
    assert len(out) == 1 and out[0].startswith(f"apis.yaml: api '{name}': name: ")


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ('{base_url: "ftp://x.example.com"}', "is not an absolute http(s) URL"),
        ('{base_url: "https://u:p@x.example.com"}', "must not contain a query, fragment or credentials"),
        ('{base_url: "https://x.example.com?k=1"}', "must not contain a query"),
        ("{}", "needs base_url"),
        ('{base_urls: {staging: "https://x.example.com"}}', "unknown environment 'staging'"),
        ('{base_url: "https://x.example.com", timeout_ms: 0}', "timeout_ms: must be a positive integer"),
        ('{base_url: "https://x.example.com", verify_ssl: "no"}', "verify_ssl: must be true or false"),
    ],
)
def test_connection_problems(connection, message):
    out = problems(f"""
        apis:
          - name: crm
            connection: {connection}
            {GOOD_ENDPOINT}
    """)
    assert any(message in line for line in out), out


def test_all_problems_reported_at_once():
    out = problems("""
        apis:
          - name: Bad
            connection: {base_url: nope}
            endpoints: [{name: get, method: FETCH, path: items}]
    """)
    assert len(out) == 4


def test_reserved_argument_name_and_colliding_parameters():
    out = problems("""
        apis:
          - name: crm
            connection: {base_url: "https://crm.example.com"}
            endpoints:
              - name: search
                method: GET
                path: /search
                parameters:
                  - {name: json, in: query}
                  - {name: X-Id, in: header}
                  - {name: x_id, in: query}
    """)
    assert any("'json' cannot be a keyword argument" in line for line in out)
    assert any("'x_id' collides with parameter 'X-Id'" in line for line in out)


@pytest.mark.parametrize(
    "text",
    [
        "apis: [",  # broken YAML
        "- just a list",
        "apis: []",
        "apis: [42]",
    ],
)
def test_structurally_broken_files(text):
    assert problems(text)


def test_auth_without_its_secret_is_refused_not_ignored():
    out = problems(f"""
        apis:
          - name: crm
            connection: {{base_url: "https://crm.example.com"}}
            authentication: {{type: api_key, config: {{header_name: X-Key}}}}
            {GOOD_ENDPOINT}
    """)
    assert out == [
        "apis.yaml: api 'crm': authentication.config.key: is required (a secret reference: "
        "vault://<mount>/<path>#<field>, env://<VAR> or file://<path>)"
    ]


def test_json_config(tmp_path):
    from custom_api_sidecar import load_config

    path = tmp_path / "apis.json"
    path.write_text(
        '{"apis": [{"name": "crm", "connection": {"base_url": "https://crm.example.com"}, '
        '"endpoints": [{"name": "get_item", "method": "get", "path": "/items"}]}]}'
    )
    config = load_config(path)
    assert config.apis[0].endpoints[0].method == "GET"


# --- the validate command ------------------------------------------------------------


# The example's credentials are env:// references (examples/run.sh sets them).
EXAMPLE_SECRETS = {"DEMO_CRM_TOKEN": "demo-crm-token", "DEMO_PAYMENTS_KEY": "demo-payments-key"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **EXAMPLE_SECRETS, **(env or {})},
    )


def test_validate_ok():
    # the policy flags over the suite's variables, as an operator would set them for the demo
    result = run_cli(
        "validate", "examples/apis.yaml", "--policy-egress", "private_network,allow_http", "--policy-file-dir", "/run/s"
    )
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "examples/apis.yaml: OK: 2 APIs, 3 operations (environment sandbox)",
        "  salesforce: egress: any private address but cloud metadata, plain http allowed",
        "  stripe: egress: any private address but cloud metadata, plain http allowed",
        "operator policy:",
        "  egress opt-ins allowed: allow_http, private_network",
        "  secret schemes: env, file, vault",
        "  vault paths: any the sidecar can read",
        "  env variables: * (never the sidecar's own)",
        "  file directories: /run/s",
        f"  spec directories: the config file's own, {tempfile.gettempdir()}, {REPO}",
        "  proxies: HTTPS_PROXY/HTTP_PROXY only",
        "  extra arguments: as each API says",
        "secrets: 2 of 2 references resolve",
        "  ok   env://DEMO_CRM_TOKEN: resolved",
        "  ok   env://DEMO_PAYMENTS_KEY: resolved",
    ]
    assert "demo-crm-token" not in result.stdout + result.stderr


def test_validate_fails_on_an_unresolvable_secret():
    result = run_cli("validate", "examples/apis.yaml", env={"DEMO_CRM_TOKEN": ""})
    assert result.returncode == 1
    assert "FAIL env://DEMO_CRM_TOKEN" in result.stdout + result.stderr


def test_validate_reports_problems_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apis:\n  - name: crm\n    connection: {base_url: 'https://x.example.com'}\n"
        "    endpoints: [{name: get_item, method: FETCH, path: /items}]\n"
    )
    result = run_cli("validate", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{bad}: api 'crm': endpoints[0].method: 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE, HEAD"
    )
    assert "Traceback" not in result.stderr


def test_validate_missing_file(tmp_path):
    result = run_cli("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert "missing.yaml: cannot read file: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_environment_flag():
    assert run_cli("validate", "examples/apis.yaml", "--environment", "live").returncode == 0
    result = run_cli("validate", "examples/apis.yaml", "--environment", "staging")
    assert result.returncode == 2 and "unknown environment 'staging'" in result.stderr


HOST = 'connection: {base_url: "https://x.example.com"}'


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("name", f'{{name: "crm\\n", {HOST}, endpoints: [{{name: get, method: GET, path: /a}}]}}'),
        (
            "endpoints[0].parameters[0].name",
            f"{{name: crm, {HOST}, endpoints: [{{name: get, method: GET, path: /a,"
            ' parameters: [{name: "X-Id\\n", in: header}]}]}',
        ),
    ],
)
def test_a_trailing_newline_never_passes_a_name_rule(field: str, entry: str) -> None:
    """``$`` also matches before a final newline: every name rule is anchored with ``\\Z``."""
    with pytest.raises(ConfigError) as info:
        parse_config(f"apis:\n  - {entry}\n", "apis.yaml")
    assert any(p.field == field for p in info.value.problems), info.value
