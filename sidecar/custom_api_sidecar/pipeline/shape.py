"""Stage: the response the agent sees, sanitized.

Hop-by-hop headers are dropped, as a proxy must; so are ``Set-Cookie``/``Set-Cookie2`` (the
agent has no cookie jar, and a session cookie must not carry one conversation into another),
unless an API keeps them, plus any header an API lists in ``security.response_headers.drop``.
Headers repeating an injected credential are dropped by the authenticate stage.
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus

from ..config import DEFAULT_DROPPED_RESPONSE_HEADERS
from ..registry import Registry
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
    def __init__(self, registry: Registry) -> None:
        # The dropped names per API, lower-cased, computed once.
        self._dropped: dict[str, frozenset[str]] = {}
        for name, api in registry.apis.items():
            policy = api.config.security.response_headers
            kept = frozenset(policy.keep) - HOP_BY_HOP
            self._dropped[name] = HOP_BY_HOP | (frozenset(DEFAULT_DROPPED_RESPONSE_HEADERS) - kept) | set(policy.drop)

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        response = await call_next(call)
        assert call.operation is not None
        dropped = self._dropped[call.operation.api.name]
        response.headers = [(k, v) for k, v in response.headers if k.lower() not in dropped]
        if not response.reason:
            with contextlib.suppress(ValueError):  # a non-standard status has no phrase
                response.reason = HTTPStatus(response.status_code).phrase
        return response
