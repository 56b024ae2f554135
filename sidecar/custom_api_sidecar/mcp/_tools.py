"""The tools an MCP server exposes, and the InvokeRequest a tool call becomes.

Definitions come from ``custom_api_client.tools`` (format ``mcp``) over the DescribeApi answers
of the current config: the same names, descriptions and input schemas as ``conv.api.tools()`` and
``custom-api-sidecar tools --format mcp``, never a base URL, an auth setting or a secret. Tool
names are computed over every configured API, so a filter never renames a tool.

Arguments are encoded exactly as the Python client encodes keyword arguments
(``custom_api_client._request``): a declared parameter or body property is a keyword ``Value``;
``json``, ``params``, ``data``, ``headers``, ``timeout`` and ``background`` keep their requests
meaning. The sidecar then binds and validates them, as for any gRPC call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from custom_api_client._request import build_invoke_request
from custom_api_client.errors import CustomApiError
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.tools import named_operations, tool_definitions

from .._text import shown
from ..describe import api_dicts
from ..errors import SidecarError, did_you_mean
from ._filter import ToolFilter
from ._jobs import JOB_TOOL, JOB_TOOL_DEFINITION
from ._search import SEARCH_TOOL, SEARCH_TOOL_DEFINITION, ToolUsage

if TYPE_CHECKING:
    from ..app import Sidecar
    from ..generation import Generation

__all__ = ["ExposedTools", "ToolIndex", "UnknownTool", "describe_exposed"]


class UnknownTool(LookupError):
    """No exposed tool has this name; the message suggests close names among the exposed ones."""


class ExposedTools:
    """One config generation's tools, through a filter."""

    def __init__(self, generation: Generation, tool_filter: ToolFilter, *, with_jobs: bool = False) -> None:
        apis = api_dicts(generation.registry)  # the config's own schema objects, not parsed copies
        named = named_operations(apis)
        self.operations = [(api["name"], op["name"], name) for name, api, op in named]  # every one, exposed or not
        self.definitions: list[dict[str, Any]] = []
        self._targets: dict[str, tuple[str, str]] = {}
        for (name, api, op), definition in zip(named, tool_definitions(apis, "mcp"), strict=True):
            if tool_filter.allows(api["name"], op["name"], name):
                self.definitions.append(definition)
                self._targets[name] = (api["name"], op["name"])
        self._names = {target: name for name, target in self._targets.items()}
        # with a job store, the background-job reader too (unless an operation's tool has its name)
        self.reads_jobs = with_jobs and bool(self._targets) and JOB_TOOL not in self._targets
        if self.reads_jobs:
            self.definitions.append(JOB_TOOL_DEFINITION)
        # search_operations (unless an operation's tool has its name): listed only past max_listed
        self.searches = bool(self._targets) and SEARCH_TOOL not in self._targets

    def is_search(self, tool: str) -> bool:
        return self.searches and tool == SEARCH_TOOL

    def allows(self, api: str, operation: str) -> bool:
        """Whether the operation's tool is exposed (what search_operations may answer with)."""
        return (api, operation) in self._names

    def listing(self, max_listed: int, usage: ToolUsage) -> list[dict[str, Any]]:
        """What tools/list gives: every tool, or past ``max_listed`` operations, search_operations
        plus the ``max_listed`` most used (see ``_search``) and the job reader."""
        operations = len(self._targets)
        if operations <= max_listed or not self.searches:
            return self.definitions
        tools = self.definitions[:operations]  # the operations' tools, in catalogue order
        extra = self.definitions[operations:]  # get_background_job
        return [SEARCH_TOOL_DEFINITION, *usage.most_used(tools, max_listed), *extra]

    def is_job_reader(self, tool: str) -> bool:
        return self.reads_jobs and tool == JOB_TOOL

    def tool_for(self, api: str, operation: str) -> str | None:
        """The exposed tool of an operation; None when the filter hides it."""
        return self._names.get((api, operation))

    def invoke_request(self, tool: str, arguments: Mapping[str, Any]) -> pb.InvokeRequest:
        """UnknownTool for a name that is not exposed; SidecarError(INVALID_ARGUMENT) for a value
        the client's encoding refuses (an integer over 64 bits, a bad ``timeout``)."""
        target = self._targets.get(tool)
        if target is None:
            close = did_you_mean(tool, self._targets)  # none for an overlong name
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownTool(f"Unknown tool: {shown(tool)}{hint}")
        api, operation = target
        try:
            return build_invoke_request(api, operation, (), dict(arguments))
        except CustomApiError as exc:
            raise SidecarError(
                pb.ErrorCode.INVALID_ARGUMENT,
                f"{api}.{operation}: {exc.message}",
                api=api,
                operation=operation,
                field=exc.field,
            ) from None


class ToolIndex:
    """The current generation's tools: rebuilt when a config reload swaps the generation."""

    def __init__(self, sidecar: Sidecar, tool_filter: ToolFilter) -> None:
        self._sidecar = sidecar
        self._filter = tool_filter
        self._generation: Generation | None = None
        self._tools: ExposedTools | None = None

    def current(self) -> ExposedTools:
        generation = self._sidecar.generation
        if self._tools is None or generation is not self._generation:
            tools = ExposedTools(generation, self._filter, with_jobs=self._sidecar.jobs is not None)
            self._tools, self._generation = tools, generation
        return self._tools


def describe_exposed(sidecar: Sidecar, tool_filter: ToolFilter) -> str:
    """``3 tools (apis crm; exclude crm.delete_*), and get_background_job``: for the start-up line."""
    tools = ExposedTools(sidecar.generation, tool_filter, with_jobs=sidecar.jobs is not None)
    count = len(tools.definitions) - tools.reads_jobs
    jobs = f", and {JOB_TOOL}" if tools.reads_jobs else ""
    return f"{count} tool{'' if count == 1 else 's'} ({tool_filter}){jobs}"
