"""Stage: a circuit breaker per API, so a dead upstream costs a caller milliseconds, not a timeout.

Closed: calls pass; a run of ``consecutive_failures`` failures, or a ``failure_ratio`` of the calls
in the last ``window_s`` seconds (once there are ``min_calls``), opens it. Open: calls fail at once
with CIRCUIT_OPEN, saying when the next attempt will be let through. After ``open_s`` it is
half-open: ``half_open_probes`` calls go through; a success closes it, a failure opens it again.
A failure is what says the upstream is unwell, within the API's own timeout: it could not be
reached, broke HTTP, timed out, or answered 5xx. What the caller decided says nothing about the
upstream and counts for nothing, so one caller cannot open the breaker for everyone: a timeout under
a shorter deadline it chose (``timeout=`` or its gRPC deadline: ``Call.callers_deadline``), its
cancellation, and argument, credential and rate-limit errors. A half-open probe that ends so gives
its place to the next call. Sits outside the retry stage: one call, all its attempts, is one result.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable

from opentelemetry import metrics

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..config import CircuitBreakerPolicy
from ..errors import SidecarError
from ..registry import Registry
from ._call import Call, UpstreamResponse
from ._compose import Handler

log = logging.getLogger("custom_api_sidecar.breaker")
UPSTREAM_FAILURES = frozenset(
    {
        ErrorCode.CONNECTION_REFUSED,
        ErrorCode.ENDPOINT_NOT_FOUND,
        ErrorCode.TIMEOUT,
        ErrorCode.UPSTREAM_PROTOCOL_ERROR,
        ErrorCode.SSL_ERROR,
    }
)
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    """One API's breaker; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        api: str,
        policy: CircuitBreakerPolicy,
        clock: Callable[[], float],
        on_transition: Callable[[str, str], None] = lambda api, state: None,
    ) -> None:
        self.api = api
        self.policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self.state = CLOSED
        self.consecutive = 0
        self.window: collections.deque[tuple[float, bool]] = collections.deque()
        self.failures = 0  # failed calls in the window, kept as it moves (not counted per call)
        self.retry_at = 0.0
        self.probes = 0
        self.half_opened = 0  # how many times it became half-open: which probes a release is for
        self.reason = ""

    def admit(self) -> bool:
        """May a call go through now? (A half-open breaker admits a few probes.)"""
        if self.state == CLOSED:
            return True
        now = self._clock()
        if self.state == OPEN and now >= self.retry_at:
            self._become(HALF_OPEN, "the open period is over: probing")
            self.probes = 0
            self.half_opened += 1
        if self.state == HALF_OPEN and self.probes < self.policy.half_open_probes:
            self.probes += 1
            return True
        return False

    def probe_period(self) -> int | None:
        """Right after ``admit``: which half-open period the admitted call probes, or None (not a probe)."""
        return self.half_opened if self.state == HALF_OPEN else None

    def release(self, period: int | None) -> None:
        """A call ended with no verdict on the upstream: if it was a probe of the current half-open
        period, the next call probes in its place (else a cancelled probe would keep it half-open,
        refusing every call, for good)."""
        if period is not None and self.state == HALF_OPEN and period == self.half_opened:
            self.probes = max(0, self.probes - 1)

    def record(self, failed: bool) -> None:
        now = self._clock()
        if self.state == HALF_OPEN:
            if failed:
                self._open(now, "a probe call failed")
            else:
                self._become(CLOSED, "a probe call succeeded")
                self.consecutive = 0
                self.window.clear()
                self.failures = 0
            return
        self.consecutive = self.consecutive + 1 if failed else 0
        self.window.append((now, failed))
        self.failures += failed
        while self.window and self.window[0][0] < now - self.policy.window_s:
            self.failures -= self.window.popleft()[1]
        if self.state != CLOSED:
            return
        if self.consecutive >= self.policy.consecutive_failures:
            self._open(now, f"{self.consecutive} failures in a row")
            return
        failures = self.failures
        if len(self.window) >= self.policy.min_calls and failures / len(self.window) >= self.policy.failure_ratio:
            self._open(now, f"{failures} of the last {len(self.window)} calls failed")

    def _open(self, now: float, reason: str) -> None:
        self.retry_at = now + self.policy.open_s
        self.reason = reason
        self._become(OPEN, reason)

    def _become(self, state: str, why: str) -> None:
        if state != self.state:
            log.warning("circuit breaker of API %r: %s -> %s (%s)", self.api, self.state, state, why)
            self.state = state
            self._on_transition(self.api, state)


class CircuitBreaker:
    def __init__(
        self,
        registry: Registry,
        previous: CircuitBreaker | None = None,
        keep: frozenset[str] | set[str] = frozenset(),
        provider: metrics.MeterProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``previous``/``keep``: after a config reload, unchanged APIs keep their breaker state."""
        meter = (provider or metrics.get_meter_provider()).get_meter("custom_api_sidecar")
        self._transitions = meter.create_counter(
            "custom_api_sidecar.breaker.transitions", unit="{transition}", description="Circuit breaker state changes"
        )
        self._breakers: dict[str, Breaker] = {}
        for name, api in registry.apis.items():
            policy = api.config.connection.circuit_breaker
            if not policy.enabled:
                continue
            if previous is not None and name in keep and name in previous._breakers:
                self._breakers[name] = previous._breakers[name]
            else:
                self._breakers[name] = Breaker(name, policy, clock, self._count)
        meter.create_observable_gauge(
            "custom_api_sidecar.breaker.open",
            callbacks=[self._observe],
            description="1 while an API's circuit breaker is open or half-open, else 0",
        )

    def _count(self, api: str, state: str) -> None:
        self._transitions.add(1, {"custom_api.api": api, "state": state})

    def _observe(self, options: metrics.CallbackOptions) -> list[metrics.Observation]:
        return [
            metrics.Observation(0 if b.state == CLOSED else 1, {"custom_api.api": name})
            for name, b in self._breakers.items()
        ]

    def state(self, api: str) -> str:
        breaker = self._breakers.get(api)
        return breaker.state if breaker else CLOSED

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        breaker = self._breakers.get(op.api.name)
        if breaker is None:
            return await call_next(call)
        if not breaker.admit():
            wait = max(0.0, breaker.retry_at - breaker._clock())
            raise SidecarError(
                ErrorCode.CIRCUIT_OPEN,
                f"{op.api.name}: the circuit breaker is open ({breaker.reason}); calls fail at once, "
                f"the next attempt goes through in {math.ceil(wait)} s",
                api=op.api.name,
                operation=op.name,
            )
        period = breaker.probe_period()
        try:
            response = await call_next(call)
        except SidecarError as err:
            if upstream_failed(call, err):
                breaker.record(failed=True)
            else:
                breaker.release(period)
            raise
        except BaseException:  # cancelled by its caller (or a bug of ours): not the upstream's doing
            breaker.release(period)
            raise
        breaker.record(failed=response.status_code >= 500)
        return response


def upstream_failed(call: Call, err: SidecarError) -> bool:
    """Did the upstream cause ``err`` within the API's own timeout? A TIMEOUT under a shorter
    deadline the caller chose did not: the upstream might have answered in time."""
    if err.code == ErrorCode.TIMEOUT:
        return not call.callers_deadline
    return err.code in UPSTREAM_FAILURES
