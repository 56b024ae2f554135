"""Stage: ``connection.retry_attempts``, spent only when a retry is safe and affordable.

- A request that never reached the upstream (connection refused) is retried for any method.
- A 502/503/504 is retried for idempotent methods, and for others only when the request
  carries an idempotency key (``connection.retry.idempotency_key_header``, default
  ``Idempotency-Key``): then the upstream can tell a repeat from a new request.
- A 429 or 503 with ``Retry-After`` (seconds or an HTTP date) waits that long, if the wait fits in
  the caller's remaining time; if it does not, the response is returned at once: the stage never
  sleeps past the deadline.
- Other waits are exponential backoff with full jitter (``backoff_ms`` doubling per attempt, up to
  ``max_backoff_ms``, a random point below it), so many sidecars do not retry in step.
- A retry budget per API: retries may be at most ``budget_ratio`` of calls (a token bucket each
  call tops up), so retries cannot multiply the load on an upstream that is already failing.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..errors import SidecarError
from ..registry import Registry
from ._call import Call, UpstreamResponse
from ._compose import Handler

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
BUDGET_CAPACITY = 10.0  # retries a quiet API may spend in a burst


class RetryBudget:
    """A token bucket: each call deposits ``ratio`` tokens (up to ``BUDGET_CAPACITY``), each retry takes one."""

    __slots__ = ("ratio", "tokens")

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.tokens = BUDGET_CAPACITY

    def deposit(self) -> None:
        self.tokens = min(BUDGET_CAPACITY, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Retry:
    def __init__(
        self,
        registry: Registry | None = None,
        previous: Retry | None = None,
        keep: frozenset[str] | set[str] = frozenset(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``previous``/``keep``: after a config reload, unchanged APIs keep their budgets."""
        self._budgets: dict[str, RetryBudget] = {}
        for name, api in (registry.apis if registry else {}).items():
            kept = previous._budgets.get(name) if previous is not None and name in keep else None
            self._budgets[name] = kept or RetryBudget(api.config.connection.retry.budget_ratio)
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        self.denied = 0  # retries the budget refused (tests, status)

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        connection = op.api.config.connection
        attempts = connection.retry_attempts
        budget = self._budgets.get(op.api.name)
        if budget is not None:
            budget.deposit()
        for attempt in range(attempts + 1):
            last = attempt == attempts
            try:
                response = await call_next(call)
            except SidecarError as err:
                if last or err.code != ErrorCode.CONNECTION_REFUSED:
                    raise
                if not await self._wait(call, self._backoff(call, attempt), budget):
                    raise
                continue
            if last:
                return response
            delay = self._delay_for(call, response, attempt)
            if delay is None or not await self._wait(call, delay, budget):
                return response
        raise AssertionError("unreachable")

    def _delay_for(self, call: Call, response: UpstreamResponse, attempt: int) -> float | None:
        """How long to wait before retrying ``response``, or None when it must not be retried."""
        op = call.operation
        assert op is not None and call.outbound is not None
        status = response.status_code
        if status in RETRY_AFTER_STATUSES:
            after = _retry_after(response, self._wall_clock())
            if after is not None:
                if status == 503 and not self._may_repeat(call):
                    return None
                return after
        if status in RETRY_STATUSES and self._may_repeat(call):
            return self._backoff(call, attempt)
        return None

    def _may_repeat(self, call: Call) -> bool:
        op = call.operation
        assert op is not None and call.outbound is not None
        if op.method in IDEMPOTENT:
            return True
        header = op.api.config.connection.retry.idempotency_key_header.lower()
        return bool(header) and any(name.lower() == header for name, _ in call.outbound.headers)

    def _backoff(self, call: Call, attempt: int) -> float:
        assert call.operation is not None
        policy = call.operation.api.config.connection.retry
        ceiling = min(policy.max_backoff_ms, policy.backoff_ms * 2**attempt) / 1000
        return self._jitter(0.0, ceiling)

    async def _wait(self, call: Call, delay: float, budget: RetryBudget | None) -> bool:
        """Sleep ``delay`` before the next attempt, if it fits the deadline and the budget allows."""
        if time.monotonic() + delay >= call.deadline:
            return False
        if budget is not None and not budget.withdraw():
            self.denied += 1
            return False
        await self._sleep(delay)
        return True


def _retry_after(response: UpstreamResponse, now: float) -> float | None:
    value = next((v for k, v in response.headers if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
