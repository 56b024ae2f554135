"""Results shaped for the LLM through the real sidecar: a real upstream serving a big order
document, the Python client's ``Response.for_llm()`` (sync and asyncio) over gRPC, and the MCP SDK's
own ``ClientSession`` over the sidecar's Streamable HTTP listener; both give the same text. Plus the
config: ``result:`` load errors, and imported OpenAPI operations amended with ``result:``."""

from __future__ import annotations

import json
import logging
import pathlib
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from custom_api_client import connect, connect_async
from custom_api_sidecar import ConfigError, parse_config
from custom_api_sidecar.mcp import McpHttpSettings
from tests._support.documents_upstream import DocumentsUpstream, json_document, order_document
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests.test_mcp import http_session, texts

ORDER = order_document()
THREE_FIELDS = "{status: status, eta: shipping.eta, carrier: shipping.carrier}"
HOSTILE = "lines | " + " | ".join(["[@,@,@,@][]"] * 12)  # each step four times longer: 4**12 copies
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture(scope="module")
def shop() -> Iterator[DocumentsUpstream]:
    server = DocumentsUpstream(
        {
            "/orders/A-1001": json_document(ORDER),
            "/orders/A-9": json_document({"error": {"code": "order_not_found", "message": "no order A-9"}}, 404),
            "/logo": (200, "image/png", PNG),
            "/hours": (200, "text/plain; charset=utf-8", ("Mon-Fri 9:00-17:00. " * 50).encode()),
        }
    )
    yield server
    server.close()


def shop_config(url: str, spec: pathlib.Path | None = None) -> str:
    connection = f'{{allow_http: true, private_network: true, base_url: "{url}"}}'
    order = "{name: order_id, in: path, type: string, required: true}"
    text = f"""
apis:
  - name: shop
    connection: {connection}
    endpoints:
      - name: order_status
        method: GET
        path: /orders/{{order_id}}
        parameters: [{order}]
        result: {{select: "{THREE_FIELDS}", max_chars: 4000}}
      - name: order_lines
        method: GET
        path: /orders/{{order_id}}
        parameters: [{order}]
        result: {{select: "lines[*].sku", max_chars: 200}}
      - name: order_capped
        method: GET
        path: /orders/{{order_id}}
        parameters: [{order}]
        result: {{max_chars: 300}}
      - name: order
        method: GET
        path: /orders/{{order_id}}
        parameters: [{order}]
      - {{name: logo, method: GET, path: /logo, result: {{select: "a"}}}}
      - {{name: hours, method: GET, path: /hours, result: {{select: "a", max_chars: 40}}}}
      - name: order_hostile
        method: GET
        path: /orders/{{order_id}}
        parameters: [{order}]
        result: {{select: "{HOSTILE}", max_chars: 100}}
      - name: later
        method: GET
        path: /orders/{{order_id}}
        parameters: [{order}]
        background: true
        result: {{select: "status"}}
"""
    if spec is not None:
        text += f"""
  - name: shop_spec
    connection: {connection}
    openapi: {{spec: "{spec}"}}
    endpoints:
      - {{name: get_order, result: {{select: "shipping.eta"}}}}
"""
    return text


SPEC = """
openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /orders/{order_id}:
    get:
      operationId: getOrder
      parameters: [{name: order_id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: the order, content: {application/json: {schema: {type: object}}}}}
  /logo:
    get:
      operationId: getLogo
      responses: {"200": {description: the logo}}
"""


@pytest.fixture(scope="module")
def workdir() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield pathlib.Path(tmp)


@pytest.fixture(scope="module")
def sidecar(shop: DocumentsUpstream, workdir: pathlib.Path) -> Iterator[ThreadedSidecar]:
    from custom_api_sidecar.jobs import SqliteJobStore

    spec = workdir / "shop.yaml"
    spec.write_text(SPEC)
    running = start_sidecar(
        shop_config(shop.url, spec),
        str(workdir / "s.sock"),
        mcp=McpHttpSettings("127.0.0.1", 0),
        job_store=SqliteJobStore(str(workdir / "jobs.sqlite3")),
    )
    yield running
    running.stop(grace=1)


async def mcp_call(sidecar: ThreadedSidecar, tool: str, arguments: dict[str, Any]) -> Any:
    assert sidecar.mcp_url is not None
    async with http_session(sidecar.mcp_url) as session:
        return await session.call_tool(tool, arguments)


# --- the Python client ------------------------------------------------------------------------


def test_for_llm_gives_the_three_fields_and_the_body_stays_whole(sidecar):
    with connect(sidecar.unix_target) as conv:
        r = conv.api.shop.order_status("A-1001")
    assert r.for_llm() == 'HTTP 200 OK\n{"status": "shipped", "eta": "2025-06-03", "carrier": "DHL"}'
    assert r.json() == ORDER  # the agent's code still reads the whole document


async def test_the_async_client_gives_the_same_text(sidecar):
    async with connect_async(sidecar.unix_target) as conv:
        r = await conv.api.shop.order_status(order_id="A-1001")
    assert r.for_llm() == 'HTTP 200 OK\n{"status": "shipped", "eta": "2025-06-03", "carrier": "DHL"}'


def test_a_long_selection_ends_with_the_truncation_marker(sidecar):
    with connect(sidecar.unix_target) as conv:
        text = conv.api.shop.order_lines("A-1001").for_llm()
    whole = json.dumps([line["sku"] for line in ORDER["lines"]])
    assert text == f"HTTP 200 OK\n{whole[:200]}…[truncated {len(whole) - 200:,} characters]"


def test_max_chars_alone_cuts_the_body_text(sidecar):
    with connect(sidecar.unix_target) as conv:
        r = conv.api.shop.order_capped("A-1001")
    body = r.text
    assert r.for_llm() == f"HTTP 200 OK\n{body[:300]}…[truncated {len(body) - 300:,} characters]"


def test_a_multiplying_select_stops_at_its_budget_and_the_call_still_answers(sidecar, caplog):
    with connect(sidecar.unix_target) as conv, caplog.at_level(logging.WARNING, "custom_api_sidecar.shaping"):
        start = time.monotonic()
        r = conv.api.shop.order_hostile("A-1001")
        elapsed = time.monotonic() - start
    assert r.status_code == 200 and r.json() == ORDER
    note, shown = r.for_llm().split("\n")[1:]
    assert note == ("[result.select was not applied: it needed more than 1,000,000 steps; the body follows, unshaped]")
    assert shown == f"{r.text[:100]}…[truncated {len(r.text) - 100:,} characters]"
    assert elapsed < 10  # about a quarter of a second of CPU; generous for a shared machine
    assert "shop.order_hostile: result.select was not applied" in caplog.text


def test_an_error_answer_keeps_its_message_for_the_model(sidecar):
    with connect(sidecar.unix_target) as conv:
        r = conv.api.shop.order_status("A-9")
    assert r.status_code == 404
    assert r.for_llm() == 'HTTP 404 Not Found\n{"error": {"code": "order_not_found", "message": "no order A-9"}}'


def test_without_result_for_llm_is_the_whole_body_and_binary_is_a_note(sidecar):
    with connect(sidecar.unix_target) as conv:
        whole = conv.api.shop.order("A-1001")
        logo = conv.api.shop.logo()
        hours = conv.api.shop.hours()
    assert whole.for_llm() == f"HTTP 200 OK\n{whole.text}"  # nothing shaped, nothing cut
    assert logo.for_llm() == f"HTTP 200 OK\n[binary body: image/png, {len(PNG)} bytes]"
    assert hours.for_llm() == "HTTP 200 OK\n" + "Mon-Fri 9:00-17:00. " * 2 + "…[truncated 960 characters]"


def test_a_background_jobs_response_is_shaped_too(sidecar):
    with connect(sidecar.unix_target) as conv:
        queued = conv.api.shop.later("A-1001")
        assert queued.status_code == 202 and queued.job_id
        deadline = time.monotonic() + 30
        while (job := conv.api.jobs.get(queued.job_id)).response is None:
            assert time.monotonic() < deadline, job.state
            time.sleep(0.05)
    assert job.response.for_llm() == 'HTTP 200 OK\n"shipped"'


def test_an_imported_operation_amended_with_result(sidecar):
    with connect(sidecar.unix_target) as conv:
        r = conv.api.shop_spec.get_order("A-1001")
        unamended = conv.api.shop_spec.get_logo()
    assert r.for_llm() == 'HTTP 200 OK\n"2025-06-03"'
    assert unamended.for_llm().startswith("HTTP 200 OK\n[binary body: image/png")


# --- MCP: the SDK client, the same text ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "structured"),
    [
        ("shop__order_status", {"order_id": "A-1001"}, {"status": "shipped", "eta": "2025-06-03", "carrier": "DHL"}),
        ("shop__order_lines", {"order_id": "A-1001"}, None),  # a list, and truncated: text only
        ("shop__order_capped", {"order_id": "A-1001"}, None),  # the document, cut: never a partial object
        ("shop__order_status", {"order_id": "A-9"}, {"error": {"code": "order_not_found", "message": "no order A-9"}}),
        ("shop__hours", {}, None),
        ("shop__order", {"order_id": "A-1001"}, ORDER),  # no result: today's behaviour, the whole body
        ("shop_spec__get_order", {"order_id": "A-1001"}, None),  # a JSON string
    ],
)
async def test_mcp_shows_the_text_for_llm_gives(sidecar, tool, arguments, structured):
    result = await mcp_call(sidecar, tool, arguments)
    api, operation = tool.split("__")
    async with connect_async(sidecar.unix_target) as conv:
        response = await getattr(getattr(conv.api, api), operation)(**arguments)
    assert "\n".join(texts(result)) == response.for_llm()  # one definition of the text
    assert result.structured_content == structured
    assert result.is_error == (response.status_code >= 400)


async def test_mcp_without_result_still_sends_a_binary_body_as_an_image(sidecar):
    # `logo` has result:, but a binary body is not shaped: MCP sends the image, as without it
    result = await mcp_call(sidecar, "shop__logo", {})
    image = result.content[1]
    assert image.type == "image" and image.mime_type == "image/png"


# --- config ---------------------------------------------------------------------------------


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "apis.yaml")
    return [str(p) for p in info.value.problems]


def one_endpoint(result: str) -> str:
    return f"""
apis:
  - name: shop
    connection: {{base_url: "https://shop.example.com"}}
    endpoints:
      - {{name: get_order, method: GET, path: /orders, result: {result}}}
"""


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ('{select: "lines[?"}', "endpoints[0].result.select: 'lines[?' is not a JMESPath expression"),
        ('{select: "nope(@)"}', "endpoints[0].result.select: 'nope(@)' calls an unknown function 'nope'()"),
        ("{select: 3}", "endpoints[0].result.select: must be a JMESPath expression (a string), not 3"),
        (f'{{select: "{"a." * 600}a"}}', "endpoints[0].result.select: 'a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.'... (1201"),
        ("{max_chars: 0}", "endpoints[0].result.max_chars: must be an integer from 1 to 100,000, not 0"),
        ("{max_chars: 1000000}", "endpoints[0].result.max_chars: must be an integer from 1 to 100,000"),
        ("{max_chars: true}", "endpoints[0].result.max_chars: must be an integer from 1 to 100,000, not True"),
        ("{selct: a}", "endpoints[0].result.selct: unknown field; allowed: max_chars, select"),
        ("[a]", "endpoints[0].result: must be a mapping with select and/or max_chars, not list"),
    ],
)
def test_a_bad_result_setting_is_a_load_error_naming_the_field(result, message):
    found = problems(one_endpoint(result))
    assert any(message in problem for problem in found), found
    assert all(len(problem) < 500 for problem in found)  # a long expression is never quoted whole


def test_amending_entries_under_openapi_are_checked(workdir):
    spec = workdir / "amend.yaml"
    spec.write_text(SPEC)
    found = problems(
        f"""
apis:
  - name: shop
    connection: {{base_url: "https://shop.example.com"}}
    openapi: {{spec: "{spec}"}}
    endpoints:
      - {{name: get_ordr, result: {{select: status}}}}
      - {{name: get_order, timeout_ms: 5, result: {{select: "status["}}}}
"""
    )
    assert any("endpoints[0].name: 'get_ordr' is not an imported operation" in p for p in found), found
    assert any("endpoints[1].timeout_ms: unknown field: an entry without method and path amends" in p for p in found)
    assert any("endpoints[1].result.select: 'status[' is not a JMESPath expression" in p for p in found)


def test_a_good_result_setting_loads_with_its_defaults():
    config = parse_config(one_endpoint('{select: "status"}'))
    result = config.apis[0].endpoints[0].result
    assert result is not None and (result.select, result.max_chars) == ("status", 4000)


async def test_discovery_shows_result_and_its_mcp_tool_declares_no_output_schema(sidecar):
    with connect(sidecar.unix_target) as conv:
        described = {op["name"]: op for op in conv.api.shop.schema()["operations"]}
    assert described["order_status"]["result"] == {"select": THREE_FIELDS, "max_chars": 4000}
    assert described["order_capped"]["result"] == {"select": None, "max_chars": 300}
    assert "result" not in described["order"]
    assert sidecar.mcp_url is not None
    async with http_session(sidecar.mcp_url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    # the spec's response schema describes the body; the shaped result is something else
    assert tools["shop_spec__get_order"].output_schema is None
