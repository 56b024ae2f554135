"""Operation search through the real sidecar: ``conv.api.search``/``call`` over gRPC (sync and
asyncio), the ``search`` CLI, the MCP ``search_operations`` tool and the large-catalogue
``tools/list`` over the MCP SDK's own client, reload, and hostile queries.

The catalogue is the real Slack Web API and HubSpot CRM contacts specs (tests/specs/public,
imported at load), plus a hand-written API of 60 operations, so the MCP catalogue (247 tools) is
past the default of 50 listed tools. Every API points at the real test upstream's /echo route."""

from __future__ import annotations

import asyncio
import json
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from custom_api_client import connect, connect_async, errors
from custom_api_sidecar import parse_config
from custom_api_sidecar.cli import main
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.describe import tool_definitions
from custom_api_sidecar.mcp import McpHttpSettings
from custom_api_sidecar.search import MAX_LIMIT, MAX_QUERY_CHARS, MAX_QUERY_TERMS
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream
from tests.test_mcp import http_session

PUBLIC = pathlib.Path(__file__).parent / "specs" / "public"
BULK = 60  # operations of the hand-written API: with Slack's 174 and HubSpot's 13, past 50


def catalogue(upstream: Upstream, extra: str = "") -> str:
    connection = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"
    bulk = "\n".join(
        f"      - {{name: report_{i:02d}, method: GET, path: /reports/{i}, description: Quarterly report number {i}}}"
        for i in range(BULK)
    )
    return f"""
apis:
  - name: slack
    connection: {{{connection}, base_url: "{upstream.url}/echo/slack"}}
    openapi: {{spec: "{PUBLIC / "slack-web-swagger-2.0.json"}"}}
  - name: hubspot
    connection: {{{connection}, base_url: "{upstream.url}/echo/hubspot"}}
    openapi: {{spec: "{PUBLIC / "hubspot-crm-contacts-3.0.json"}"}}
  - name: reports
    description: Finance reports
    connection: {{{connection}, base_url: "{upstream.url}/echo/reports"}}
    endpoints:
{bulk}
{extra}"""


@pytest.fixture(scope="module")
def running(upstream: Upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(catalogue(upstream), f"{tmp}/search.sock", mcp=McpHttpSettings("127.0.0.1", 0))
        yield sidecar
        sidecar.stop()


@pytest.fixture
def conv(running: ThreadedSidecar) -> Iterator[Any]:
    with connect(running.unix_target) as c:
        yield c


def names(results: list[Any]) -> list[str]:
    return [f"{r.api}.{r.operation}" for r in results]


# --- conv.api.search ----------------------------------------------------------------------------


def test_search_ranks_the_real_slack_spec(conv: Any) -> None:
    results = conv.api.search("post a message to the #support channel")
    assert names(results)[0] == "slack.chat_post_message"
    assert 1 <= len(results) <= 5
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    best = results[0]
    assert best.description == "Sends a message to a channel."
    # the tool is the tool export's own definition of that operation, name and schema included
    (exported,) = [t for t in conv.api.tools("mcp", apis=["slack"]) if t["name"] == "slack__chat_post_message"]
    assert best.tool == exported
    assert best.tool_definition("openai")["function"]["parameters"] == exported["inputSchema"]
    assert best.tool_definition("anthropic")["input_schema"]["properties"]["channel"]["type"] == "string"
    # across APIs: a CRM request finds HubSpot's contact search first
    crm = conv.api.search("search for contacts by email in the CRM", limit=3)
    assert names(crm)[0] == "hubspot.post_crm_v3_objects_contacts_search_do_search"


def test_search_limit_and_no_match(conv: Any) -> None:
    assert len(conv.api.search("report", limit=MAX_LIMIT)) == MAX_LIMIT  # 60 reports share the word
    assert conv.api.search("zzyzx qwertyuiop") == []  # no operation shares a word: no results, no error


def test_async_search_and_call(running: ThreadedSidecar) -> None:
    async def go() -> tuple[list[str], Any]:
        async with connect_async(running.unix_target) as conv:
            results = await conv.api.search("upload a file to slack", limit=2)
            response = await conv.api.call("quarterly report number 7")
            return names(results), response

    found, response = asyncio.run(go())
    assert found[0] == "slack.files_upload"
    assert response.status_code == 200 and response.json()["path"] == "/echo/reports/reports/7"


# --- conv.api.call ------------------------------------------------------------------------------


def test_clear_call_reaches_the_upstream_through_the_pipeline(conv: Any, upstream: Upstream) -> None:
    response = conv.api.call("look up a slack user by email address", email="jane@example.com", token="t")
    assert response.status_code == 200
    sent = response.json()
    assert sent["path"] == "/echo/slack/users.lookupByEmail"
    assert "email=jane%40example.com" in sent["query"]


def test_ambiguous_call_is_refused_with_its_candidates(conv: Any, upstream: Upstream) -> None:
    before = len(upstream.requests)
    with pytest.raises(errors.AmbiguousOperation) as caught:
        conv.api.call("archive contacts", json={"inputs": []})
    err = caught.value
    assert err.code == "AMBIGUOUS_OPERATION"
    assert set(err.candidates) >= {
        "hubspot.post_crm_v3_objects_contacts_batch_archive_archive",
        "hubspot.delete_crm_v3_objects_contacts_contact_id_archive",
    }
    assert err.candidates[0] in err.message
    assert len(upstream.requests) == before  # nothing was called


def test_call_with_nothing_matching_is_unknown_operation(conv: Any) -> None:
    with pytest.raises(errors.UnknownOperation, match="no operation matches"):
        conv.api.call("zzyzx qwertyuiop")


def test_call_arguments_are_validated_as_for_invoke(conv: Any) -> None:
    with pytest.raises(errors.InvalidArgument):
        conv.api.call("look up a slack user by email address", no_such_argument=1)


# --- hostile queries ------------------------------------------------------------------------------


def test_hostile_queries_are_bounded_with_clear_errors(conv: Any) -> None:
    huge = "find " + "a" * (1024 * 1024)
    with pytest.raises(errors.InvalidArgument) as caught:
        conv.api.search(huge)
    assert f"at most {MAX_QUERY_CHARS}" in caught.value.message
    assert "aaaa" not in caught.value.message and len(caught.value.message) < 300  # never echoed
    with pytest.raises(errors.InvalidArgument) as caught:
        conv.api.call(huge)
    assert caught.value.field == "query"
    many = " ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(MAX_QUERY_TERMS + 1))
    assert len(many) < MAX_QUERY_CHARS
    with pytest.raises(errors.InvalidArgument, match=f"at most {MAX_QUERY_TERMS}"):
        conv.api.search(many)
    with pytest.raises(errors.InvalidArgument, match="between 1 and 50"):
        conv.api.search("post a message", limit=MAX_LIMIT + 1)
    with pytest.raises(errors.InvalidArgument, match="between 1 and 50"):
        conv.api.search("post a message", limit=-1)
    with pytest.raises(errors.InvalidArgument, match="empty"):
        conv.api.search("   ")


# --- reserved names, reload, CLI ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["search", "call"])
def test_search_and_call_are_reserved_api_names(name: str) -> None:
    text = f"apis: [{{name: {name}, connection: {{base_url: 'https://x.example'}}, endpoints: []}}]"
    with pytest.raises(ConfigError, match=f"'{name}' is reserved"):
        parse_config(text, "apis.yaml")
    # an operation may have the name: conv.api.crm.search is the crm API's own
    ok = (
        "apis: [{name: crm, connection: {base_url: 'https://x.example'}, "
        "endpoints: [{name: search, method: GET, path: /s}]}]"
    )
    assert parse_config(ok, "apis.yaml").apis[0].endpoints[0].name == "search"


def test_reload_rebuilds_the_index(upstream: Upstream, tmp_path: pathlib.Path) -> None:
    first = f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    endpoints:
      - {{name: get_customer, method: GET, path: "/customers/{{customer_id}}", description: Fetch one customer}}
"""
    second = (
        first + "      - {name: refund_invoice, method: POST, path: /refunds, description: Refund a paid invoice,\n"
        "         tags: [billing]}\n"
    )
    running = start_sidecar(first, str(tmp_path / "reload.sock"))
    try:
        with connect(running.unix_target) as conv:
            assert conv.api.search("refund the invoice") == []
            running.run(running.sidecar.reload(parse_config(second, "apis.yaml")))
            found = conv.api.search("refund the invoice")
            assert names(found) == ["crm.refund_invoice"]
            assert names(conv.api.search("billing")) == ["crm.refund_invoice"]  # tags are searched
            assert conv.api.call("refund the paid invoice").json()["path"] == "/echo/crm/refunds"
    finally:
        running.stop()


def test_cli_search(upstream: Upstream, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "apis.yaml"
    config.write_text(catalogue(upstream))
    assert main(["search", "--config", str(config), "create a reminder for 3pm", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "slack.reminders_add" in lines[0] and "(tool slack__reminders_add)" in lines[0]
    assert main(["search", "--config", str(config), "--format", "json", "--limit", "1", "upload a file"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert found["api"] == "slack" and found["operation"] == "files_upload"
    assert found["tool"]["name"] == "slack__files_upload" and "inputSchema" in found["tool"]
    assert main(["search", "--config", str(config), "x" * 5000]) == 2
    assert f"at most {MAX_QUERY_CHARS}" in capsys.readouterr().err


# --- MCP ----------------------------------------------------------------------------------------


def test_mcp_search_tool_and_large_catalogue_listing(running: ThreadedSidecar) -> None:
    async def go() -> dict[str, Any]:
        assert running.mcp_url is not None
        out: dict[str, Any] = {}
        async with http_session(running.mcp_url) as session:
            listed = (await session.list_tools()).tools
            out["listed"] = [t.name for t in listed]
            out["search_schema"] = next(t for t in listed if t.name == "search_operations").input_schema
            found = await session.call_tool("search_operations", {"query": "quarterly report number 59", "limit": 3})
            out["found"] = found.structured_content
            out["found_error"] = found.is_error
            # not listed (past the first 50 in catalogue order, never called), callable by name
            called = await session.call_tool("reports__report_59", {})
            out["called"] = (called.is_error, called.structured_content)
            out["relisted"] = [t.name for t in (await session.list_tools()).tools]
            bad = await session.call_tool("search_operations", {"query": "x" * (MAX_QUERY_CHARS + 1)})
            out["bad"] = (bad.is_error, bad.structured_content)
        return out

    out = asyncio.run(go())
    listed = out["listed"]
    # 247 exposed operations: search_operations plus the 50 most used (none yet: catalogue order)
    assert listed[0] == "search_operations" and len(listed) == 1 + 50
    assert listed[1:] == _first_50(running)
    assert out["search_schema"]["required"] == ["query"]
    assert out["found_error"] is not True
    best = out["found"]["matches"][0]
    assert best["tool"] == "reports__report_59" and best["api"] == "reports" and best["operation"] == "report_59"
    assert best["inputSchema"]["type"] == "object"
    assert "reports__report_59" not in listed
    is_error, body = out["called"]
    assert not is_error and body["path"] == "/echo/reports/reports/59"
    # once called, it is the most used: listed first after search_operations
    assert out["relisted"][:2] == ["search_operations", "reports__report_59"] and len(out["relisted"]) == 51
    is_error, body = out["bad"]
    assert is_error and body["error"]["code"] == "INVALID_ARGUMENT" and body["error"]["field"] == "query"


def _first_50(running: ThreadedSidecar) -> list[str]:
    return [tool["name"] for tool in tool_definitions(running.sidecar.registry, "mcp")[:50]]
