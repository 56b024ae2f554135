"""Trusted context over MCP: the operator fixes it for the server's sessions (``mcp --context``,
``--context-env``; ``serve --mcp-context``), tools leave bound arguments out, a call binds the fixed
values, and a server without the key refuses the call with a tool error naming it. A client cannot
supply or change context (no header is read for it). Driven by the MCP SDK's own ClientSession, over
stdio (a real ``custom-api-sidecar mcp`` process) and Streamable HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from custom_api_sidecar.cli import main
from custom_api_sidecar.mcp import McpHttpSettings
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream
from tests.test_context_binding import ACCOUNT, CALLER, config

BIN = pathlib.Path(sys.executable).with_name("custom-api-sidecar")
# the SDK hands a child only a few safe variables: the suite's operator policy and import path too
CHILD_ENV = {k: v for k, v in os.environ.items() if k.startswith("CUSTOM_API_SIDECAR_POLICY_") or k == "PYTHONPATH"}


@pytest.fixture(scope="module")
def config_file(upstream: Upstream) -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "apis.yaml"
        path.write_text(config(upstream))
        yield path


@contextlib.asynccontextmanager
async def stdio_session(config_file: pathlib.Path, *args: str, env: dict[str, str] | None = None) -> AsyncIterator[Any]:
    server = StdioServerParameters(
        command=str(BIN), args=["mcp", "--config", str(config_file), *args], env={**CHILD_ENV, **(env or {})}
    )
    with open(os.devnull, "w") as log:
        async with stdio_client(server, errlog=log) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[Any]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def header(result: Any, name: str) -> str:
    return {k.lower(): v for k, v in result.structured_content["headers"]}[name]


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content if block.type == "text"]


async def test_a_stdio_server_binds_the_context_its_operator_fixed(config_file, upstream):
    flags = ("--context", f"caller_number={CALLER}", "--context-env", "account_id=PLATFORM_ACCOUNT")
    async with stdio_session(config_file, *flags, env={"PLATFORM_ACCOUNT": ACCOUNT}) as session:
        tools = {tool.name: tool.input_schema for tool in (await session.list_tools()).tools}
        whoami = await session.call_tool("crm__whoami", {})
        order = await session.call_tool("crm__get_order", {"order_id": "o-1"})
        ticket = await session.call_tool("crm__create_ticket", {"subject": "refund"})
        forged = await session.call_tool("crm__lookup_caller", {"phone": "+449999999999"})
    assert set(tools["crm__lookup_caller"]["properties"]) == {"fields"}
    assert set(tools["crm__create_ticket"]["properties"]) == {"subject"}
    assert set(tools["crm__get_order"]["properties"]) == {"order_id"}
    assert not whoami.is_error and header(whoami, "x-caller-number") == CALLER
    assert order.structured_content["path"] == f"/echo/crm/accounts/{ACCOUNT}/orders/o-1"
    assert json.loads(ticket.structured_content["body"]) == {"subject": "refund", "caller": CALLER}
    assert forged.is_error and texts(forged)[0].startswith("INVALID_ARGUMENT: crm.lookup_caller: argument 'phone'")
    assert "bound to the conversation context" in texts(forged)[0]


async def test_a_server_without_the_key_refuses_the_call_naming_it(config_file, upstream):
    before = len(upstream.requests)
    async with stdio_session(config_file, "--context", "account_id=acc-1") as session:
        refused = await session.call_tool("crm__whoami", {})
        allowed = await session.call_tool("crm__get_order", {"order_id": "o-1"})
    assert refused.is_error and "context has no 'caller_number'" in texts(refused)[0]
    assert not allowed.is_error and len(upstream.requests) == before + 1


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--context", "Caller=+44"], "context key 'Caller' must be"),
        (["--context", "caller_number"], "give KEY=VALUE"),
        (["--context", "caller_number=" + "1" * 300], "300 characters"),
        (["--context-env", "caller_number=UNSET_VARIABLE_FOR_SURE"], "'UNSET_VARIABLE_FOR_SURE' is not set"),
    ],
)
def test_a_bad_context_flag_stops_the_server_at_startup(config_file, capsys, flags, named):
    assert main(["mcp", "--config", str(config_file), *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and "1" * 100 not in err


@pytest.fixture(scope="module")
def http_sidecars(upstream: Upstream) -> Iterator[tuple[ThreadedSidecar, ThreadedSidecar]]:
    with tempfile.TemporaryDirectory() as tmp:
        fixed = start_sidecar(
            config(upstream), f"{tmp}/a.sock", mcp=McpHttpSettings("127.0.0.1", 0, context={"caller_number": CALLER})
        )
        bare = start_sidecar(config(upstream), f"{tmp}/b.sock", mcp=McpHttpSettings("127.0.0.1", 0))
        yield fixed, bare
        fixed.stop()
        bare.stop()


async def test_an_http_listener_binds_its_fixed_context_and_reads_none_from_clients(http_sidecars):
    fixed, bare = http_sidecars
    forged = {"x-context-caller_number": "+449999999999"}  # a client's header: never read
    assert fixed.mcp_url is not None and bare.mcp_url is not None
    async with http_session(fixed.mcp_url, headers=forged) as session:
        whoami = await session.call_tool("crm__whoami", {})
    async with http_session(bare.mcp_url, headers=forged) as session:
        refused = await session.call_tool("crm__whoami", {})
    assert header(whoami, "x-caller-number") == CALLER
    assert refused.is_error and "context has no 'caller_number'" in texts(refused)[0]


def test_serve_reads_mcp_context_flags(config_file):
    """``serve --mcp-context`` and ``--mcp-context-env`` make the listener's settings."""
    import argparse

    from custom_api_sidecar.mcp._context import add_context_flags, context_from_flags

    parser = argparse.ArgumentParser()
    add_context_flags(parser, prefix="mcp-")
    args = parser.parse_args(["--mcp-context", "caller_number=+44", "--mcp-context-env", "account_id=ACCT"])
    assert context_from_flags(args, prefix="mcp-", environ={"ACCT": "acc-9"}) == {
        "caller_number": "+44",
        "account_id": "acc-9",
    }
