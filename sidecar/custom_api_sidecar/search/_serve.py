"""The Search and Call RPCs, whoever asks (the gRPC servicer; the MCP server searches through
``search`` too): the current generation's index, the query's bounds, the routing rule, and a
routed call through ``invoke``, the same entry (admission, pipeline, audit) as any Invoke."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from custom_api_client.proto import sidecar_pb2 as pb

from ..errors import SidecarError
from ..invoke import invoke
from ..pipeline import Call
from ..registry import Registry
from ._index import SearchIndex, check_query, tool_of
from ._route import route

if TYPE_CHECKING:
    from ..app import Sidecar
    from ..generation import Generation

__all__ = ["call_by_text", "search"]

_ROUTE_CANDIDATES = 5  # the candidates an AMBIGUOUS_OPERATION lists, at most


def search(
    generation: Generation | tuple[Registry, SearchIndex],
    query: str,
    limit: int,
    allowed: Callable[[str, str], bool] | None = None,
) -> pb.SearchResponse:
    """A generation's (or a registry's and its index's: the CLI builds no generation) answer."""
    registry, index = (generation.registry, generation.search) if not isinstance(generation, tuple) else generation
    words, limit = check_query(query, limit)
    response = pb.SearchResponse()
    for match in index.search(words, limit, allowed):
        op = registry.apis[match.api].operations[match.operation]
        response.results.add(
            api=match.api,
            operation=match.operation,
            score=match.score,
            description=op.endpoint.description,
            tool_name=match.tool_name,
            tool_json=json.dumps(tool_of(registry, match), sort_keys=True),
        )
    return response


async def call_by_text(
    sidecar: Sidecar,
    request: pb.CallRequest,
    metadata: tuple[tuple[str, object], ...] = (),
    time_remaining: float | None = None,
) -> pb.InvokeResponse:
    """``request.invoke``'s arguments, to the operation ``request.text`` routes to."""
    if request.invoke.api or request.invoke.operation:
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT,
            "a call by text takes its api and operation from the text: leave invoke.api and invoke.operation empty",
            field="invoke",
        )
    words, _ = check_query(request.text, 0)
    match = route(request.text, sidecar.generation.search.search(words, _ROUTE_CANDIDATES))
    routed = pb.InvokeRequest()
    routed.CopyFrom(request.invoke)
    routed.api, routed.operation = match.api, match.operation
    return await invoke(sidecar, Call(request=routed, metadata=metadata, time_remaining=time_remaining))
