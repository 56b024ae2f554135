"""Stage: the outbound request. Path values arrive percent-encoded by the bind
stage (every byte but a style's own delimiters, ``/`` included), so no argument
can change the path; the URL is always under the base URL."""

from __future__ import annotations

from ._call import Call, OutboundRequest, UpstreamResponse
from ._compose import Handler
from .bound_context import hide_bound_values


class BuildRequest:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        parts = [op.api.base_path]
        for index, part in enumerate(op.path_parts):
            parts.append(call.path_values[part] if index % 2 else part)
        call.outbound = OutboundRequest(
            method=op.method,
            origin=op.api.origin,
            path="".join(parts),
            query=call.query,
            headers=call.headers,
            content=call.body,
        )
        if call.context_keys:
            hide_bound_values(call.outbound, call, op)
        return await call_next(call)
