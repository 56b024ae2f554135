"""A cached call against an uncached one (not a test): ``python -m bench.cache_overhead``.

One real sidecar process (``custom-api-sidecar serve``), the sync client over its unix socket,
one upstream returning 1 KB of JSON (nginx when installed, on loopback: the fastest upstream
there is, so the ratio here is the smallest it gets; a real API 20-200 ms away gains far more).
Three operations of one API (api_key auth), side by side, interleaved in blocks so drift hits
all alike:

  uncached   GET /items/{id}, no ``cache:``: every call goes upstream
  miss       the same with ``cache: {ttl_s: 3600}``, a new id each call: what caching costs a
             call it cannot help (key, lookup, storing the answer; the LRU evicting when full)
  hit        the same, one id: every call is answered from the cache

Per variant: client-side latency (p50, p99, µs) and the sidecar process's CPU per call (µs,
from /proc). The ratio line is hit / uncached.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from custom_api_client import connect

from ._load import sequential
from ._proc import cpu_seconds
from ._upstream import BenchUpstream

SECRET_ENV = "BENCH_CACHE_KEY"


def config_text(upstream_url: str) -> str:
    operation = """
      - name: {name}
        method: GET
        path: /items/{{item_id}}{cache}"""
    ops = "".join(
        operation.format(name=name, cache=cache)
        for name, cache in (
            ("uncached", ""),
            ("cached", "\n        cache: {ttl_s: 3600}"),
        )
    )
    return f"""
apis:
  - name: bench
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}", timeout_ms: 5000}}
    authentication:
      type: api_key
      config: {{header_name: X-API-Key, key: "env://{SECRET_ENV}"}}
    endpoints:{ops}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per block (default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="blocks per variant, interleaved (default 5)")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-cache-"))
    upstream = BenchUpstream()
    config = tmp / "apis.yaml"
    config.write_text(config_text(upstream.url))
    sock = tmp / "s.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        SECRET_ENV: "bench-secret-value",
        "OTEL_SDK_DISABLED": "true",
        "CUSTOM_API_SIDECAR_POLICY_EGRESS": "private_network,allow_http",
    }
    command = [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(config)]
    command += ["--listen", f"unix://{sock}", "--jobs-db", str(tmp / "jobs.sqlite3"), "--log-format", "json"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sidecar did not start (exit code {proc.poll()})")
            time.sleep(0.05)
        time.sleep(1)  # start-up work settles
        with connect(f"unix://{sock}") as conv:
            api = conv.api.bench
            fresh_ids = (str(n) for n in itertools.count(1_000_000))
            variants: dict[str, Callable[[], object]] = {
                "uncached": lambda: api.uncached("42"),
                "miss": lambda: api.cached(next(fresh_ids)),
                "hit": lambda: api.cached("42"),
            }
            assert not api.cached("42").from_cache and api.cached("42").from_cache
            assert not api.cached(next(fresh_ids)).from_cache
            results: dict[str, dict[str, list[float]]] = {v: {"p50": [], "p99": [], "cpu": []} for v in variants}
            for _ in range(args.repeat):
                for name, fn in variants.items():
                    before = cpu_seconds(proc.pid)
                    latency = sequential(fn, args.calls, warmup=50)
                    cpu = (cpu_seconds(proc.pid) - before) / (args.calls + 50) * 1e6
                    results[name]["p50"].append(latency.pct(50))
                    results[name]["p99"].append(latency.pct(99))
                    results[name]["cpu"].append(cpu)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        upstream.close()
    print(f"upstream: {upstream.kind}; {args.repeat} blocks x {args.calls} calls per variant (medians of blocks)")
    print(f"{'variant':10} {'p50 us':>9} {'p99 us':>9} {'sidecar CPU us/call':>20}")
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    for name, m in med.items():
        print(f"{name:10} {m['p50']:9.0f} {m['p99']:9.0f} {m['cpu']:20.0f}")
    hit, uncached, miss = med["hit"], med["uncached"], med["miss"]
    print(
        f"hit / uncached: p50 {hit['p50'] / uncached['p50']:.2f}x, p99 {hit['p99'] / uncached['p99']:.2f}x, "
        f"sidecar CPU {hit['cpu'] / uncached['cpu']:.2f}x"
    )
    print(
        f"miss - uncached (what caching costs a call it cannot help): p50 {miss['p50'] - uncached['p50']:+.0f} us, "
        f"sidecar CPU {miss['cpu'] - uncached['cpu']:+.0f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
