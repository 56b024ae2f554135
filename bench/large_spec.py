"""A big spec through every command that reads it (not a test): ``python -m bench.large_spec``.

The spec is generated (``tests/specs/scale_spec.py``): the size and shape of the largest
public APIs, about 13 MB of JSON and 1,200 operations at the default ``--operations 1200``.
Each command runs in a process of its own, ``--repeat`` times (the median is reported), and
is measured by wall-clock time, CPU time (on a shared machine the steadier number) and peak RSS
(VmHWM: from /proc for serve, which keeps running; wait4's ru_maxrss, the same number, for
commands that exit). ``--spec FILE`` measures a spec of your own instead.

  import           custom-api-sidecar import-openapi SPEC --name big -o apis.yaml
  validate         custom-api-sidecar validate apis.yaml --offline
  serve            custom-api-sidecar serve --config apis.yaml, until it prints "listening on";
                   then RSS once the background validator warm-up is done, and the first
                   DescribeApi over gRPC (what ``conv.api.tools()`` asks for)
  validate (spec)  / serve (spec): the same with a config that imports the spec at load
                   (``openapi: {spec: ...}``)
  tools            custom-api-sidecar tools --config apis.yaml --format openai|anthropic|mcp:
                   every tool name unique and at most 64 characters

Also: how close the generated config is to the loader's bounds (values after aliases, depth).
Targets (issue 21): import under 5 s; validate and serve start under 5 s with peak RSS under
200 MB; tool names unique and at most 64 characters in every format.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from custom_api_sidecar.loader._read import MAX_DEPTH, MAX_VALUES, document_sizes

from ._proc import cpu_seconds, peak_rss_mb, rss_mb

REPO = pathlib.Path(__file__).resolve().parents[1]
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
FORMATS = ("openai", "anthropic", "mcp")
TARGET_SECONDS, TARGET_MB = 5.0, 200.0


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "custom_api_sidecar", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(REPO / "sidecar"), str(REPO / "client"), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


# A small process that starts the measured command and reports what wait4 says of it. Not this
# one: a process's peak RSS (ru_maxrss) starts from the memory of the process that started it
# (the kernel keeps the old image's high-water mark across exec), and this one holds the spec.
_SPAWN = """
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} "
              f"{usage.ru_utime + usage.ru_stime}")
"""


def run_once(args: list[str], stdout: Any = subprocess.DEVNULL) -> tuple[float, float, int, float]:
    """(seconds, peak RSS in MB, exit code, CPU seconds) of a command that exits."""
    with tempfile.NamedTemporaryFile("r", suffix=".usage") as usage:
        subprocess.run(
            [sys.executable, "-c", _SPAWN, usage.name, *args], stdout=stdout, stderr=subprocess.DEVNULL, env=_env()
        )
        seconds, maxrss_kb, code, cpu = usage.read().split()
    return float(seconds), int(maxrss_kb) / 1024, int(code), float(cpu)


def measure(name: str, args: list[str], repeat: int, stdout_file: pathlib.Path | None = None) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        if stdout_file is not None:
            with stdout_file.open("wb") as out:
                runs.append(run_once(args, out))
        else:
            runs.append(run_once(args))
    failed = [r[2] for r in runs if r[2] != 0]
    if failed:
        raise RuntimeError(f"{name}: exit code {failed[0]} ({' '.join(args[2:5])} ...)")
    return _summary(name, [r[0] for r in runs], [r[1] for r in runs], [r[3] for r in runs])


def _summary(name: str, seconds: list[float], peaks: list[float], cpu: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "seconds": statistics.median(seconds),
        "cpu_seconds": statistics.median(cpu),
        "peak_rss_mb": statistics.median(peaks),
        "runs_seconds": [round(s, 3) for s in seconds],
        **extra,
    }


def serve_once(config: pathlib.Path, tmp: pathlib.Path) -> dict[str, float]:
    """Start serve; time until "listening on" and VmHWM then; RSS after the warm-up; the first DescribeApi."""
    sock = tmp / f"serve-{time.monotonic_ns()}.sock"
    args = cli("serve", "--config", str(config), "--listen", f"unix://{sock}", "--grace", "1")
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(), text=True)
    out: dict[str, float] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                out["seconds"] = time.perf_counter() - started
                out["cpu_seconds"] = cpu_seconds(proc.pid)
                out["peak_rss_mb"] = peak_rss_mb(proc.pid)
                break
        else:
            raise RuntimeError(f"serve exited with {proc.wait()} before listening")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        out["warmup_seconds"] = _until_idle(proc.pid) - (started + out["seconds"])
        out["rss_after_warmup_mb"] = rss_mb(proc.pid)
        out["peak_after_warmup_mb"] = peak_rss_mb(proc.pid)
        out.update(_describe(f"unix://{sock}"))
        out["peak_after_describe_mb"] = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return out


def _until_idle(pid: int, quiet: float = 1.0, limit: float = 300.0) -> float:
    """When (``perf_counter``) the process went quiet: no more than 5% of a CPU for ``quiet`` s."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before = cpu_seconds(pid)
        time.sleep(quiet)
        if cpu_seconds(pid) - before < 0.05 * quiet:
            return time.perf_counter() - quiet
    raise RuntimeError("serve kept busy for five minutes after start")


def _describe(target: str) -> dict[str, float]:
    """The first DescribeApi and tool list over gRPC, as an agent's ``conv.api.tools()`` asks."""
    from custom_api_client import connect

    started = time.perf_counter()
    try:
        with connect(target) as conv:
            tools = conv.api.tools("openai")
    except Exception as exc:  # reported, not fatal: the other numbers still stand
        return {"describe_seconds": time.perf_counter() - started, "describe_error": str(exc)[:300]}  # type: ignore[dict-item]
    return {"describe_seconds": time.perf_counter() - started, "describe_tools": float(len(tools))}


def measure_serve(name: str, config: pathlib.Path, tmp: pathlib.Path, repeat: int) -> dict[str, Any]:
    runs = [serve_once(config, tmp) for _ in range(repeat)]
    measured = ("seconds", "peak_rss_mb", "cpu_seconds")
    extra = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in (*measured, "describe_error")}
    if any("describe_error" in r for r in runs):
        extra["describe_error"] = next(r["describe_error"] for r in runs if "describe_error" in r)
    seconds, peaks, cpu = ([r[k] for r in runs] for k in measured)
    return _summary(name, seconds, peaks, cpu, **extra)


def check_tools(path: pathlib.Path, fmt: str, operations: int) -> dict[str, Any]:
    tools = json.loads(path.read_text())
    names = [t["function"]["name"] if fmt == "openai" else t["name"] for t in tools]
    bad = [n for n in names if not TOOL_NAME.match(n)]
    return {
        "tools": len(tools),
        "unique": len(set(names)) == len(names) == operations,
        "longest_name": max(map(len, names)),
        "invalid_names": bad[:3],
        "output_mb": path.stat().st_size / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1200, help="operations in the generated spec (1200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the median is reported (3)")
    parser.add_argument("--spec", help="measure this spec file instead of a generated one")
    parser.add_argument("--json", default="bench/results/large_spec.json", help="where to write the results")
    args = parser.parse_args()

    from tests.specs import scale_spec

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-large-spec-"))
    spec = (
        pathlib.Path(args.spec).resolve()
        if args.spec
        else scale_spec.write(tmp / "large-openapi.json", args.operations)
    )
    results: dict[str, Any] = {"spec": {"path": spec.name, "mb": spec.stat().st_size / 1e6}}
    config = tmp / "apis.yaml"
    print(f"spec: {spec.name}, {spec.stat().st_size / 1e6:.2f} MB; {os.cpu_count()} CPUs shared with everything else")

    steps: list[dict[str, Any]] = []
    steps.append(
        measure("import", cli("import-openapi", str(spec), "--name", "big", "-o", str(config), "--force"), args.repeat)
    )
    values, depth = document_sizes(config.read_text(), json_file=False)[0]
    results["config"] = {"mb": config.stat().st_size / 1e6, "values": values, "depth": depth}
    results["config"] |= {"max_values": MAX_VALUES, "max_depth": MAX_DEPTH}
    operations = sum(1 for _ in scale_spec.operations_of(json.loads(spec.read_text())))
    at_load = tmp / "at-load.yaml"  # the spec imported at load; spec files may be read from the config's directory
    if not (tmp / spec.name).exists():
        shutil.copy(spec, tmp / spec.name)
    at_load.write_text(f"apis:\n  - name: big\n    openapi: {{spec: {spec.name}}}\n")

    steps.append(measure("validate", cli("validate", str(config), "--offline"), args.repeat))
    steps.append(measure("validate (spec)", cli("validate", str(at_load), "--offline"), args.repeat))
    steps.append(measure_serve("serve", config, tmp, args.repeat))
    steps.append(measure_serve("serve (spec)", at_load, tmp, args.repeat))
    results["tools"] = {}
    for fmt in FORMATS:
        out = tmp / f"tools-{fmt}.json"
        step = measure(f"tools {fmt}", cli("tools", "--config", str(config), "--format", fmt), args.repeat, out)
        results["tools"][fmt] = check_tools(out, fmt, operations)
        steps.append(step | results["tools"][fmt])
    results["steps"] = steps
    report(results, operations)
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0 if _all_met(results) else 1


def _met(step: dict[str, Any]) -> bool:
    if step["name"] == "import":
        return bool(step["seconds"] < TARGET_SECONDS)
    if step["name"].startswith(("validate", "serve")):
        return bool(step["seconds"] < TARGET_SECONDS and step["peak_rss_mb"] < TARGET_MB)
    return bool(step.get("unique") and step.get("longest_name", 99) <= 64 and not step.get("invalid_names"))


def _all_met(results: dict[str, Any]) -> bool:
    return all(_met(step) for step in results["steps"])


def report(results: dict[str, Any], operations: int) -> None:
    config = results["config"]
    print(
        f"generated config: {config['mb']:.1f} MB, {operations} operations; {config['values']:,} values after "
        f"aliases ({config['values'] / config['max_values']:.0%} of the loader's {config['max_values']:,}), "
        f"depth {config['depth']} (bound {config['max_depth']})"
    )
    print(f"\n{'step':<18}{'seconds':>9}{'CPU s':>7}{'peak MB':>9}  target  runs (s)")
    for step in results["steps"]:
        ok = "met" if _met(step) else "MISSED"
        runs = ", ".join(f"{s:.2f}" for s in step["runs_seconds"])
        print(
            f"{step['name']:<18}{step['seconds']:>9.2f}{step['cpu_seconds']:>7.2f}{step['peak_rss_mb']:>9.0f}  "
            f"{ok:<6}  {runs}"
        )
    for step in results["steps"]:
        if step["name"].startswith("serve"):
            described = (
                f"failed: {step['describe_error']}"
                if "describe_error" in step
                else f"{step['describe_tools']:.0f} tools in {step['describe_seconds']:.2f} s"
            )
            print(
                f"{step['name']}: warm-up done {step['warmup_seconds']:.1f} s after listening, RSS then "
                f"{step['rss_after_warmup_mb']:.0f} MB (peak {step['peak_after_warmup_mb']:.0f}); first "
                f"DescribeApi: {described}, peak after {step['peak_after_describe_mb']:.0f} MB"
            )
    for fmt, tools in results["tools"].items():
        print(
            f"tools {fmt}: {tools['tools']} tools, names unique: {tools['unique']}, longest {tools['longest_name']} "
            f"characters, {tools['output_mb']:.1f} MB of JSON"
        )


if __name__ == "__main__":
    sys.exit(main())
