"""The MCP server: the SDK's low-level ``Server`` answering ``tools/list`` and ``tools/call``.

The low-level server, not ``MCPServer``: the tools' exact JSON input schemas already exist
(``custom_api_client.tools``), and the sidecar binds and validates arguments itself, so the SDK
neither infers schemas nor validates input (an invalid argument gets the sidecar's own
INVALID_ARGUMENT message, as over gRPC). There are no resources or prompts.

A call becomes an InvokeRequest and goes through ``invoke``, the gRPC servicer's own entry:
the same pipeline, spans, metrics and audit record. Trace context comes from ``_meta``
(``traceparent``, ``tracestate``) or, over HTTP, from the request headers, which may also carry
``x-conversation-id`` and ``x-agent-id`` (checked by the pipeline as gRPC metadata is).

Trusted context values (for arguments configured ``from_context:``) are the operator's: fixed for
every session by ``--context`` / ``--context-env`` (``mcp/_context.py``), never read from a client.

``get_background_job`` reads through ``get_job`` with the same metadata, so it finds a job queued in
the conversation named by the request's ``x-conversation-id`` header, or one queued without a
conversation id. Over stdio no request carries one: a stdio session reads only jobs queued without
a conversation id, which are all the jobs a stdio client can queue.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError

from custom_api_client.proto import sidecar_pb2 as pb

from ..app import Sidecar
from ..errors import SidecarError
from ..invoke import get_job, invoke
from ..pipeline import Call
from ..search._serve import search
from ._changes import ToolListChanges
from ._context import context_pairs
from ._filter import ToolFilter
from ._jobs import job_tool_result
from ._results import error_result, tool_result
from ._search import DEFAULT_MAX_LISTED, ToolUsage, search_tool_result
from ._tools import ToolIndex, UnknownTool

__all__ = ["SERVER_NAME", "build_server"]

log = logging.getLogger("custom_api_sidecar.mcp")
SERVER_NAME = "custom-api-sidecar"
_META_KEYS = ("traceparent", "tracestate")
_HEADER_KEYS = ("x-conversation-id", "x-agent-id", "traceparent", "tracestate")
INSTRUCTIONS = (
    "Each tool calls one operation of an HTTP API through custom-api-sidecar, which adds the "
    "credentials and enforces the API's limits. A result starts with the HTTP status line, then the "
    "response body, or the part of it the operation is configured to return (text cut short ends with "
    "'…[truncated N characters]'); an error result starts with an error code."
)


def build_server(
    sidecar: Sidecar,
    tool_filter: ToolFilter,
    context: Mapping[str, str] | None = None,
    max_listed: int = DEFAULT_MAX_LISTED,
) -> Server[Any]:
    """``context``: the trusted context every tool call carries (``--context``, fixed by the operator).
    ``max_listed``: past this many exposed operations, tools/list gives search_operations and
    this many most-used tools (``_search``); every tool stays callable by name."""
    tools = ToolIndex(sidecar, tool_filter)
    fixed = context_pairs(context or {})
    usage = ToolUsage()

    changes = ToolListChanges(lambda: tools.current().definitions)
    sidecar.reload_listeners.append(changes.config_changed)

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams) -> dict[str, Any]:
        changes.listed(ctx.session)
        # the definitions as they are: no model round trip
        return {"tools": tools.current().listing(max_listed, usage)}

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> dict[str, Any]:
        exposed = tools.current()
        try:
            if exposed.is_search(params.name):
                return search_tool_result(
                    params.arguments or {},
                    lambda query, limit: search(sidecar.generation, query, limit, exposed.allows),
                )
            if exposed.is_job_reader(params.name):
                # the conversation id header: jobs of other conversations are not found
                metadata = _metadata(ctx, fixed)
                return await job_tool_result(
                    lambda job_id: get_job(sidecar, job_id, metadata), params.arguments or {}, exposed.tool_for
                )
            request = exposed.invoke_request(params.name, params.arguments or {})
            usage.called(params.name)  # an exposed operation's tool (invoke_request found it)
            response = await invoke(sidecar, Call(request=request, metadata=_metadata(ctx, fixed)))
        except UnknownTool as exc:  # a protocol error, as the MCP spec has it: no such tool here
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        except SidecarError as err:
            return error_result(err)
        except Exception:
            log.exception("internal error in tools/call %s", params.name)
            return error_result(
                SidecarError(pb.ErrorCode.INTERNAL, "internal sidecar error (details are in the sidecar log)")
            )
        return tool_result(response, params.name)

    server: Server[Any] = _Server(SERVER_NAME, version=_version(), instructions=INSTRUCTIONS)
    # Registered as generic handlers, which may answer with the wire dicts as they are.
    server.add_request_handler("tools/list", types.PaginatedRequestParams, list_tools)
    server.add_request_handler("tools/call", types.CallToolRequestParams, call_tool)
    # The SDK's OpenTelemetry middleware records to the global tracer provider, which the sidecar
    # does not set (it has its own); the pipeline's Invoke span continues the caller's trace instead.
    server.middleware = []
    return server


class _Server(Server[Any]):
    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> InitializationOptions:
        # tools.listChanged: true in the initialize answer (the transports call this without options)
        options = notification_options or NotificationOptions(tools_changed=True)
        return super().create_initialization_options(options, *args, **kwargs)


def _metadata(ctx: Any, fixed: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The call's metadata: conversation and trace headers, and the server's fixed context entries
    (never a client's: no x-context-* header or _meta field is read)."""
    found: dict[str, str] = dict(fixed)
    headers = getattr(ctx.request, "headers", None)  # a Starlette request over HTTP; None over stdio
    if headers is not None:
        for key in _HEADER_KEYS:
            value = headers.get(key)
            if value is not None:
                found[key] = value
    meta = ctx.meta or {}
    for key in _META_KEYS:
        value = meta.get(key)
        if isinstance(value, str):
            found[key] = value
    return tuple(found.items())


def _version() -> str:
    try:
        return importlib.metadata.version("custom-api-sidecar")
    except importlib.metadata.PackageNotFoundError:
        return "0"
