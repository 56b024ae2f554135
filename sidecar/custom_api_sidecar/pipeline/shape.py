"""Stage: the response the agent sees. Hop-by-hop headers are dropped, as a proxy must."""

from __future__ import annotations

import contextlib
from http import HTTPStatus

from ._call import Call, UpstreamResponse
from ._compose import Handler

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class ShapeResponse:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        response = await call_next(call)
        response.headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        if not response.reason:
            with contextlib.suppress(ValueError):  # a non-standard status has no phrase
                response.reason = HTTPStatus(response.status_code).phrase
        return response
