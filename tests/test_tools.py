"""LLM tool definitions: the same from the client and the CLI, in three formats, with
valid unique names, required fields, and nothing secret or internal in them."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from custom_api_client import connect, connect_async
from custom_api_client.tools import TOOL_NAME, tool_name
from custom_api_sidecar.cli import main
from tests._support.sidecar import ThreadedSidecar, start_sidecar

SECRET = "canary-secret-value-91c2"
SECRET_ENV = "B2_TOOLS_CANARY_SECRET_REF"
CANARIES = (SECRET, SECRET_ENV, "canary-host-91c2", "canary-base-path", "X-Canary-Auth-Header")
LONG_API = "a" * 60
LONG_OP = "b" * 60

CONFIG = f"""
apis:
  - name: crm
    description: The company CRM.
    connection: {{allow_http: true, base_url: "http://canary-host-91c2.example:8443/canary-base-path"}}
    authentication:
      type: api_key
      config: {{header_name: X-Canary-Auth-Header, key: "env://{SECRET_ENV}"}}
    endpoints:
      - name: get_contact
        description: Use when the caller asks about an existing contact and has given its id.
        method: GET
        path: /contacts/{{contact_id}}
        parameters:
          - {{name: contact_id, in: path, type: string, description: The contact id}}
          - {{name: fields, in: query, type: array, schema: {{type: array, items: {{type: string}}}}}}
        response_schema: {{type: object, properties: {{id: {{type: string}}}}}}
      - name: create_callback_lead
        description: >-
          Use this tool only after the caller name, company name, callback number, and reason
          for the call have been collected successfully.
        method: POST
        path: /callbacks
        request_body:
          type: object
          required: [id, name, company, reason, phone_number]
          properties:
            id: {{type: string, readOnly: true}}
            name: {{type: string, description: "The caller's name"}}
            company: {{type: string, description: "The caller's company"}}
            reason: {{type: string, description: The reason for the call}}
            phone_number: {{type: string, description: The confirmed callback number}}
            priority: {{type: string, enum: [low, high]}}
        response_schema: {{type: array}}
      - name: bulk_tag
        method: PUT
        path: /tags
        request_body_required: true
        request_body: {{type: array, items: {{type: string}}}}
  - name: {LONG_API}
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:1"}}
    endpoints:
      - {{name: {LONG_OP}, method: GET, path: /x}}
      - {{name: {LONG_OP}c, method: GET, path: /y}}
"""


@pytest.fixture(scope="module")
def config_file() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "apis.yaml"
        path.write_text(CONFIG)
        yield path


@pytest.fixture(scope="module")
def sidecar() -> Iterator[ThreadedSidecar]:
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as tmp:
        patch.setenv(SECRET_ENV, SECRET)
        running = start_sidecar(CONFIG, f"{tmp}/sidecar.sock")
        yield running
        running.stop()


@pytest.fixture(scope="module")
def conv(sidecar: ThreadedSidecar):
    with connect(sidecar.unix_target) as c:
        yield c


def cli_tools(config_file: pathlib.Path, fmt: str, capsys) -> list[dict]:
    assert main(["tools", "--config", str(config_file), "--format", fmt]) == 0
    return json.loads(capsys.readouterr().out)


NAMES = {"openai": lambda t: t["function"]["name"], "anthropic": lambda t: t["name"], "mcp": lambda t: t["name"]}
SCHEMAS = {
    "openai": lambda t: t["function"]["parameters"],
    "anthropic": lambda t: t["input_schema"],
    "mcp": lambda t: t["inputSchema"],
}
DESCRIPTIONS = {
    "openai": lambda t: t["function"]["description"],
    "anthropic": lambda t: t["description"],
    "mcp": lambda t: t["description"],
}


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp"])
def test_client_and_cli_agree(conv, config_file, capsys, fmt):
    from_client = conv.api.tools(format=fmt)
    assert from_client == cli_tools(config_file, fmt, capsys)
    assert conv.api.crm.tools(format=fmt) == from_client[:3]
    assert conv.api.tools(format=fmt, apis=["crm"]) == from_client[:3]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp"])
def test_names_are_valid_unique_and_deterministic(conv, fmt):
    names = [NAMES[fmt](t) for t in conv.api.tools(format=fmt)]
    assert all(TOOL_NAME.match(n) for n in names)
    assert len(set(names)) == len(names) == 5
    assert names[:3] == ["crm__get_contact", "crm__create_callback_lead", "crm__bulk_tag"]
    assert names == [NAMES[fmt](t) for t in conv.api.tools(format=fmt)]
    long_names = names[3:]
    assert all(len(n) == 64 and n.startswith("a" * 55 + "_") for n in long_names)
    assert long_names == [tool_name(LONG_API, LONG_OP), tool_name(LONG_API, LONG_OP + "c")]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp"])
def test_description_and_input_schema(conv, fmt):
    tools = conv.api.tools(format=fmt, apis=["crm"])
    lead = tools[1]
    assert DESCRIPTIONS[fmt](lead).startswith("Use this tool only after the caller name, company name")
    assert DESCRIPTIONS[fmt](lead).endswith("(API crm: The company CRM.)")
    schema = SCHEMAS[fmt](lead)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["name", "company", "reason", "phone_number"]  # readOnly id is not asked for
    assert set(schema["properties"]) == {"name", "company", "reason", "phone_number", "priority"}
    assert schema["properties"]["phone_number"]["description"] == "The confirmed callback number"
    contact = SCHEMAS[fmt](tools[0])
    assert contact["required"] == ["contact_id"]
    assert contact["properties"]["fields"] == {"type": "array", "items": {"type": "string"}}
    bulk = SCHEMAS[fmt](tools[2])  # a non-object body is the json= argument
    assert bulk["required"] == ["json"] and bulk["properties"]["json"]["type"] == "array"
    assert DESCRIPTIONS[fmt](tools[2]).startswith("Calls PUT /tags of the crm API.")


def test_mcp_annotations_and_output_schema(conv):
    get_contact, lead, bulk = conv.api.crm.tools(format="mcp")
    assert get_contact["annotations"] == {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": True}
    assert lead["annotations"]["readOnlyHint"] is False and lead["annotations"]["idempotentHint"] is False
    assert bulk["annotations"]["idempotentHint"] is True
    assert get_contact["outputSchema"] == {"type": "object", "properties": {"id": {"type": "string"}}}
    assert "outputSchema" not in lead  # MCP output schemas describe objects only


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp"])
def test_no_secret_base_url_or_auth_setting_in_tool_definitions(conv, config_file, capsys, fmt):
    for tools in (conv.api.tools(format=fmt), cli_tools(config_file, fmt, capsys), conv.api.crm.schema()):
        text = json.dumps(tools)
        assert not [canary for canary in CANARIES if canary in text]


def test_unknown_format(conv, config_file, capsys):
    with pytest.raises(ValueError, match="unknown tool format 'gemini'; use one of openai, anthropic, mcp"):
        conv.api.tools(format="gemini")
    with pytest.raises(SystemExit):
        main(["tools", "--config", str(config_file), "--format", "gemini"])
    assert "invalid choice: 'gemini'" in capsys.readouterr().err


def test_cli_unknown_api(config_file, capsys):
    assert main(["tools", "--config", str(config_file), "--api", "crn"]) == 2
    assert "no API 'crn' (the configured APIs are: crm, " in capsys.readouterr().err


def test_cli_entry_point_prints_json(config_file):
    done = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "tools", "--config", str(config_file), "--format", "anthropic"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [t["name"] for t in json.loads(done.stdout)][:3] == [
        "crm__get_contact",
        "crm__create_callback_lead",
        "crm__bulk_tag",
    ]


async def test_async_client(sidecar):
    async with connect_async(sidecar.unix_target) as conv:
        tools = await conv.api.tools(format="anthropic")
        assert [t["name"] for t in tools][:3] == ["crm__get_contact", "crm__create_callback_lead", "crm__bulk_tag"]
        assert await conv.api.crm.tools(format="anthropic") == tools[:3]
