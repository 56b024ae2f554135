"""Where a loaded sidecar spends its CPU (not a test): ``python -m bench.profile [--rate 800] [--seconds 10]``.

Starts the benchmark's upstream, collector and the tracing-on sidecar (``bench/__main__.py``),
drives it with an open loop over gRPC (or ``--fast``), samples it with py-spy
(``pip install py-spy``; Python frames only) and prints the top functions by own time and by
inclusive time, as shares of the samples.
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from custom_api_sidecar.server import run

from . import __main__ as bench
from ._load import open_loop
from ._proc import cpu_seconds
from ._upstream import BenchUpstream, free_port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=800.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--tracing", choices=("on", "off"), default="on")
    parser.add_argument("--fast", action="store_true", help="drive the prototype fast path instead of gRPC")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-profile-"))
    upstream = BenchUpstream()
    started: list[bench.Process] = []
    try:
        config = tmp / "apis.yaml"
        config.write_text(bench.config_text(upstream.url))
        port = free_port()
        started.append(
            bench.Process(
                [sys.executable, "-m", "bench._collector", str(port), str(tmp / "n")], lambda: bench._listening(port)
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env |= {bench.SECRET_ENV: "x", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
        env |= {"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_SERVICE_NAME": "bench"}
        if args.tracing == "off":
            env["OTEL_TRACES_EXPORTER"] = "none"
        sidecar, target, fast = bench._sidecar(tmp, "profiled", config, env)
        started.append(sidecar)
        path = bench._fast(fast, sidecar.pid) if args.fast else bench._grpc(target, sidecar.pid)
        raw = tmp / "stacks.txt"

        async def load() -> None:
            call = path.make_async()
            for _ in range(300):
                await call()
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(sidecar.pid),
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--duration",
                    str(int(args.seconds)),
                    "--rate",
                    "200",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            before = cpu_seconds(sidecar.pid)
            result = await open_loop(call, args.rate, args.seconds)
            cpu = (cpu_seconds(sidecar.pid) - before) / (len(result.samples_us) + result.errors) * 1000
            summary = result.summary()
            print(f"sidecar CPU {cpu:.3f} s/1000 calls; p50 {summary['p50_us']:.0f} µs, p99 {summary['p99_us']:.0f} µs")
            spy.wait(30)

        run(load())
    finally:
        for process in reversed(started):
            process.stop()
        upstream.close()
    summarize(raw.read_text().splitlines(), args.top)
    return 0


def summarize(lines: list[str], top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} samples")
    print("\ntop by own time")
    for frame, count in own.most_common(top):
        print(f"{100 * count / total:6.1f}%  {frame}")
    print("\ntop by inclusive time")
    for frame, count in inclusive.most_common(top):
        print(f"{100 * count / total:6.1f}%  {frame}")


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``: lines merged per function."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    parts = pathlib.Path(file).parts
    return f"{name} ({'/'.join(parts[-2:])})"


if __name__ == "__main__":
    sys.exit(main())
