"""What trace context leaves for an upstream: only the propagators its API chose (``propagate:``).

The agent's context arrives with every call (``traceparent``, ``tracestate``, and W3C ``baggage``,
which may hold user ids and emails); the sidecar's spans continue it, extracted with the global
propagator as before. What is sent on is decided here instead, per API, from an explicit composite
of the named propagators, never the global one: a propagator the environment adds
(``OTEL_PROPAGATORS=...,jaeger,b3``) could otherwise carry the agent's baggage to a third party in its
own headers. By default an upstream gets ``traceparent`` and ``tracestate``; ``baggage`` only when its
API opts in; ``propagate: []`` sends neither.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .config._model import PROPAGATORS

__all__ = ["UpstreamPropagation", "upstream_propagation"]

_BY_NAME: dict[str, type[TextMapPropagator]] = {
    "tracecontext": TraceContextTextMapPropagator,
    "baggage": W3CBaggagePropagator,
}
assert tuple(_BY_NAME) == PROPAGATORS, "every name the loader accepts has a propagator"


class UpstreamPropagation:
    """Writes the chosen fields of a context into an outgoing request's headers."""

    __slots__ = ("_propagator", "names")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        propagators = [_BY_NAME[name]() for name in self.names]
        # One propagator is used as it is: a composite of one only adds a loop per call.
        self._propagator: TextMapPropagator | None = (
            None if not propagators else propagators[0] if len(propagators) == 1 else CompositePropagator(propagators)
        )

    def inject(self, headers: list[tuple[str, str]], context: Context | None = None) -> None:
        """Append the headers for ``context`` (default: the current one). Tracing never fails a call:
        a propagator's error leaves the request without its headers."""
        if self._propagator is None:
            return
        carrier: dict[str, str] = {}
        try:
            self._propagator.inject(carrier, context)
        except Exception:
            return
        headers.extend(carrier.items())


@functools.cache
def upstream_propagation(names: tuple[str, ...]) -> UpstreamPropagation:
    """The propagation for an API's ``propagate`` names; one shared instance per distinct list."""
    return UpstreamPropagation(names)
