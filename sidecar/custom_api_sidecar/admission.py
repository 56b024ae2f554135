"""Admission: what an Invoke passes before the sidecar does any work for it.

First the caller bounds (``custom_api_sidecar.bounds``: names, counts, sizes), then the
in-flight cap: at most ``max_in_flight`` Invoke calls at once, gRPC and MCP alike (both enter
through ``invoke``). A call past the cap gets OVERLOADED at once (RESOURCE_EXHAUSTED, with the
ErrorDetail): nothing was sent upstream, so the caller may retry after a short pause.

Bounds come first, so an invalid request gets the same INVALID_ARGUMENT under any load (a retry
could not fix it). A refused call leaves no span, audit record or per-API series; it is counted
in ``custom_api_sidecar.calls.refused`` by ``reason``: ``in_flight``, or the request field whose
bound it broke (a fixed set, so the counter stays small).

Background calls: submitting one is a call in flight (it is checked and queued inside
``invoke``); running it later is bounded by the job workers (``--jobs-concurrency``), not here.
"""

from __future__ import annotations

from opentelemetry import metrics

from custom_api_client.proto.sidecar_pb2 import ErrorCode, InvokeRequest

from .bounds import check_request
from .errors import SidecarError

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "Admission"]

# Chosen by measurement (a real serve process, a slow upstream): a call in flight costs about
# 40 KB (512 calls: +21 MB) and, once an API's pool (100 connections) is not enough, one file
# descriptor; 1,024 calls across 10 APIs held 1,026 descriptors, which is past the common
# container limit of 1,024. 512 keeps a sidecar under half that limit, and is several times what
# an agent pod's conversations send at once. Worst case memory is this many calls with the
# largest configured request and response bodies: lower it for APIs with large limits.
DEFAULT_MAX_IN_FLIGHT = 512
METER_NAME = "custom_api_sidecar"


class Admission:
    """``enter(request)`` before an Invoke does any work, ``leave()`` when it is done."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, provider: metrics.MeterProvider | None = None):
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
        self._refused = meter.create_counter(
            "custom_api_sidecar.calls.refused",
            unit="{call}",
            description="Invoke calls refused before any work, by reason: in_flight, or the request field over a bound",
        )

    def enter(self, request: InvokeRequest) -> None:
        """SidecarError: INVALID_ARGUMENT over a caller bound, OVERLOADED past the in-flight cap."""
        try:
            check_request(request)
        except SidecarError as err:
            self._refused.add(1, {"reason": err.field})
            raise
        if self.in_flight >= self.max_in_flight:
            self._refused.add(1, {"reason": "in_flight"})
            raise SidecarError(
                ErrorCode.OVERLOADED,
                f"{request.api}.{request.operation}: the sidecar already has {self.in_flight} calls in flight, "
                f"its limit (--max-in-flight); nothing was sent: retry shortly",
                api=request.api,
                operation=request.operation,
            )
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
