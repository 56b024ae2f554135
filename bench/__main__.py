"""The sidecar benchmark (not a test): ``python -m bench [--quick] [--json FILE]``.

In one run, side by side, against one upstream returning 1 KB of JSON (nginx when installed):
  direct        HTTP from this process straight to the upstream (http.client / aiohttp)
  floor_grpc    the client package to a do-nothing grpc.aio server (uvloop) with the sidecar's
                service (bench/_floor.py): one local gRPC round trip, no work
  floor_raw     the same protobuf messages over a raw asyncio unix-socket server with
                length-prefixed frames (bench/_fastpath.py --floor): the cheapest local hop
  aiohttp       aiohttp's client alone at the same rate, in its own process (CPU only)
  sidecar_off   a real sidecar process (`custom-api-sidecar serve`) with every feature on but
                tracing: 50 APIs, an API key from a cached secret, arguments validated against a
                schema, the egress check, the audit stream to a file, metrics (/metrics and
                OTLP), the access log
  sidecar_on    the same with tracing exported over OTLP/gRPC to a collector
  sidecar_fast  sidecar_on's setup in a process of its own, over the prototype fast path
                (bench/_fastpath.py)
  baseline_off/_on  with --baseline DIR: sidecar_off/_on run from another checkout's sidecar/
                and client/ (e.g. ``git worktree add /tmp/base <commit>``), measured in the same
                run, so before and after are side by side
Shapes: sequential; open loop at --rate requests/s (latency from each request's scheduled
start); closed loop at --concurrency. CPU seconds per 1,000 requests (during the open loop)
and RSS come from /proc. sidecar_off and sidecar_on are measured --repeat times, interleaved.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from custom_api_client import connect, connect_async
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar.server import run

from ._fastpath import FastClient, SyncFastClient
from ._load import closed_loop, open_loop, sequential
from ._proc import cpu_seconds, peak_rss_mb, reset_peak, rss_mb
from ._upstream import BenchUpstream, free_port

SECRET_ENV = "BENCH_API_KEY"
FILLER_APIS = 49  # plus the benchmarked one: 50 APIs configured
CONVERSATION = "bench-conversation-1"
REQUEST = pb.InvokeRequest(api="bench", operation="get_item")
REQUEST.positional.add(string_value="42")
METADATA = (("x-conversation-id", CONVERSATION),)


def config_text(upstream_url: str) -> str:
    apis = [
        f"""
  - name: bench
    description: The benchmarked API
    connection:
      allow_http: true
      private_network: true
      base_url: "{upstream_url}"
      timeout_ms: 5000
      # The breaker runs on every call but never opens: an overloaded run's timeouts would
      # otherwise turn the rest of it into fast failures, and it would measure those.
      circuit_breaker: {{consecutive_failures: 1000000000, min_calls: 1000000000}}
    authentication:
      type: api_key
      config: {{header_name: X-API-Key, key: "env://{SECRET_ENV}"}}
    endpoints:
      - name: get_item
        description: Fetch one item by id
        method: GET
        path: /items/{{item_id}}
        parameters:
          - name: item_id
            in: path
            type: string
            schema: {{type: string, pattern: "^[0-9]{{1,12}}$", maxLength: 12}}"""
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
        deadline = time.monotonic() + 60
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{args[1:4]} did not start (exit code {self.proc.poll()})")
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


def _sidecar(tmp: pathlib.Path, name: str, config: pathlib.Path, env: dict[str, str]) -> tuple[Process, str, str]:
    sock, fast = tmp / f"{name}.sock", tmp / f"{name}.fast"
    admin = free_port()
    args = [sys.executable, "-m", "bench._fastpath", str(fast), "serve", "--config", str(config)]
    args += ["--listen", f"unix://{sock}", "--jobs-db", str(tmp / f"{name}.jobs"), "--grace", "1"]
    # --log-format json: the audit stream is the per-call record (to a file here), no text access line
    args += ["--log-format", "json", "--audit-file", str(tmp / f"{name}.audit.jsonl")]
    args += ["--admin-listen", f"127.0.0.1:{admin}"]
    process = Process(args, lambda: sock.exists() and fast.exists(), env=env)
    return process, f"unix://{sock}", str(fast)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="sequential calls per path (default 3000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop requests/s (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration (default 10)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2, help="open loops of sidecar_off/sidecar_on (default 2)")
    parser.add_argument("--quick", action="store_true", help="short run (smoke check)")
    parser.add_argument("--baseline", help="a checkout whose sidecar/ and client/ also run (before/after)")
    parser.add_argument("--json", default="bench/results/latest.json", help="where to write the results")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.seconds, args.repeat = 500, 2.0, 1

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
    upstream = BenchUpstream()
    started: list[Process] = []
    try:
        config = tmp / "apis.yaml"
        config.write_text(config_text(upstream.url))
        collector_port, span_count = free_port(), tmp / "spans.txt"
        collector = Process(
            [sys.executable, "-m", "bench._collector", str(collector_port), str(span_count)],
            lambda: _listening(collector_port),
        )
        started.append(collector)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env |= {
            SECRET_ENV: "bench-secret-value",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_SERVICE_NAME": "bench",
        }
        floor_sock, raw_sock = tmp / "floor.sock", tmp / "raw.sock"
        floor = Process([sys.executable, "-m", "bench._floor", f"unix://{floor_sock}"], floor_sock.exists)
        started.append(floor)
        raw = Process([sys.executable, "-m", "bench._fastpath", "--floor", str(raw_sock)], raw_sock.exists)
        started.append(raw)
        off, off_target, _ = _sidecar(tmp, "off", config, env | {"OTEL_TRACES_EXPORTER": "none"})
        started.append(off)
        on, on_target, _ = _sidecar(tmp, "on", config, env)
        started.append(on)
        # The fast path gets a process of its own: it has no flow control, so an overloaded open
        # loop over it leaves thousands of calls queued in the sidecar (see README).
        fast, _, fast_socket = _sidecar(tmp, "fast", config, env)
        started.append(fast)
        baseline: dict[str, tuple[Process, str]] = {}
        if args.baseline:
            root = pathlib.Path(args.baseline).resolve()
            pythonpath = f"{root / 'sidecar'}:{root / 'client'}:{pathlib.Path.cwd()}"
            for name, extra in (("baseline_off", {"OTEL_TRACES_EXPORTER": "none"}), ("baseline_on", {})):
                process, target, _ = _sidecar(tmp, name, config, env | extra | {"PYTHONPATH": pythonpath})
                started.append(process)
                baseline[name] = (process, target)
        time.sleep(2)  # start-up work (validator warm-up) settles
        rss = {"sidecar_off": rss_mb(off.pid), "sidecar_on": rss_mb(on.pid), "floor_grpc": rss_mb(floor.pid)}
        rss["sidecar_fast"] = rss_mb(fast.pid)
        rss |= {name: rss_mb(process.pid) for name, (process, _) in baseline.items()}
        paths = {
            "direct": _direct(upstream.url),
            "floor_grpc": _grpc(f"unix://{floor_sock}", floor.pid),
            "floor_raw": _fast(str(raw_sock), raw.pid),
            "sidecar_off": _grpc(off_target, off.pid),
            "sidecar_on": _grpc(on_target, on.pid),
            "sidecar_fast": _fast(fast_socket, fast.pid),
            **{name: _grpc(target, process.pid) for name, (process, target) in baseline.items()},
        }
        results = measure(args, paths, upstream.url)
        results["rss_after_start_mb"] = rss
        results["peak_rss_mb"] = {"sidecar_off": peak_rss_mb(off.pid), "sidecar_on": peak_rss_mb(on.pid)}
        results["peak_rss_mb"]["sidecar_fast"] = peak_rss_mb(fast.pid)
        results["peak_rss_mb"] |= {name: peak_rss_mb(process.pid) for name, (process, _) in baseline.items()}
        results["meta"] = {
            "upstream": upstream.kind,
            "apis_configured": FILLER_APIS + 1,
            "cpus": os.cpu_count(),
            "rate": args.rate,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "sequential_calls": args.calls,
            "repeat": args.repeat,
        }
    finally:
        for process in reversed(started):
            process.stop()
        upstream.close()
    results["spans_exported"] = int(span_count.read_text()) if span_count.exists() else None
    report(results)
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


class Path:
    """One way of making the benchmark's call: sync and async, and whose CPU to count."""

    def __init__(
        self,
        sync: Callable[[], Callable[[], object]],
        make_async: Callable[[], Callable[[], Awaitable[object]]],
        pid: int | None = None,
    ) -> None:
        self.sync, self.make_async, self.pid = sync, make_async, pid


def _direct(url: str) -> Path:
    host, port = url.removeprefix("http://").split(":")

    def sync() -> Callable[[], object]:
        conn = http.client.HTTPConnection(host, int(port))

        def call() -> object:
            conn.request("GET", "/items/42")
            response = conn.getresponse()
            return response.read()

        return call

    def make_async() -> Callable[[], Awaitable[object]]:
        session = aiohttp.ClientSession()

        async def call() -> object:
            async with session.get(f"{url}/items/42") as response:
                return await response.read()

        return call

    return Path(sync, make_async)


def _grpc(target: str, pid: int) -> Path:
    def sync() -> Callable[[], object]:
        fn = connect(target, conversation_id=CONVERSATION).api.bench.get_item
        return lambda: fn("42").content

    def make_async() -> Callable[[], Awaitable[object]]:
        op = connect_async(target, conversation_id=CONVERSATION).api.bench.get_item

        async def call() -> object:
            (await op("42")).raise_for_status()
            return None

        return call

    return Path(sync, make_async, pid)


def _fast(path: str, pid: int) -> Path:
    def sync() -> Callable[[], object]:
        client = SyncFastClient(path)
        return lambda: client.invoke(REQUEST, METADATA, 301.0).body

    def make_async() -> Callable[[], Awaitable[object]]:
        client = FastClient(path)

        async def call() -> object:
            reply = await client.invoke(REQUEST, METADATA, 301.0)
            assert reply.status_code == 200
            return None

        return call

    return Path(sync, make_async, pid)


def measure(args: argparse.Namespace, paths: dict[str, Path], upstream_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"sequential": {}, "open_loop": {}, "closed_loop": {}, "cpu_s_per_1000": {}}
    for name, path in paths.items():
        out["sequential"][name] = sequential(path.sync(), args.calls).summary()
    aiohttp_alone = subprocess.run(
        [sys.executable, "-m", "bench._aiohttp_alone", f"{upstream_url}/items/42", str(args.rate), str(args.seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    alone = json.loads(aiohttp_alone.stdout)
    out["cpu_s_per_1000"]["aiohttp"] = alone["cpu_s_per_1000"]
    out["open_loop"]["aiohttp"] = {k: v for k, v in alone.items() if k != "cpu_s_per_1000"}

    async def shapes() -> None:
        calls = {name: path.make_async() for name, path in paths.items()}
        for call in calls.values():
            for _ in range(300):  # warm the connections and pools
                await call()
        pairs = [("sidecar_off", "sidecar_on"), ("baseline_off", "baseline_on")]
        paired = [name for pair in pairs for name in pair if name in paths]
        order = [n for n in paths if n not in paired]
        order[3:3] = [name for _ in range(args.repeat) for name in paired]  # interleaved: drift hits all alike
        runs: dict[str, list[dict[str, float]]] = {}
        for name in order:
            pid = paths[name].pid
            before = cpu_seconds(pid) if pid else 0.0
            result = await open_loop(calls[name], args.rate, args.seconds)
            summary = result.summary()
            if pid:
                summary["cpu_s_per_1000"] = (
                    (cpu_seconds(pid) - before) / (len(result.samples_us) + result.errors) * 1000
                )
            runs.setdefault(name, []).append(summary)
        for name, summaries in runs.items():
            out["open_loop"][name] = _median(summaries)
            if len(summaries) > 1:
                out["open_loop"][name]["runs"] = summaries
            if "cpu_s_per_1000" in summaries[0]:
                out["cpu_s_per_1000"][name] = out["open_loop"][name]["cpu_s_per_1000"]
        for prefix in ("sidecar", "baseline"):
            if f"{prefix}_on" in runs:
                both = zip(runs[f"{prefix}_on"], runs[f"{prefix}_off"], strict=True)
                key = "p99_on_over_off_runs" if prefix == "sidecar" else "baseline_p99_on_over_off_runs"
                out[key] = [on["p99_us"] / off["p99_us"] for on, off in both]
        for path in paths.values():
            if path.pid:
                reset_peak(path.pid)  # the peak reported is the closed loop's, not an overloaded open loop's
        for name, call in calls.items():
            out["closed_loop"][name] = (await closed_loop(call, args.concurrency, args.seconds / 2)).summary()

    run(shapes())
    return out


def _median(summaries: list[dict[str, float]]) -> dict[str, Any]:
    return {key: statistics.median(s[key] for s in summaries) for key in summaries[0]}


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
        f"\nupstream {meta['upstream']}; {meta['apis_configured']} APIs; {meta['cpus']} CPUs shared by everything; "
        "sidecar features: api_key auth, validation, egress check, audit stream (file), "
        "metrics (/metrics + OTLP); tracing exported in sidecar_on and sidecar_fast"
    )
    seq, ol, cl, cpu = r["sequential"], r["open_loop"], r["closed_loop"], r["cpu_s_per_1000"]
    print(
        f"\n{'path':<14}{'seq p50':>9}{'seq p99':>9}  |{'open p50':>10}{'p90':>10}{'p99':>10}{'errors':>7}"
        f"{'CPU s/1000':>11}  |{'closed rps':>11}"
    )
    names = ["direct", "floor_grpc", "floor_raw", "aiohttp", "sidecar_off", "sidecar_on", "sidecar_fast"]
    for name in [*names, *(n for n in ("baseline_off", "baseline_on") if n in seq)]:
        s, o, c = seq.get(name), ol.get(name), cl.get(name)
        seq_text = f"{s['p50_us']:>9.0f}{s['p99_us']:>9.0f}" if s else f"{'-':>9}{'-':>9}"
        cpu_text = f"{cpu[name]:>11.3f}" if name in cpu else f"{'-':>11}"
        ol_text = (
            f"{o['p50_us']:>10.0f}{o['p90_us']:>10.0f}{o['p99_us']:>10.0f}{o['errors']:>7.0f}" if o else f"{'-':>37}"
        )
        cl_text = f"{c['rps']:>11.0f}" if c else f"{'-':>11}"
        print(f"{name:<14}{seq_text}  |{ol_text}{cpu_text}  |{cl_text}")
    direct = seq["direct"]["p50_us"]
    ratios = {
        "seq_p50_overhead_over_floor_grpc": (seq["sidecar_on"]["p50_us"] - direct) / seq["floor_grpc"]["p50_us"],
        "seq_p50_overhead_over_floor_grpc_tracing_off": (seq["sidecar_off"]["p50_us"] - direct)
        / seq["floor_grpc"]["p50_us"],
        "seq_p50_fast_overhead_over_floor_grpc": (seq["sidecar_fast"]["p50_us"] - direct) / seq["floor_grpc"]["p50_us"],
        # the median of the interleaved pairs' ratios: each pair ran back to back, so drift cancels
        "open_p99_on_over_off": statistics.median(r["p99_on_over_off_runs"]),
        "tracing_cpu_s_per_1000": cpu["sidecar_on"] - cpu["sidecar_off"],
        "cpu_grpc_over_fast": cpu["sidecar_on"] / cpu["sidecar_fast"],
        "cpu_sidecar_on_over_floor_grpc": cpu["sidecar_on"] / cpu["floor_grpc"],
        "closed_rps_on_over_floor_grpc": cl["sidecar_on"]["rps"] / cl["floor_grpc"]["rps"],
    }
    r["ratios"] = ratios
    runs = ", ".join(f"{x:.2f}" for x in r["p99_on_over_off_runs"])
    print(
        f"\nsequential p50 overhead (sidecar - direct) / floor_grpc: tracing on "
        f"{ratios['seq_p50_overhead_over_floor_grpc']:.2f}x, "
        f"off {ratios['seq_p50_overhead_over_floor_grpc_tracing_off']:.2f}x, "
        f"fast path {ratios['seq_p50_fast_overhead_over_floor_grpc']:.2f}x (target <= 1.3x)"
    )
    print(f"open loop p99 tracing on / off: {ratios['open_p99_on_over_off']:.2f} (runs: {runs}; target <= 1.5)")
    print(
        f"CPU s/1000: tracing costs {ratios['tracing_cpu_s_per_1000']:.3f} (target <= 0.1); sidecar_on "
        f"{cpu['sidecar_on']:.3f} over gRPC (target <= 0.6), {cpu['sidecar_fast']:.3f} over the fast path "
        f"(= {ratios['cpu_grpc_over_fast']:.2f}x less; landing needs >= 2x)"
    )
    rss, peak = r["rss_after_start_mb"], r["peak_rss_mb"]
    print(
        f"RSS after start: sidecar_on {rss['sidecar_on']:.1f} MB, sidecar_off {rss['sidecar_off']:.1f} MB "
        f"(target <= 50), floor_grpc {rss['floor_grpc']:.1f} MB; peak during the closed loop: "
        f"sidecar_on {peak['sidecar_on']:.1f} MB, sidecar_off {peak['sidecar_off']:.1f} MB"
    )
    if "baseline_on" in seq:
        base_runs = ", ".join(f"{x:.2f}" for x in r["baseline_p99_on_over_off_runs"])
        ratios["baseline_open_p99_on_over_off"] = statistics.median(r["baseline_p99_on_over_off_runs"])
        ratios["baseline_tracing_cpu_s_per_1000"] = cpu["baseline_on"] - cpu["baseline_off"]
        print(
            f"baseline (before): CPU s/1000 on {cpu['baseline_on']:.3f}, off {cpu['baseline_off']:.3f}; "
            f"p99 on / off {ratios['baseline_open_p99_on_over_off']:.2f} (runs: {base_runs}); RSS after start "
            f"{rss['baseline_on']:.1f} MB, peak {peak['baseline_on']:.1f} MB; sequential p50 overhead "
            f"{(seq['baseline_on']['p50_us'] - direct) / seq['floor_grpc']['p50_us']:.2f}x the floor"
        )
    print(f"spans received by the collector: {r['spans_exported']}")


if __name__ == "__main__":
    sys.exit(main())
