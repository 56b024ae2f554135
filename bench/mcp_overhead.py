"""What the MCP path costs per call against gRPC (not a test): ``python -m bench.mcp_overhead [--calls N]``.

One ``custom-api-sidecar serve`` process (uvloop, as deployed) with gRPC on a unix socket and
loopback TCP and the MCP listener (``--mcp-listen``), one upstream (bench/_upstream.py: nginx
when installed, 1 KB of JSON), one run. Sequential calls of the same operation, interleaved in
blocks so drift hits every path alike:

- ``grpc_unix`` / ``grpc_tcp``: the asyncio client package (``connect_async``), as an agent calls;
- ``mcp_http``: the MCP SDK's ``ClientSession`` over Streamable HTTP to the same sidecar;
- ``mcp_http_raw``: the same requests as hand-written JSON-RPC over one keep-alive httpx
  connection, so the server's share of the MCP cost shows apart from the SDK client's;
- ``mcp_stdio``: the SDK client over stdio to a ``custom-api-sidecar mcp`` process (its own
  sidecar, same config).

Every path runs the same pipeline (binding, the upstream call, the access log off); the
differences are the protocol stacks on both ends. Besides latency, the CPU time the serving
process spent per call (from /proc), which a shared machine's load disturbs less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from custom_api_client import connect_async

from ._load import Latency
from ._proc import cpu_seconds
from ._upstream import BenchUpstream, free_port, wait_for_port

TOOL = "bench__get_item"
PATHS = ("grpc_unix", "grpc_tcp", "mcp_http", "mcp_http_raw", "mcp_stdio")


def config_text(upstream_url: str) -> str:
    return f"""
apis:
  - name: bench
    description: The benchmark upstream
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}"}}
    endpoints:
      - name: get_item
        method: GET
        path: /items/{{item_id}}
        parameters: [{{name: item_id, in: path, type: string}}]
        response_schema: {{type: object}}
"""


class RawMcp:
    """JSON-RPC over one keep-alive connection, without the SDK: the server's cost alone."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=30)
        self._headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        self._id = 0

    async def open(self) -> None:
        init = await self._post(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
        )
        self._headers |= {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        (await self._client.post(self._url, headers=self._headers, json=note)).raise_for_status()

    async def call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        response = await self._post("tools/call", {"name": TOOL, "arguments": arguments})
        return response.json()["result"]

    async def _post(self, method: str, params: dict[str, Any]) -> httpx.Response:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        response = await self._client.post(self._url, headers=self._headers, json=body)
        response.raise_for_status()
        return response

    async def aclose(self) -> None:
        await self._client.aclose()


async def measure(
    calls: int,
    block: int,
    warmup: int,
    serve_pid: int,
    targets: tuple[str, str, str],
    config: pathlib.Path,
    env: dict[str, str],
) -> tuple[dict[str, Latency], dict[str, float]]:
    """Latencies per path, and the serving process's CPU microseconds per call."""
    unix, tcp, mcp_url = targets
    stdio = StdioServerParameters(
        command=sys.executable,
        args=["-m", "custom_api_sidecar", "mcp", "--config", str(config), "--log-level", "WARNING"],
        env=env,
    )
    raw = RawMcp(mcp_url)
    await raw.open()
    with open(os.devnull, "w") as devnull:
        async with (
            connect_async(unix) as conv_unix,
            connect_async(tcp) as conv_tcp,
            streamable_http_client(mcp_url) as (http_read, http_write),
            ClientSession(http_read, http_write) as over_http,
            stdio_client(stdio, errlog=devnull) as (stdio_read, stdio_write),
            ClientSession(stdio_read, stdio_write) as over_stdio,
        ):
            await over_http.initialize()
            await over_stdio.initialize()

            async def grpc(conv: Any) -> None:
                response = await conv.api.bench.get_item("42")
                assert response.status_code == 200

            async def mcp(session: ClientSession) -> None:
                result = await session.call_tool(TOOL, {"item_id": "42"})
                assert not result.is_error and result.content[0].text == "HTTP 200 OK"

            async def mcp_raw() -> None:
                result = await raw.call({"item_id": "42"})
                assert not result["isError"]

            ops: dict[str, Callable[[], Awaitable[None]]] = {
                "grpc_unix": lambda: grpc(conv_unix),
                "grpc_tcp": lambda: grpc(conv_tcp),
                "mcp_http": lambda: mcp(over_http),
                "mcp_http_raw": mcp_raw,
                "mcp_stdio": lambda: mcp(over_stdio),
            }
            for op in ops.values():
                for _ in range(warmup):
                    await op()
            stdio_pid = _child_pid(os.getpid(), "mcp")
            samples: dict[str, list[float]] = {name: [] for name in PATHS}
            cpu = dict.fromkeys(PATHS, 0.0)
            done = 0
            while done < calls:
                n = min(block, calls - done)
                for name in PATHS:
                    op = ops[name]
                    pid = stdio_pid if name == "mcp_stdio" else serve_pid
                    cpu_before = cpu_seconds(pid)
                    for _ in range(n):
                        start = time.perf_counter()
                        await op()
                        samples[name].append((time.perf_counter() - start) * 1e6)
                    cpu[name] += cpu_seconds(pid) - cpu_before
                done += n
    await raw.aclose()
    return {name: Latency(values) for name, values in samples.items()}, {n: s / calls * 1e6 for n, s in cpu.items()}


def _child_pid(parent: int, argument: str) -> int:
    """The child process of ``parent`` with ``argument`` on its command line (the stdio server)."""
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat[1]) == parent and argument.encode() in argv:
                return int(entry.name)
    raise RuntimeError(f"no child process running {argument!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per path (default 2000)")
    parser.add_argument("--block", type=int, default=100, help="calls per path before switching to the next")
    parser.add_argument("--warmup", type=int, default=200, help="calls per path before measuring (default 200)")
    args = parser.parse_args()

    upstream = BenchUpstream()
    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as tmp:
        config = pathlib.Path(tmp, "apis.yaml")
        config.write_text(config_text(upstream.url))
        sock, port = f"{tmp}/sidecar.sock", free_port()
        env = {**os.environ, "OTEL_SDK_DISABLED": "true"}
        out = pathlib.Path(tmp, "serve.out")
        with out.open("w") as sink:
            serve = subprocess.Popen(
                [
                    *(sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(config)),
                    *("--listen", f"unix://{sock}", "--listen", f"127.0.0.1:{port}", "--log-level", "WARNING"),
                    *("--jobs-db", f"{tmp}/jobs.sqlite3", "--mcp-listen", "127.0.0.1:0"),
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            deadline = time.monotonic() + 60
            while not (found := re.search(r"mcp: Streamable HTTP on (http://\S+/mcp)", out.read_text())):
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the sidecar did not start:\n{out.read_text()}")
                time.sleep(0.05)
            wait_for_port(port)
            targets = (f"unix://{sock}", f"127.0.0.1:{port}", found[1])
            latency, cpu = asyncio.run(measure(args.calls, args.block, args.warmup, serve.pid, targets, config, env))
        finally:
            serve.terminate()
            serve.wait(30)
            upstream.close()
    summary = {name: latency[name].summary() for name in PATHS}
    base = summary["grpc_tcp"]  # the same kind of socket as MCP over HTTP
    print(
        json.dumps(
            {
                "calls_per_path": args.calls,
                "upstream": upstream.kind,
                "cpus": os.cpu_count(),
                "p50_us": {name: round(s["p50_us"]) for name, s in summary.items()},
                "p90_us": {name: round(s["p90_us"]) for name, s in summary.items()},
                "p99_us": {name: round(s["p99_us"]) for name, s in summary.items()},
                "p50_vs_grpc_tcp": {name: round(s["p50_us"] / base["p50_us"], 2) for name, s in summary.items()},
                "p99_vs_grpc_tcp": {name: round(s["p99_us"] / base["p99_us"], 2) for name, s in summary.items()},
                "p50_overhead_vs_grpc_tcp_us": {n: round(s["p50_us"] - base["p50_us"]) for n, s in summary.items()},
                "server_cpu_us_per_call": {name: round(value) for name, value in cpu.items()},
                "server_cpu_vs_grpc_tcp": {name: round(value / cpu["grpc_tcp"], 2) for name, value in cpu.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
