"""Stage: ``connection.retry_attempts``, retried only when it is safe.

A request that never reached the upstream (connection refused) is retried for
any method; a 502/503/504 answer only for idempotent methods. Every attempt
shares the one call deadline, with a short exponential backoff between them.
"""

from __future__ import annotations

import asyncio
import time

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..errors import SidecarError
from ._call import Call, UpstreamResponse
from ._compose import Handler

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_SECONDS = 0.05


class Retry:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        attempts = op.api.config.connection.retry_attempts
        for attempt in range(attempts + 1):
            last = attempt == attempts
            try:
                response = await call_next(call)
            except SidecarError as err:
                if last or err.code != ErrorCode.CONNECTION_REFUSED or not await _backoff(call, attempt):
                    raise
                continue
            if last or response.status_code not in RETRY_STATUSES or op.method not in IDEMPOTENT:
                return response
            if not await _backoff(call, attempt):
                return response
        raise AssertionError("unreachable")


async def _backoff(call: Call, attempt: int) -> bool:
    delay = BACKOFF_SECONDS * (2**attempt)
    if time.monotonic() + delay >= call.deadline:
        return False
    await asyncio.sleep(delay)
    return True
