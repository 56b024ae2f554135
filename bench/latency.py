"""Sequential latency, side by side in one run (not a test):

    python -m bench.latency [--calls N] [--json out.json]

1. direct:  httpx.Client from this process to the upstream (the baseline)
2. bare:    a gRPC round trip to the sidecar's health service (no work: the floor)
3. sidecar: conv.api.bench.get_item("42") through the client and a real sidecar process

Both hops use the same unix socket. The upstream is the test suite's HTTP/1.1
server returning a 1 KB JSON body. Report the ratios; absolute times are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from client import connect
from tests._support.upstream import Upstream

CONFIG = """
apis:
  - name: bench
    connection: {{base_url: "{url}"}}
    endpoints:
      - name: get_item
        method: GET
        path: /echo/items/{{item_id}}
        parameters: [{{name: item_id, in: path, type: string}}]
"""


def measure(fn: Callable[[], object], calls: int, warmup: int = 100) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2],
        "p90_us": samples[int(len(samples) * 0.9)],
        "p99_us": samples[int(len(samples) * 0.99)],
        "mean_us": statistics.fmean(samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    upstream = Upstream()
    tmp = pathlib.Path(tempfile.mkdtemp())
    (tmp / "apis.yaml").write_text(CONFIG.format(url=upstream.url))
    socket_path = tmp / "sidecar.sock"
    env = {**os.environ, "CUSTOM_API_SIDECAR_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar",
            "serve",
            "--config",
            str(tmp / "apis.yaml"),
            "--listen",
            f"unix://{socket_path}",
        ],
        stdout=subprocess.DEVNULL,
        env=env,
    )
    try:
        target = f"unix://{socket_path}"
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        direct = httpx.Client()
        channel = grpc.insecure_channel(target)
        health = health_pb2_grpc.HealthStub(channel)
        conv = connect(target)
        url = f"{upstream.url}/echo/items/42"
        results = {
            "direct": measure(lambda: direct.get(url).content, args.calls),
            "bare": measure(lambda: health.Check(health_pb2.HealthCheckRequest()), args.calls),
            "sidecar": measure(lambda: conv.api.bench.get_item("42").content, args.calls),
        }
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.close()

    overhead = {k: results["sidecar"][k] - results["direct"][k] for k in ("p50_us", "p90_us", "p99_us")}
    ratio = overhead["p50_us"] / results["bare"]["p50_us"]
    print(f"sequential, {args.calls} calls each, same machine, one run")
    print(f"{'path':<10}{'p50 µs':>10}{'p90 µs':>10}{'p99 µs':>10}")
    for name, r in results.items():
        print(f"{name:<10}{r['p50_us']:>10.0f}{r['p90_us']:>10.0f}{r['p99_us']:>10.0f}")
    print(
        f"{'overhead':<10}{overhead['p50_us']:>10.0f}{overhead['p90_us']:>10.0f}{overhead['p99_us']:>10.0f}"
        "   (sidecar - direct)"
    )
    print(f"sidecar overhead p50 / bare gRPC hop p50 = {ratio:.2f}x")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({**results, "overhead": overhead, "ratio_p50": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
