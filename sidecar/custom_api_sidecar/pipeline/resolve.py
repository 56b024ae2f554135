"""Stage: find the operation (UNKNOWN_API / UNKNOWN_OPERATION with suggestions)."""

from __future__ import annotations

from ..registry import Registry
from ._call import Call, UpstreamResponse
from ._compose import Handler


class Resolve:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        call.operation = self._registry.operation(call.request.api, call.request.operation)
        return await call_next(call)
