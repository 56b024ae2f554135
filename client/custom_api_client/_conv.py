"""``conv.api.<api>.<op>(...)`` and ``conv.log``, synchronous and asyncio flavours.

Attribute access is free: no round trip happens until an operation is called,
so an unknown API or operation surfaces as UnknownApi / UnknownOperation (with a
"did you mean") from that call.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from ._context import CallContext
from ._jobs import AsyncJobs, Jobs
from ._log import AsyncConvLog, ConvLog
from ._request import build_invoke_request
from ._response import Response, from_invoke_response
from ._search import SearchResult, build_call_request, results, search_request
from ._target import DEFAULT_DEADLINE_SECONDS, call_deadline, channel_options, resolve_target
from .discovery import api_dict, check_result_dict
from .errors import UnknownOperation, from_rpc_error
from .proto import sidecar_pb2 as pb
from .proto import sidecar_pb2_grpc
from .tools import tool_definitions

TEST_DEADLINE_SECONDS = 120.0  # every check of every API, one after another


class _Namespace:
    """``conv.api``: attribute access gives an API; ``list()`` names them."""

    def __init__(self, conv: Any, api_type: type) -> None:
        self._conv = conv
        self._api_type = api_type
        self._apis: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        api = self._apis.get(name)
        if api is None:
            api = self._apis[name] = self._api_type(self._conv, name)
        return api

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)


class _ApiBase:
    def __init__(self, conv: Any, name: str) -> None:
        self._conv = conv
        self._name = name
        self._operations: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        op = self._operations.get(name)
        if op is None:
            op = self._operations[name] = self._operation_type(self, name)
        return op

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __repr__(self) -> str:
        return f"<api {self._name}>"

    _operation_type: type


def _find_operation(description: dict[str, Any], api: str, name: str) -> dict[str, Any]:
    for op in description["operations"]:
        if op["name"] == name:
            return op
    raise UnknownOperation(f"API {api!r} has no operation {name!r}", api=api, operation=name)


# --- synchronous -------------------------------------------------------------


class Operation:
    def __init__(self, api: Api, name: str) -> None:
        self._api = api
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Response:
        request = build_invoke_request(self._api._name, self._name, args, kwargs)
        return self._api._conv._invoke(request)

    def schema(self) -> dict[str, Any]:
        return _find_operation(self._api.schema(), self._api._name, self._name)

    def __repr__(self) -> str:
        return f"<operation {self._api._name}.{self._name}>"


class Api(_ApiBase):
    _operation_type = Operation

    def __call__(self, *args: Any, **kwargs: Any) -> Response:
        """An API with an operation of its own name (a seed-003 tool) is callable directly:
        ``conv.api.create_callback_lead(...)`` is ``conv.api.create_callback_lead.create_callback_lead(...)``."""
        return self.__getattr__(self._name)(*args, **kwargs)

    def schema(self) -> dict[str, Any]:
        """The API's operations, parameters and JSON schemas."""
        return self._conv._describe(self._name)

    def tools(self, format: str = "openai") -> list[dict[str, Any]]:
        """LLM tool definitions for this API's operations: ``openai``, ``anthropic`` or ``mcp``."""
        return tool_definitions([self.schema()], format)


class ApiNamespace(_Namespace):
    @property
    def jobs(self) -> Jobs:
        """Background calls: ``conv.api.jobs.get(job_id)`` / ``.wait(job_id)``."""
        return Jobs(self._conv)

    def list(self) -> list[str]:
        return [api.name for api in self._conv._list_apis().apis]

    def test_connection(self, apis: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        """Seed 004's "Test Connection" checklist per API (default: all), run by the sidecar."""
        return self._conv._test_connection(list(apis or ()))

    def tools(self, format: str = "openai", apis: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        """LLM tool definitions for every operation of ``apis`` (default: all APIs)."""
        names = self.list() if apis is None else list(apis)
        return tool_definitions([self._conv._describe(name) for name in names], format)

    def search(self, text: str, limit: int = 5) -> builtins.list[SearchResult]:
        """The operations, across every API, that best match ``text`` (what the agent wants), best
        first; at most ``limit`` (1..50), fewer when fewer match."""
        return results(self._conv._rpc("Search", search_request(text, limit)))

    def call(self, text: str, **kwargs: Any) -> Response:
        """Call the single operation ``text`` best matches with ``kwargs``; AmbiguousOperation (with
        ``.candidates``) when no match is clearly best. The arguments are the caller's (its model's) to
        extract: ``text`` only picks the operation."""
        request = build_call_request(text, kwargs)
        return from_invoke_response(
            self._conv._rpc("Call", request, call_deadline(request.invoke.timeout_seconds), with_context=True)
        )


class Conv:
    """What ``connect()`` returns: ``conv.api`` and ``conv.log``."""

    def __init__(
        self,
        target: str | None = None,
        *,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        self.target = resolve_target(target)
        self.context = CallContext(conversation_id, agent_id, context)
        self._channel = grpc.insecure_channel(self.target, options=channel_options())
        self._stub = sidecar_pb2_grpc.CustomApiSidecarStub(self._channel)
        self.api = ApiNamespace(self, Api)
        self.log = ConvLog(self._stub, lambda: self.context.metadata())

    def set_context(
        self,
        *,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Attach a conversation (and agent) id, and trusted context values (``{"caller_number": ...}``:
        what ``from_context:`` arguments are bound to), to every later call and ``conv.log`` entry;
        they replace the earlier ones. A bad value is InvalidArgument (a ValueError), nothing changed."""
        self.context = CallContext(conversation_id, agent_id, context)

    def _invoke(self, request: pb.InvokeRequest) -> Response:
        try:
            reply = self._stub.Invoke(
                request, timeout=call_deadline(request.timeout_seconds), metadata=self.context.metadata()
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None
        return from_invoke_response(reply)

    def _list_apis(self) -> pb.ListApisResponse:
        try:
            return self._stub.ListApis(pb.ListApisRequest(), timeout=DEFAULT_DEADLINE_SECONDS)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    def _rpc(
        self, method: str, request: Any, timeout: float = DEFAULT_DEADLINE_SECONDS, with_context: bool = False
    ) -> Any:
        metadata = self.context.metadata() if with_context else None
        try:
            return getattr(self._stub, method)(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    def _get_job(self, job_id: str) -> pb.GetJobResponse:
        try:
            # with the conversation id: a job queued in a conversation is found only from it
            return self._stub.GetJob(
                pb.GetJobRequest(job_id=job_id), timeout=DEFAULT_DEADLINE_SECONDS, metadata=self.context.metadata()
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    def _test_connection(self, apis: list[str]) -> list[dict[str, Any]]:
        try:
            reply = self._stub.TestConnection(
                pb.TestConnectionRequest(apis=apis), timeout=TEST_DEADLINE_SECONDS, metadata=self.context.metadata()
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None
        return [check_result_dict(result) for result in reply.apis]

    def _describe(self, api: str) -> dict[str, Any]:
        try:
            reply = self._stub.DescribeApi(pb.DescribeApiRequest(api=api), timeout=DEFAULT_DEADLINE_SECONDS)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None
        return api_dict(reply.api)

    def close(self) -> None:
        """Send queued ``conv.log`` entries (bounded wait), then close the channel."""
        self.log.flush()  # bounded: queued conv.log entries get their chance first
        self._channel.close()

    def __enter__(self) -> Conv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- asyncio -----------------------------------------------------------------


class AsyncOperation:
    def __init__(self, api: AsyncApi, name: str) -> None:
        self._api = api
        self._name = name

    async def __call__(self, *args: Any, **kwargs: Any) -> Response:
        request = build_invoke_request(self._api._name, self._name, args, kwargs)
        return await self._api._conv._invoke(request)

    async def schema(self) -> dict[str, Any]:
        return _find_operation(await self._api.schema(), self._api._name, self._name)

    def __repr__(self) -> str:
        return f"<async operation {self._api._name}.{self._name}>"


class AsyncApi(_ApiBase):
    _operation_type = AsyncOperation

    async def __call__(self, *args: Any, **kwargs: Any) -> Response:
        """``await conv.api.<tool>(...)``: the operation named like the API (see ``Api.__call__``)."""
        return await self.__getattr__(self._name)(*args, **kwargs)

    async def schema(self) -> dict[str, Any]:
        return await self._conv._describe(self._name)

    async def tools(self, format: str = "openai") -> list[dict[str, Any]]:
        return tool_definitions([await self.schema()], format)


class AsyncApiNamespace(_Namespace):
    @property
    def jobs(self) -> AsyncJobs:
        return AsyncJobs(self._conv)

    async def list(self) -> list[str]:
        return [api.name for api in (await self._conv._list_apis()).apis]

    async def test_connection(self, apis: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        return await self._conv._test_connection(list(apis or ()))

    async def tools(self, format: str = "openai", apis: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        names = await self.list() if apis is None else list(apis)
        return tool_definitions([await self._conv._describe(name) for name in names], format)

    async def search(self, text: str, limit: int = 5) -> builtins.list[SearchResult]:
        """``await conv.api.search(text)``: see ``ApiNamespace.search``."""
        return results(await self._conv._rpc("Search", search_request(text, limit)))

    async def call(self, text: str, **kwargs: Any) -> Response:
        """``await conv.api.call(text, **kwargs)``: see ``ApiNamespace.call``."""
        request = build_call_request(text, kwargs)
        return from_invoke_response(
            await self._conv._rpc("Call", request, call_deadline(request.invoke.timeout_seconds), with_context=True)
        )


class AsyncConv:
    """What ``connect_async()`` returns. The channel opens on first use, inside the running loop."""

    def __init__(
        self,
        target: str | None = None,
        *,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        self.target = resolve_target(target)
        self.context = CallContext(conversation_id, agent_id, context)
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self.api = AsyncApiNamespace(self, AsyncApi)
        self.log = AsyncConvLog(self._get_stub, lambda: self.context.metadata())

    def set_context(
        self,
        *,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Attach a conversation (and agent) id, and trusted context values (``{"caller_number": ...}``:
        what ``from_context:`` arguments are bound to), to every later call and ``conv.log`` entry;
        they replace the earlier ones. A bad value is InvalidArgument (a ValueError), nothing changed."""
        self.context = CallContext(conversation_id, agent_id, context)

    def _get_stub(self) -> Any:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=channel_options())
            self._stub = sidecar_pb2_grpc.CustomApiSidecarStub(self._channel)
        return self._stub

    async def _invoke(self, request: pb.InvokeRequest) -> Response:
        try:
            reply = await self._get_stub().Invoke(
                request, timeout=call_deadline(request.timeout_seconds), metadata=self.context.metadata()
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None
        return from_invoke_response(reply)

    async def _list_apis(self) -> pb.ListApisResponse:
        try:
            return await self._get_stub().ListApis(pb.ListApisRequest(), timeout=DEFAULT_DEADLINE_SECONDS)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    async def _rpc(
        self, method: str, request: Any, timeout: float = DEFAULT_DEADLINE_SECONDS, with_context: bool = False
    ) -> Any:
        metadata = self.context.metadata() if with_context else None
        try:
            return await getattr(self._get_stub(), method)(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    async def _get_job(self, job_id: str) -> pb.GetJobResponse:
        try:
            return await self._get_stub().GetJob(
                pb.GetJobRequest(job_id=job_id), timeout=DEFAULT_DEADLINE_SECONDS, metadata=self.context.metadata()
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    async def _test_connection(self, apis: list[str]) -> list[dict[str, Any]]:
        try:
            reply = await self._get_stub().TestConnection(
                pb.TestConnectionRequest(apis=apis), timeout=TEST_DEADLINE_SECONDS, metadata=self.context.metadata()
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None
        return [check_result_dict(result) for result in reply.apis]

    async def _describe(self, api: str) -> dict[str, Any]:
        try:
            reply = await self._get_stub().DescribeApi(pb.DescribeApiRequest(api=api), timeout=DEFAULT_DEADLINE_SECONDS)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target) from None
        return api_dict(reply.api)

    async def close(self) -> None:
        """Send queued ``conv.log`` entries (bounded wait), then close the channel."""
        await self.log.flush()
        if self._channel is not None:
            await self._channel.close()

    async def __aenter__(self) -> AsyncConv:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
