"""The sidecar benchmark (not a test): ``python -m bench [--quick] [--json FILE]``.

In one run, side by side, against one upstream returning 1 KB of JSON:
  direct   httpx from this process straight to the upstream (the baseline)
  floor    the client package to a do-nothing gRPC server with the sidecar's
           service and runtime (bench/_floor.py): one local round trip, no work
  sidecar  the client package through a real sidecar process with the realistic
           feature set: 50 APIs loaded, API key injected from a cached secret,
           arguments validated against a schema, tracing exported over OTLP to
           a collector, the access log on (the default INFO level)
Shapes: sequential; open loop at --rate requests/s (latency from each request's
scheduled start); closed loop at --concurrency. The sidecar's and the floor's
CPU seconds per 1,000 requests and peak RSS come from /proc.
Key figures are ratios: overhead (sidecar - direct) / floor, throughput / floor.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from custom_api_client import connect, connect_async
from custom_api_sidecar.config import parse_config
from custom_api_sidecar.server import run
from custom_api_sidecar.transport import default_transport

from ._load import Latency, closed_loop, open_loop, sequential
from ._proc import cpu_seconds, peak_rss_mb, rss_mb
from ._upstream import BenchUpstream, free_port

SECRET_ENV = "BENCH_API_KEY"
FILLER_APIS = 49  # plus the benchmarked one: 50 APIs configured


def config_text(upstream_url: str, features: bool) -> str:
    auth = (
        f"""
    authentication:
      type: api_key
      config: {{header_name: X-API-Key, key: "env://{SECRET_ENV}"}}"""
        if features
        else ""
    )
    schema = ', schema: {type: string, pattern: "^[0-9]{1,12}$", maxLength: 12}' if features else ""
    apis = [
        f"""
  - name: bench
    description: The benchmarked API
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}", timeout_ms: 5000}}{auth}
    endpoints:
      - name: get_item
        description: Fetch one item by id
        method: GET
        path: /items/{{item_id}}
        parameters: [{{name: item_id, in: path, type: string{schema}}}]"""
    ]
    for n in range(FILLER_APIS):
        operations = "".join(
            f"""
      - name: op_{k}
        method: {"GET" if k % 2 else "POST"}
        path: /v1/things_{k}/{{thing_id}}
        parameters:
          - {{name: thing_id, in: path, type: string}}
          - {{name: limit, in: query, type: integer, schema: {{type: integer, minimum: 1, maximum: 100}}}}"""
            for k in range(8)
        )
        apis.append(
            f"""
  - name: api_{n:02d}
    connection: {{base_urls: {{sandbox: "https://sandbox-{n}.example.com/v1", live: "https://api-{n}.example.com/v1"}}}}
    endpoints:{operations}"""
        )
    return "apis:" + "".join(apis) + "\n"


class Process:
    """A child process the benchmark starts, waits for and always stops."""

    def __init__(self, args: list[str], ready: Callable[[], bool], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{args[2:4]} did not start (exit code {self.proc.poll()})")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="sequential calls per path (default 3000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop requests/s (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop and closed-loop duration (default 10)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="short run (smoke check)")
    parser.add_argument("--plain", action="store_true", help="sidecar without auth, validation and tracing")
    parser.add_argument("--json", default="bench/results/latest.json", help="where to write the results")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.seconds = 500, 2.0

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
    upstream = BenchUpstream()
    started: list[Process] = []
    try:
        config = tmp / "apis.yaml"
        config.write_text(config_text(upstream.url, features=not args.plain))
        env = {**os.environ, SECRET_ENV: "bench-secret-value"}
        if not args.plain:
            collector_port = free_port()
            started.append(
                Process(
                    [sys.executable, "-m", "bench._collector", str(collector_port)],
                    lambda: _listening(collector_port),
                )
            )
            env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}", "OTEL_SERVICE_NAME": "bench"}
        floor_sock, floor_port = tmp / "floor.sock", free_port()
        floor = Process(
            [sys.executable, "-m", "bench._floor", f"unix://{floor_sock}", f"127.0.0.1:{floor_port}"],
            lambda: floor_sock.exists() and _listening(floor_port),
        )
        started.append(floor)
        sidecar_sock, sidecar_port = tmp / "sidecar.sock", free_port()
        sidecar = Process(
            [
                sys.executable,
                "-m",
                "sidecar",
                "serve",
                "--config",
                str(config),
                "--listen",
                f"unix://{sidecar_sock}",
                "--listen",
                f"127.0.0.1:{sidecar_port}",
            ],
            lambda: sidecar_sock.exists() and _listening(sidecar_port),
            env=env,
        )
        started.append(sidecar)
        time.sleep(1)  # let start-up work (validator warm-up) settle
        idle_rss = {"sidecar": rss_mb(sidecar.pid), "floor": rss_mb(floor.pid)}
        targets = {
            "floor": (f"unix://{floor_sock}", f"127.0.0.1:{floor_port}", floor),
            "sidecar": (f"unix://{sidecar_sock}", f"127.0.0.1:{sidecar_port}", sidecar),
        }
        results = measure_all(args, upstream.url, config, targets)
        results["meta"] = {
            "upstream": upstream.kind,
            "features": "plain" if args.plain else "auth+validation+tracing+access log",
            "apis_configured": FILLER_APIS + 1,
            "cpus": os.cpu_count(),
            "rate": args.rate,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "sequential_calls": args.calls,
        }
        results["rss_after_start_mb"] = idle_rss
        results["peak_rss_mb"] = {"sidecar": peak_rss_mb(sidecar.pid), "floor": peak_rss_mb(floor.pid)}
    finally:
        for process in reversed(started):
            process.stop()
        upstream.close()
    report(results)
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


def measure_all(args: argparse.Namespace, upstream_url: str, config: pathlib.Path, targets: dict) -> dict[str, Any]:
    url = f"{upstream_url}/items/42"
    out: dict[str, Any] = {"sequential": {}, "open_loop": {}, "closed_loop": {}, "cpu_s_per_1000": {}}

    direct = httpx.Client()
    out["sequential"]["direct"] = sequential(lambda: direct.get(url).content, args.calls).summary()
    direct.close()
    for name, (unix, tcp, _) in targets.items():
        for transport, target in (("unix", unix), ("tcp", tcp)):
            conv = connect(target)
            fn = conv.api.bench.get_item
            out["sequential"][f"{name}_{transport}"] = sequential(lambda fn=fn: fn("42").content, args.calls).summary()

    async def shapes() -> None:
        api = parse_config(config.read_text(), str(config)).apis[0]
        async with httpx.AsyncClient(transport=default_transport(api)) as client:

            async def direct_call() -> None:
                (await client.get(url)).raise_for_status()

            await _shape(out, "direct", direct_call, args, None)
        for name, (unix, _, process) in targets.items():
            conv = connect_async(unix)
            op = conv.api.bench.get_item

            async def call(op: Any = op) -> None:
                (await op("42")).raise_for_status()

            await _shape(out, name, call, args, process.pid)

    run(shapes())
    return out


async def _shape(
    out: dict[str, Any], name: str, call: Callable[[], Awaitable[None]], args: argparse.Namespace, pid: int | None
) -> None:
    for _ in range(300):  # warm the connection pools
        await call()
    before = cpu_seconds(pid) if pid else 0.0
    result: Latency = await open_loop(call, args.rate, args.seconds)
    if pid:
        requests = len(result.samples_us) + result.errors
        out["cpu_s_per_1000"][name] = (cpu_seconds(pid) - before) / requests * 1000
    out["open_loop"][name] = result.summary()
    out["closed_loop"][name] = (await closed_loop(call, args.concurrency, args.seconds / 2)).summary()


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def report(r: dict[str, Any]) -> None:
    meta = r["meta"]
    print(
        f"\nupstream {meta['upstream']}; sidecar features: {meta['features']}; {meta['apis_configured']} APIs; "
        f"{meta['cpus']} CPUs shared by everything"
    )
    seq = r["sequential"]
    print(f"\nsequential, {meta['sequential_calls']} calls each (µs)")
    print(f"{'path':<14}{'p50':>8}{'p90':>8}{'p99':>8}")
    for name, s in seq.items():
        print(f"{name:<14}{s['p50_us']:>8.0f}{s['p90_us']:>8.0f}{s['p99_us']:>8.0f}")
    ratios: dict[str, float] = {}
    for transport in ("unix", "tcp"):
        floor, side, direct = seq[f"floor_{transport}"], seq[f"sidecar_{transport}"], seq["direct"]
        ratio = (side["p50_us"] - direct["p50_us"]) / floor["p50_us"]
        ratios[f"sequential_{transport}_p50_overhead_over_floor"] = ratio
        print(
            f"  {transport}: overhead p50 {side['p50_us'] - direct['p50_us']:.0f} µs = {ratio:.2f}x the floor "
            f"(p99 overhead {side['p99_us'] - direct['p99_us']:.0f} µs)"
        )
    ol = r["open_loop"]
    print(f"\nopen loop, {meta['rate']:.0f} requests/s for {meta['seconds']:g} s, unix socket (µs)")
    print(f"{'path':<14}{'p50':>8}{'p90':>8}{'p99':>8}{'errors':>8}{'CPU s/1000':>12}")
    for name, s in ol.items():
        cpu = r["cpu_s_per_1000"].get(name)
        cpu_text = f"{cpu:>12.3f}" if cpu is not None else f"{'-':>12}"
        print(f"{name:<14}{s['p50_us']:>8.0f}{s['p90_us']:>8.0f}{s['p99_us']:>8.0f}{s['errors']:>8}{cpu_text}")
    for p in ("p50", "p90", "p99"):
        ratios[f"open_loop_{p}_overhead_us"] = ol["sidecar"][f"{p}_us"] - ol["direct"][f"{p}_us"]
    ratios["open_loop_p50_overhead_over_floor"] = ratios["open_loop_p50_overhead_us"] / ol["floor"]["p50_us"]
    print(
        f"  overhead p50/p90/p99: {ratios['open_loop_p50_overhead_us']:.0f} / {ratios['open_loop_p90_overhead_us']:.0f}"
        f" / {ratios['open_loop_p99_overhead_us']:.0f} µs; sidecar CPU "
        f"{r['cpu_s_per_1000']['sidecar']:.3f} vCPU at 1,000 requests/s"
    )
    cl = r["closed_loop"]
    print(f"\nclosed loop, concurrency {meta['concurrency']}, unix socket")
    print(f"{'path':<14}{'req/s':>8}{'p50 µs':>8}{'p99 µs':>8}")
    for name, s in cl.items():
        print(f"{name:<14}{s['rps']:>8.0f}{s['p50_us']:>8.0f}{s['p99_us']:>8.0f}")
    ratios["throughput_over_floor"] = cl["sidecar"]["rps"] / cl["floor"]["rps"]
    print(f"  sidecar throughput = {ratios['throughput_over_floor']:.2f}x the floor's")
    rss, idle = r["peak_rss_mb"], r["rss_after_start_mb"]
    print(
        f"\nRSS after start: sidecar {idle['sidecar']:.1f} MB, floor {idle['floor']:.1f} MB; "
        f"peak: sidecar {rss['sidecar']:.1f} MB, floor {rss['floor']:.1f} MB"
    )
    r["ratios"] = ratios


if __name__ == "__main__":
    sys.exit(main())
