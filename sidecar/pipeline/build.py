"""Stage: the outbound request. Path values are percent-encoded whole (``/`` too),
so no argument can change the path; the URL is always under the base URL."""

from __future__ import annotations

from urllib.parse import quote

from ._call import Call, OutboundRequest, UpstreamResponse
from ._compose import Handler


class BuildRequest:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        parts = [op.api.base_path]
        for index, part in enumerate(op.path_parts):
            parts.append(quote(call.path_values[part], safe="") if index % 2 else part)
        call.outbound = OutboundRequest(
            method=op.method,
            origin=op.api.origin,
            path="".join(parts),
            query=call.query,
            headers=call.headers,
            content=call.body,
        )
        return await call_next(call)
