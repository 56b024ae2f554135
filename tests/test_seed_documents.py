"""The seeds' own configuration documents load as written.

``tests/fixtures/seed004_custom_api.yaml`` is seed 004's "Complete Custom API Configuration",
copied verbatim (the YAML under "Configuration Schema"). Seed 003's callback tool is written
here field by field as the seed gives it, with its token as a reference.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator

import pytest
import yaml

from custom_api_client import connect, errors
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import load_config, parse_config
from custom_api_sidecar.secrets.vault import VaultSettings
from tests._support.openbao import ROOT_TOKEN, OpenBao
from tests._support.sidecar import start_sidecar
from tests._support.upstream import Upstream

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "seed004_custom_api.yaml"
SEED_KEY = "seed004-canary-key-7f3a"
CALLBACK_TOKEN = "seed003-canary-token-91c2"
EXECUTION_DESCRIPTION = (
    "Use this tool only after the caller name, company name, callback number, and reason for the call have "
    "been collected successfully. Create a new callback request in the CRM, then close the conversation politely."
)


def sent_header(echoed: dict, name: str) -> str:
    """A header as the echo upstream received it (HTTP header names are case-insensitive)."""
    (value,) = [v for k, v in echoed["headers"] if k.lower() == name.lower()]
    return value


def test_the_verbatim_seed_document_validates_offline():
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "validate", "--offline", str(FIXTURE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{FIXTURE}: OK: 1 APIs, 2 operations (environment sandbox)"
    assert lines[1].startswith('  my_company_crm: "My Company CRM" informational {"id": "api_abc123", "metadata": ')
    assert "vault://users/user_xyz/apis/api_abc123/key: not checked (--offline)" in result.stdout


def test_slug_is_the_code_name_and_name_the_display_name():
    (api,) = load_config(FIXTURE).apis
    assert api.name == "my_company_crm" and api.display_name == "My Company CRM"
    assert [e.name for e in api.endpoints] == ["get_customer", "search_customers"]
    assert api.informational.id == "api_abc123" and api.informational.user_id == "user_xyz"
    assert api.informational.metadata["total_calls"] == 1247  # informational, not a measured count
    assert api.connection.retry_attempts == 3
    assert api.security.rate_limit is not None and api.security.rate_limit.requests_per_minute == 60
    assert api.tunnel.enabled is False and api.connection.ip_allowlist == ()  # `ip_allowlist: null`


def test_a_json_pointer_into_the_document_resolves():
    (api,) = load_config(FIXTURE).apis
    get_customer, search = api.endpoints
    assert search.response_schema == {"type": "array", "items": get_customer.response_schema}


def test_tool_definitions_from_the_seed_document():
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "tools", "--config", str(FIXTURE), "--format", "openai"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    tools = {t["function"]["name"]: t["function"] for t in json.loads(result.stdout)}
    assert set(tools) == {"my_company_crm__get_customer", "my_company_crm__search_customers"}
    assert tools["my_company_crm__get_customer"]["description"] == "Retrieve customer by ID"
    assert tools["my_company_crm__get_customer"]["parameters"]["required"] == ["customer_id"]
    assert set(tools["my_company_crm__search_customers"]["parameters"]["properties"]) == {"query", "limit"}
    assert "crm.mycompany.com" not in result.stdout and "vault://" not in result.stdout


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    server = OpenBao()
    server.enable_kv("users", 2)
    # seed 004's key_vault_ref names no #field: the secret's only field is used
    server.put("users", "user_xyz/apis/api_abc123/key", {"value": SEED_KEY}, 2)
    yield server
    server.stop()


def pointed_at(upstream: Upstream) -> str:
    """The verbatim document pointed at the local upstream: its base URL and URL allowlist, plus the
    opt-ins a loopback http upstream needs (seed 004's ip_allowlist, and allow_http)."""
    document = yaml.safe_load(FIXTURE.read_text())
    document["custom_api"]["connection"]["base_url"] = f"{upstream.url}/echo/api/v1"
    document["custom_api"]["security"]["ip_allowlist"] = ["127.0.0.1"]  # seed 004's internal-API setting
    document["custom_api"]["connection"]["allow_http"] = True  # the test upstream speaks plain http
    document["custom_api"]["security"]["url_allowlist"] = [f"{upstream.url}/echo/api/v1/*"]
    return yaml.safe_dump(document)


def test_calls_reach_the_upstream_with_the_key_from_vault(bao, upstream):
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(
            pointed_at(upstream), f"{tmp}/s.sock", vault_settings=VaultSettings(address=bao.url, token=ROOT_TOKEN)
        )
        try:
            with connect(running.unix_target) as conv:
                listed = conv.api.list()
                schema = conv.api.my_company_crm.schema()
                got = conv.api.my_company_crm.get_customer("c-42")
                searched = conv.api.my_company_crm.search_customers(query="ada", limit=5)
        finally:
            running.stop()
    assert listed == ["my_company_crm"]
    assert schema["display_name"] == "My Company CRM"
    assert schema["informational"]["user_id"] == "user_xyz"
    assert got.status_code == 200
    echoed = got.json()
    assert echoed["path"] == "/echo/api/v1/customers/c-42"
    assert sent_header(echoed, "X-API-Key") == "REDACTED"  # the echo never shows the agent the key
    (received,) = [r for r in upstream.requests if r["path"] == "/echo/api/v1/customers/c-42"][-1:]
    assert sent_header(received, "X-API-Key") == SEED_KEY  # what the upstream did receive
    assert searched.json()["method"] == "POST"
    assert json.loads(searched.json()["body"]) == {"query": "ada", "limit": 5}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"value": "v", "other": "o"}, "v"),
        ({"key": "k", "other": "o"}, "k"),
        ({"token": "t", "other": "o"}, "t"),  # the last path segment is the field
    ],
)
async def test_default_field_of_a_field_less_reference(bao, data, expected):
    from custom_api_sidecar.secrets import SecretSettings, build_secret_store, parse_reference

    bao.put("users", "defaults/token", data, 2)
    store = build_secret_store(VaultSettings(address=bao.url, token=ROOT_TOKEN), SecretSettings())
    ref = parse_reference("vault://users/defaults/token")
    store.register(ref)
    await store.start()
    try:
        assert store.get(ref) == expected
    finally:
        await store.aclose()


async def test_an_ambiguous_field_less_reference_names_the_fields_not_the_values(bao):
    from custom_api_sidecar.errors import SidecarError
    from custom_api_sidecar.secrets import SecretSettings, build_secret_store, parse_reference

    bao.put("users", "ambiguous/secret", {"first": "secret-one-value", "second": "secret-two-value"}, 2)
    store = build_secret_store(VaultSettings(address=bao.url, token=ROOT_TOKEN), SecretSettings())
    ref = parse_reference("vault://users/ambiguous/secret")
    store.register(ref)
    await store.start()
    try:
        with pytest.raises(SidecarError) as caught:
            store.get(ref)
    finally:
        await store.aclose()
    message = caught.value.message
    assert "vault://users/ambiguous/secret" in message and "(first, second)" in message
    assert "name one with '#<field>'" in message
    assert "secret-one-value" not in message and "secret-two-value" not in message


SECOND = textwrap.dedent("""
    custom_api:
      slug: inventory
      name: Inventory System
      connection: {base_url: "https://inventory.example.com"}
      endpoints:
        - {name: get_item, method: GET, path: "/items/{item_id}"}
    """)


def test_a_stream_of_documents_and_a_list_of_documents():
    stream = parse_config(FIXTURE.read_text() + "\n---\n" + SECOND, "apis.yaml")
    assert [(a.name, a.display_name) for a in stream.apis] == [
        ("my_company_crm", "My Company CRM"),
        ("inventory", "Inventory System"),
    ]
    as_list = yaml.safe_dump([yaml.safe_load(FIXTURE.read_text()), yaml.safe_load(SECOND)])
    assert [a.name for a in parse_config(as_list, "apis.yaml").apis] == ["my_company_crm", "inventory"]


def test_both_forms_in_one_file_share_one_namespace():
    mixed = (
        SECOND
        + "---\napis:\n  - {name: inventory, connection: {base_url: 'https://x.example'}, endpoints: ["
        + ("{name: ping, method: GET, path: /ping}]}\n")
    )
    with pytest.raises(ConfigError, match="api 'inventory': name: duplicate API name 'inventory'"):
        parse_config(mixed, "apis.yaml")


def seed_with(path: str, value: object) -> str:
    document = yaml.safe_load(FIXTURE.read_text())
    node = document["custom_api"]
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return yaml.safe_dump(document)


def test_an_enabled_tunnel_says_how_internal_apis_are_reached_instead():
    with pytest.raises(ConfigError) as caught:
        parse_config(seed_with("tunnel.enabled", True), "apis.yaml")
    assert "api 'my_company_crm': tunnel.enabled: tunnels are not used: this sidecar runs next to the agent" in str(
        caught.value
    )


def test_a_broken_pointer_and_a_pointer_cycle_are_named():
    broken = seed_with("endpoints.1.response_schema.items", {"$ref": "#/endpoints/7/response_schema"})
    with pytest.raises(ConfigError, match=r"'#/endpoints/7/response_schema' points to nothing"):
        parse_config(broken, "apis.yaml")
    looped = seed_with("endpoints.0.response_schema", {"$ref": "#/endpoints/0/response_schema"})
    with pytest.raises(ConfigError, match="refers to itself"):
        parse_config(looped, "apis.yaml")


# --- seed 003: an HTTP API request tool ------------------------------------------------


def callback_tool(request_url: str, authorization: str = "Bearer env://CALLBACK_API_TOKEN", extra: str = "") -> str:
    return textwrap.dedent(f"""
        tools:
          - name: create_callback_lead
            execution_description: "{EXECUTION_DESCRIPTION}"
            method: POST
            request_url: {request_url}
            headers:
              Authorization: "{authorization}"
              Content-Type: application/json
            body_fields:
              - {{name: name, type: String, required: true, description: "The caller's name"}}
              - {{name: company, type: String, required: true, description: "The caller's company"}}
              - {{name: reason, type: String, required: true, description: The reason for the call}}
              - {{name: phone_number, type: String, required: true, description: The confirmed callback number}}
            timeout_ms: 5000
            run_in_background: false
            {extra}
        """)


LEAD = {"name": "Ada", "company": "Analytical Engines", "reason": "Pricing", "phone_number": "+44 20 7946 0000"}


def test_the_callback_tool_end_to_end(upstream, monkeypatch):
    monkeypatch.setenv("CALLBACK_API_TOKEN", CALLBACK_TOKEN)
    before = len(upstream.requests)
    with tempfile.TemporaryDirectory() as tmp:
        tool = callback_tool(
            f"{upstream.url}/echo/callbacks", extra="allow_http: true\n" + " " * 12 + "private_network: true"
        )
        running = start_sidecar(tool, f"{tmp}/s.sock")
        try:
            with connect(running.unix_target) as conv:
                short = conv.api.create_callback_lead(**LEAD)
                full = conv.api.create_callback_lead.create_callback_lead(**LEAD)
                (tool,) = conv.api.tools(format="openai")
                with pytest.raises(errors.InvalidArgument, match="phone_number"):
                    conv.api.create_callback_lead(name="Ada", company="AE", reason="Pricing")
        finally:
            running.stop()
    for response in (short, full):
        assert response.status_code == 200
        echoed = response.json()
        assert echoed["method"] == "POST" and echoed["path"] == "/echo/callbacks"
        assert sent_header(echoed, "Authorization") == "Bearer REDACTED"  # the echo never shows the agent the token
        assert json.loads(echoed["body"]) == LEAD
    received = [sent_header(r, "Authorization") for r in upstream.requests[before:]]
    assert received == [f"Bearer {CALLBACK_TOKEN}"] * 2  # what the upstream did receive
    function = tool["function"]
    assert function["name"] == "create_callback_lead"
    assert function["description"] == EXECUTION_DESCRIPTION
    assert sorted(function["parameters"]["required"]) == ["company", "name", "phone_number", "reason"]
    assert function["parameters"]["properties"]["phone_number"]["description"] == "The confirmed callback number"


def test_a_literal_token_in_a_tool_header_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as caught:
        parse_config(callback_tool("https://api.example.com/callbacks", "Bearer your-api-token"), "tools.yaml")
    message = str(caught.value)
    assert "api 'create_callback_lead': authentication.config.headers[0].value: looks like a literal secret" in message
    assert "your-api-token" not in message


def test_the_tool_keeps_its_seed_settings():
    (api,) = parse_config(callback_tool("https://api.example.com/callbacks"), "tools.yaml").apis
    (endpoint,) = api.endpoints
    assert api.connection.base_urls["live"] == "https://api.example.com"
    assert (endpoint.method, endpoint.path, endpoint.timeout_ms) == ("POST", "/callbacks", 5000)
    assert endpoint.background is False
    assert endpoint.request_content_type == "application/json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("colour: red", "colour: unknown field for an HTTP API tool"),
        ("headers: {Content-Type: text/csv}", "headers.Content-Type: 'text/csv' is not one of"),
        ("body_fields: [{name: x, type: Money}]", "body_fields[0].type: 'Money' is not one of"),
    ],
)
def test_bad_tool_fields_are_named(change, message):
    text = callback_tool("https://api.example.com/callbacks")
    key = change.split(":")[0]
    lines = [line for line in text.splitlines() if not line.strip().startswith(f"{key}:")]
    if key in ("headers", "body_fields"):  # drop the block the change replaces
        text = yaml.safe_dump({"tools": [{**yaml.safe_load(text)["tools"][0], **yaml.safe_load(change)}]})
    else:
        text = "\n".join([*lines, f"    {change}"])
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(text, "tools.yaml")
