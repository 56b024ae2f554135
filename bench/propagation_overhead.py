"""What choosing the trace context sent upstream costs per call (not a test):
``python -m bench.propagation_overhead``.

One process, one run, interleaved in blocks so drift hits every variant alike.

``inject``: the injection step alone, in the context a call's client span runs in (the agent's
trace, a ``tracestate`` and two baggage entries, extracted as the observe stage does):
- ``global``: what the send stage did before: ``propagate.inject`` with OpenTelemetry's default
  global propagator (tracecontext + baggage), then the carrier's items appended to the headers;
- ``tracecontext`` / ``tracecontext+baggage`` / ``none``: ``UpstreamPropagation.inject`` for
  ``propagate`` left at its default, opted in to baggage, and ``[]``.

``call``: whole calls into the pipeline (``Sidecar.handle``) of one sidecar, to a loopback upstream,
for three APIs that differ only in ``propagate``, with the agent's trace context and baggage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable

from opentelemetry import context, propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar import Sidecar, parse_config
from custom_api_sidecar.pipeline import Call
from custom_api_sidecar.propagation import upstream_propagation

from ._load import Latency
from ._upstream import BenchUpstream

AGENT = (
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("tracestate", "vendor=opaque-state"),
    ("baggage", "user.email=alice%40example.com,account=42"),
    ("x-conversation-id", "bench-1"),
)
# OpenTelemetry's default global propagator (OTEL_PROPAGATORS unset), set here so the
# environment does not change what "before" measures.
DEFAULT_GLOBAL = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def _global(headers: list[tuple[str, str]]) -> None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers.extend(carrier.items())


def inject_step(rounds: int, block: int) -> dict[str, float]:
    """Median µs per injection (each sample: ``block`` injections, timed together)."""
    propagate.set_global_textmap(DEFAULT_GLOBAL)
    token = context.attach(DEFAULT_GLOBAL.extract(dict(AGENT)))
    variants: dict[str, Callable[[list[tuple[str, str]]], None]] = {
        "global (before)": _global,
        "tracecontext": upstream_propagation(("tracecontext",)).inject,
        "tracecontext+baggage": upstream_propagation(("tracecontext", "baggage")).inject,
        "none": upstream_propagation(()).inject,
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name, inject in variants.items():
                start = time.perf_counter()
                for _ in range(block):
                    inject([])
                samples[name].append((time.perf_counter() - start) / block * 1e6)
    finally:
        context.detach(token)
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def config_text(port: int) -> str:
    base = f'{{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{port}"}}'
    return f"""
apis:
  - {{name: tracecontext, connection: {base}, endpoints: [{{name: get, method: GET, path: /item}}]}}
  - {{name: baggage, propagate: [tracecontext, baggage], connection: {base},
     endpoints: [{{name: get, method: GET, path: /item}}]}}
  - {{name: none, propagate: [], connection: {base}, endpoints: [{{name: get, method: GET, path: /item}}]}}
"""


async def whole_calls(calls: int, block: int) -> dict[str, object]:
    upstream = BenchUpstream()
    sidecar = Sidecar(parse_config(config_text(upstream.port)), access_log=False)
    await sidecar.start()
    names = ("tracecontext", "baggage", "none")
    samples: dict[str, list[float]] = {name: [] for name in names}

    async def one(api: str) -> float:
        start = time.perf_counter()
        response = await sidecar.handle(Call(request=pb.InvokeRequest(api=api, operation="get"), metadata=AGENT))
        assert response.status_code == 200
        return (time.perf_counter() - start) * 1e6

    try:
        for name in names:
            for _ in range(200):
                await one(name)
        done = 0
        while done < calls:
            for name in names:
                for _ in range(min(block, calls - done)):
                    samples[name].append(await one(name))
            done += block
    finally:
        await sidecar.aclose()
        upstream.close()
    return {
        "upstream": upstream.kind,
        "calls_per_variant": calls,
        "p50_us": {name: round(Latency(values).summary()["p50_us"], 1) for name, values in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="timed blocks per injection variant")
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per API (default 2000)")
    parser.add_argument("--block", type=int, default=100, help="injections or calls per variant before switching")
    args = parser.parse_args()
    result = {
        "inject_us_per_call": inject_step(args.rounds, args.block),
        "call": asyncio.run(whole_calls(args.calls, args.block)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
