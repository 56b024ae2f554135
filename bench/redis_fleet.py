"""What fleet mode costs, and how far one Redis carries a fleet (not a test):
``python -m bench.redis_fleet [--calls N] [--requests N] [--seconds S]``.

Starts its own redis-server (Debian package) on a free loopback port, then, in one run:

1. **Rate limits**: N sequential calls through an in-process Sidecar (``Sidecar.handle``, an
   in-memory upstream, so only the pipeline is measured) for an API with a local limit and
   one with a fleet limit, interleaved in blocks; added latency p50/p99, and Redis round
   trips per call counted twice: by the sidecar and by Redis itself (INFO commandstats).
2. **Tokens**: N calls to an OAuth2 API (npm oauth2-mock-server) with the token shared
   through Redis; Redis commands during those calls (expected: none, the token is in
   memory), and the round trips per token lifetime for the sidecar that fetches and for
   one that adopts the shared token.
3. **Redis throughput** for those scripts on this machine: ``redis-benchmark`` (50
   clients) running the sliding-window script (admitting, and refusing) and GET (the
   token read), single Redis, default config.
4. **Scale-out**, side by side: a Redis Cluster with 1 primary (all 16384 slots) and one with 3
   primaries (no replicas, so only sharding differs), each driven by the same ``--processes``
   client processes for ``--seconds``: limited calls/s (the fleet limit check, ``FleetLimits.acquire``,
   over 12 APIs whose hash tags spread over the shards, 32 concurrent per process) and jobs/s
   (``RedisJobStore``: add, claim, finish; 6 job shards; 8 producers and 8 claimers of 10 per process;
   jobs/s counts finished jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from typing import Any

import httpx
import redis

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar import Sidecar, parse_config
from custom_api_sidecar.fleet.rate_limit import SLIDING_WINDOW, FleetLimits
from custom_api_sidecar.pipeline import Call
from tests._support.oauth2_server import OAuth2MockServer
from tests._support.processes import RedisServer
from tests._support.redis_topologies import PlainCluster

RESULTS = pathlib.Path(__file__).with_name("results") / "redis_fleet.json"


def config(redis_url: str, token_url: str) -> str:
    return f"""
redis: {{url: "{redis_url}", token_key: "env://BENCH_TOKEN_KEY", job_key: "env://BENCH_JOB_KEY", timeout_ms: 100}}
apis:
  - name: local_limit
    connection: {{base_url: "https://local.example.com"}}
    endpoints: [{{name: get, method: GET, path: /x}}]
    security: {{rate_limit: {{requests_per_minute: 1000000000}}}}
  - name: oauth
    connection: {{base_url: "https://oauth.example.com", allow_http: true, private_network: true}}
    authentication:
      type: oauth2
      config: {{token_url: "{token_url}", client_id: bench, client_secret: "env://BENCH_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /x}}]
"""


def commandstats(client: redis.Redis) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in client.info("commandstats").items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    changed = {k: after[k] - before.get(k, 0) for k in after}
    return {k: v for k, v in changed.items() if v and k not in ("info", "ping")}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure_calls(sidecar: Sidecar, api: str, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        response = await sidecar.handle(Call(request=pb.InvokeRequest(api=api, operation="get")))
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return out


async def run_pipeline(redis_url: str, issuer: OAuth2MockServer, calls: int) -> dict[str, Any]:
    token_url = issuer.token_url
    client = redis.Redis.from_url(redis_url)

    def transport(api: Any, egress: Any) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))

    text = config(redis_url, token_url)
    first = Sidecar(parse_config(text), transport_factory=transport)
    await first.start()
    second = Sidecar(parse_config(text), transport_factory=transport)  # a second sidecar of the same fleet
    await second.start()
    hits_by_fleet = issuer.hits
    alone = Sidecar(parse_config(text.split("\n", 2)[2]), transport_factory=transport)  # no redis: local limits
    await alone.start()
    try:
        assert first.fleet is not None and second.fleet is not None
        fetcher, adopter = first.fleet.token_shares["oauth"], second.fleet.token_shares["oauth"]
        token = {
            "fetched_by_first": fetcher.fetched_here,
            "fetched_by_second": adopter.fetched_here,
            "round_trips_fetching_sidecar_per_lifetime": fetcher.round_trips,
            "round_trips_adopting_sidecar_per_lifetime": adopter.round_trips,
            "token_requests_at_oauth2_server": hits_by_fleet,  # for the two fleet sidecars
        }
        await measure_calls(alone, "local_limit", 200)  # warm up
        await measure_calls(first, "local_limit", 200)
        local: list[float] = []
        fleet: list[float] = []
        limits = first.generation.rate_limiter.limits
        assert isinstance(limits, FleetLimits)
        trips_before, stats_before = limits.round_trips, commandstats(client)
        block = max(1, calls // 10)
        for _ in range(10):  # interleaved, so drift on this shared machine hits both alike
            local += await measure_calls(alone, "local_limit", block)
            fleet += await measure_calls(first, "local_limit", block)  # the same API, limited fleet-wide
        redis_commands = delta(stats_before, commandstats(client))
        limit_result = {
            "calls": len(fleet),
            "local_p50_us": statistics.median(local) * 1e6,
            "local_p99_us": percentile(local, 0.99) * 1e6,
            "fleet_p50_us": statistics.median(fleet) * 1e6,
            "fleet_p99_us": percentile(fleet, 0.99) * 1e6,
            "round_trips_per_call_sidecar": (limits.round_trips - trips_before) / len(fleet),
            "redis_commands_per_call": {k: v / len(fleet) for k, v in redis_commands.items()},
        }
        stats_before = commandstats(client)
        oauth = await measure_calls(first, "oauth", calls)
        token.update(
            {
                "calls": calls,
                "p50_us": statistics.median(oauth) * 1e6,
                "p99_us": percentile(oauth, 0.99) * 1e6,
                "redis_commands_during_calls": delta(stats_before, commandstats(client)),
            }
        )
        return {"limits": limit_result, "tokens": token}
    finally:
        await first.aclose()
        await second.aclose()
        await alone.aclose()
        client.close()


def redis_benchmark(port: int, requests: int, args: list[str]) -> dict[str, float]:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark is missing (Debian package redis-tools)")
    out = subprocess.run(
        [binary, "-p", str(port), "-n", str(requests), "-c", "50", "-r", "100000000", "--csv", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line and not line.startswith('"test"')]
    fields = [f.strip('"') for f in rows[-1].split('","')]
    return {"rps": float(fields[1]), "p50_ms": float(fields[4]), "p99_ms": float(fields[6])}


def throughput(redis_url: str, port: int, requests: int) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    sha = client.script_load(SLIDING_WINDOW)
    client.set("bench:token", os.urandom(300))
    key = "custom-api-sidecar:{bench:api}:rl:minute"
    admit = ["EVALSHA", sha, "1", key, "m:__rand_int__", "1000000000", "1000"]  # 1 s window: the set stays bounded
    refuse = ["EVALSHA", sha, "1", key + ":full", "m:__rand_int__", "1", "60000"]
    client.close()
    return {
        "sliding_window_admit": redis_benchmark(port, requests, admit),
        "sliding_window_refuse": redis_benchmark(port, requests, refuse),
        "token_get": redis_benchmark(port, requests, ["GET", "bench:token"]),
    }


SCALE_APIS = [f"api{i}" for i in range(12)]


def cluster_config(nodes: list[int]) -> str:
    seeds = ", ".join(f'"127.0.0.1:{port}"' for port in nodes)
    apis = "\n".join(
        f"""  - name: {name}
    connection: {{base_url: "https://{name}.example.com"}}
    endpoints: [{{name: get, method: GET, path: /x}}]
    security: {{rate_limit: {{requests_per_minute: 1000000000}}}}"""
        for name in SCALE_APIS
    )
    return f"""
redis: {{cluster: {{nodes: [{seeds}]}}, job_key: "env://BENCH_JOB_KEY", timeout_ms: 1000, job_shards: 6,
        jobs_min_replicas: 0}}
apis:
{apis}
"""


async def _scale_worker(nodes: list[int], seconds: float) -> dict[str, int]:
    from custom_api_sidecar.fleet import RedisJobStore

    sidecar = Sidecar(parse_config(cluster_config(nodes)))
    await sidecar.start()
    try:
        assert sidecar.fleet is not None and sidecar.fleet.job_seal is not None
        limits = sidecar.generation.rate_limiter.limits
        assert isinstance(limits, FleetLimits)
        admitted = 0

        async def limited(offset: int) -> None:
            nonlocal admitted
            end, i = time.monotonic() + seconds, offset
            while time.monotonic() < end:
                assert await limits.acquire(SCALE_APIS[i % len(SCALE_APIS)]) is None
                admitted += 1
                i += 1

        await asyncio.gather(*(limited(i) for i in range(32)))
        store = RedisJobStore(sidecar.fleet.redis, sidecar.fleet.job_seal)
        await store.open()
        finished = 0
        end = time.monotonic() + seconds

        async def produce() -> None:
            while time.monotonic() < end:
                await store.add(uuid.uuid4().hex, "api0", "get", b"x" * 200, ())

        async def consume() -> None:
            nonlocal finished
            while time.monotonic() < end:
                for job in await store.claim(10):
                    await store.finish(job.id, "succeeded", b"ok", None)
                    finished += 1

        await asyncio.gather(*(produce() for _ in range(8)), *(consume() for _ in range(8)))
        return {"limited": admitted, "jobs": finished}
    finally:
        await sidecar.aclose()


def _scale_process(nodes: list[int], seconds: float, out: Any) -> None:
    out.put(asyncio.run(_scale_worker(nodes, seconds)))


def scale_out(seconds: float, processes: int) -> dict[str, Any]:
    result: dict[str, Any] = {"processes": processes, "seconds": seconds}
    for primaries in (1, 3):
        with tempfile.TemporaryDirectory() as tmp:
            cluster = PlainCluster(pathlib.Path(tmp), primaries)
            try:
                spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no event loop inherited
                queue: Any = spawn.Queue()
                workers = [
                    spawn.Process(target=_scale_process, args=(cluster.ports, seconds, queue)) for _ in range(processes)
                ]
                for worker in workers:
                    worker.start()
                counts = [queue.get(timeout=seconds * 3 + 60) for _ in workers]
                for worker in workers:
                    worker.join(30)
            finally:
                cluster.stop()
        result[f"{primaries}_primary"] = {
            "limited_calls_per_s": sum(c["limited"] for c in counts) / seconds,
            "jobs_per_s": sum(c["jobs"] for c in counts) / seconds,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_fleet", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="sequential calls per measured path")
    parser.add_argument("--requests", type=int, default=200000, help="redis-benchmark requests per script")
    parser.add_argument("--seconds", type=float, default=5.0, help="scale-out: seconds per measure and topology")
    parser.add_argument("--processes", type=int, default=2, help="scale-out: client processes")
    args = parser.parse_args()
    os.environ["BENCH_TOKEN_KEY"] = base64.b64encode(os.urandom(32)).decode()
    os.environ["BENCH_JOB_KEY"] = base64.b64encode(os.urandom(32)).decode()
    os.environ["BENCH_SECRET"] = "bench-secret"
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(pathlib.Path(tmp))
        issuer = OAuth2MockServer()
        try:
            pipeline = asyncio.run(run_pipeline(server.url, issuer, args.calls))
            scripts = throughput(server.url, server.port, args.requests)
            version = re.search(r"v=(\S+)", subprocess.run(["redis-server", "--version"], capture_output=True,
                                                           text=True).stdout)  # fmt: skip
        finally:
            issuer.stop()
            server.stop()
    scale = scale_out(args.seconds, args.processes)
    result = {
        "redis_version": version.group(1) if version else "?",
        "cpus": os.cpu_count(),
        **pipeline,
        **scripts,
        "scale_out": scale,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    report(result)


def report(r: dict[str, Any]) -> None:
    lim, tok = r["limits"], r["tokens"]
    print(f"redis {r['redis_version']}, {r['cpus']} CPUs shared by everything; results in {RESULTS}")
    print(f"\nrate limits: {lim['calls']} sequential calls each, in-process pipeline (µs)")
    print(f"  this sidecar   p50 {lim['local_p50_us']:7.0f}  p99 {lim['local_p99_us']:7.0f}")
    print(f"  fleet (Redis)  p50 {lim['fleet_p50_us']:7.0f}  p99 {lim['fleet_p99_us']:7.0f}")
    print(f"  added by Redis p50 {lim['fleet_p50_us'] - lim['local_p50_us']:7.0f}  "
          f"p99 {lim['fleet_p99_us'] - lim['local_p99_us']:7.0f}")  # fmt: skip
    print(f"  round trips per limited call: {lim['round_trips_per_call_sidecar']:.2f} (sidecar's count); "
          f"Redis counted per call: {lim['redis_commands_per_call']}")  # fmt: skip
    print(
        f"\ntokens: {tok['calls']} calls with a shared OAuth2 token: p50 {tok['p50_us']:.0f} µs, "
        f"p99 {tok['p99_us']:.0f} µs; Redis commands during the calls: {tok['redis_commands_during_calls'] or 0}"
    )
    print(
        f"  per token lifetime: {tok['round_trips_fetching_sidecar_per_lifetime']} round trips for the sidecar "
        f"that fetches, {tok['round_trips_adopting_sidecar_per_lifetime']} for one that adopts it; "
        f"token requests at the OAuth2 server for 2 sidecars: {tok['token_requests_at_oauth2_server']}"
    )
    print("\nredis-benchmark, 50 clients, one redis-server (requests/s, latency ms)")
    for name in ("sliding_window_admit", "sliding_window_refuse", "token_get"):
        row = r[name]
        print(f"  {name:24} {row['rps']:9.0f}/s  p50 {row['p50_ms']:.3f}  p99 {row['p99_ms']:.3f}")
    scale = r["scale_out"]
    print(f"\nscale-out, Redis Cluster, {scale['processes']} client processes x {scale['seconds']:g} s each")
    print(f"  {'':14} {'limited calls/s':>16} {'jobs/s':>10}")
    for primaries in (1, 3):
        row = scale[f"{primaries}_primary"]
        print(f"  {primaries} primar{'y' if primaries == 1 else 'ies':3} {row['limited_calls_per_s']:16.0f} "
              f"{row['jobs_per_s']:10.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
