"""What audit records and metrics cost per call (not a test): ``python -m bench.observe_overhead``.

One process, one upstream (bench/_upstream.py), one run, calls straight into the pipeline
(``Sidecar.handle``) of four sidecars, interleaved in blocks so drift hits all alike:

- ``bare``: no access line, no audit stream, metrics off (the no-op instruments);
- ``audit``: the JSON audit stream (to /dev/null: the serialization and buffering, not the disk);
- ``metrics``: the OpenTelemetry SDK instruments with the /metrics reader;
- ``all``: audit + metrics + the text access line (logged to a handler that drops it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar import Sidecar, parse_config
from custom_api_sidecar.audit import AuditLog
from custom_api_sidecar.metrics import make_metrics
from custom_api_sidecar.pipeline import Call

from ._load import Latency
from ._upstream import BenchUpstream


def config_text(port: int) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{port}"}}
    endpoints: [{{name: get, method: GET, path: /item}}]
"""


async def run(calls: int, block: int) -> dict[str, object]:
    upstream = BenchUpstream()
    logging.getLogger("custom_api_sidecar.access").addHandler(logging.NullHandler())
    logging.getLogger("custom_api_sidecar.access").propagate = False
    logging.getLogger("custom_api_sidecar.access").setLevel(logging.INFO)
    config = parse_config(config_text(upstream.port))
    variants = {
        "bare": Sidecar(config, access_log=False),
        "audit": Sidecar(config, access_log=False, audit=AuditLog("/dev/null")),
        "metrics": Sidecar(config, access_log=False, metrics=make_metrics(admin=True, env={})),
        "all": Sidecar(config, audit=AuditLog("/dev/null"), metrics=make_metrics(admin=True, env={})),
    }
    for sidecar in variants.values():
        await sidecar.start()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    request = pb.InvokeRequest(api="crm", operation="get")
    try:

        async def one(sidecar: Sidecar) -> float:
            start = time.perf_counter()
            response = await sidecar.handle(Call(request=request, metadata=(("x-conversation-id", "bench-1"),)))
            assert response.status_code == 200
            return (time.perf_counter() - start) * 1e6

        for sidecar in variants.values():
            for _ in range(200):
                await one(sidecar)
        done = 0
        while done < calls:
            for name, sidecar in variants.items():
                for _ in range(min(block, calls - done)):
                    samples[name].append(await one(sidecar))
            done += block
    finally:
        for sidecar in variants.values():
            await sidecar.aclose()
        upstream.close()
    latency = {name: Latency(values).summary() for name, values in samples.items()}
    base = latency["bare"]["p50_us"]
    return {
        "calls_per_variant": calls,
        "upstream": upstream.kind,
        "p50_us": {name: round(s["p50_us"], 1) for name, s in latency.items()},
        "p90_us": {name: round(s["p90_us"], 1) for name, s in latency.items()},
        "p50_overhead_vs_bare_us": {name: round(s["p50_us"] - base, 1) for name, s in latency.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="sequential calls per variant (default 3000)")
    parser.add_argument("--block", type=int, default=100, help="calls per variant before switching")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.block)), indent=2))


if __name__ == "__main__":
    main()
