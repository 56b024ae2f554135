"""What the egress check costs per call (not a test): ``python -m bench.egress_overhead [--calls N]``.

One process, one upstream (bench/_upstream.py), one run, interleaved in blocks:

- ``unchecked``: the transport as it was before egress security (aiohttp with its own resolver,
  no policy, no per-request TLS or proxy lookup);
- ``literal``: the API's base URL is 127.0.0.1 (checked once at load; per request the TLS
  context and proxy lookups);
- ``named``: the base URL is ``localhost``, so new connections also resolve and check the
  answers (aiohttp caches them for 10 s; the pool reuses connections).

Calls go straight into the pipeline (``Sidecar.handle``), not over gRPC, so the difference
is the egress work itself. Also: the cost of checking one resolved answer.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import time

import aiohttp
import httpx

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar import Sidecar, parse_config
from custom_api_sidecar.config import ApiConfig
from custom_api_sidecar.egress import Egress, EgressPolicy
from custom_api_sidecar.pipeline import Call
from custom_api_sidecar.transport import AiohttpTransport, default_transport

from ._load import Latency
from ._upstream import BenchUpstream


class UncheckedTransport(AiohttpTransport):
    """The pre-egress transport: aiohttp's default resolver, one shared TLS context, no proxy."""

    def _open(self) -> aiohttp.ClientSession:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        response = await session.request(
            request.method, str(request.url), headers=dict(request.headers), allow_redirects=False
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            content=await response.read(),
            request=request,
        )


def transport(api: ApiConfig, egress: Egress) -> httpx.AsyncBaseTransport:
    return UncheckedTransport(egress) if api.name == "unchecked" else default_transport(api, egress)


def config_text(port: int) -> str:
    hosts = {"unchecked": "127.0.0.1", "literal": "127.0.0.1", "named": "localhost"}
    return "apis:" + "".join(
        f"""
  - name: {name}
    connection: {{allow_http: true, private_network: true, base_url: "http://{host}:{port}"}}
    endpoints: [{{name: get, method: GET, path: /item}}]
"""
        for name, host in hosts.items()
    )


async def run(calls: int, block: int) -> dict[str, object]:
    upstream = BenchUpstream()
    sidecar = Sidecar(parse_config(config_text(upstream.port)), transport_factory=transport)
    await sidecar.start()
    names = ["unchecked", "literal", "named"]
    samples: dict[str, list[float]] = {name: [] for name in names}
    try:

        async def one(name: str) -> float:
            start = time.perf_counter()
            response = await sidecar.handle(Call(request=pb.InvokeRequest(api=name, operation="get")))
            assert response.status_code == 200
            return (time.perf_counter() - start) * 1e6

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
    latency = {name: Latency(values).summary() for name, values in samples.items()}
    base = latency["unchecked"]["p50_us"]
    policy = EgressPolicy(private_network=True)
    answers = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    start = time.perf_counter()
    for _ in range(100_000):
        policy.check("localhost", answers)
    check_us = (time.perf_counter() - start) / 100_000 * 1e6
    return {
        "calls_per_api": calls,
        "upstream": upstream.kind,
        "p50_us": {name: round(s["p50_us"], 1) for name, s in latency.items()},
        "p90_us": {name: round(s["p90_us"], 1) for name, s in latency.items()},
        "p50_overhead_vs_unchecked_us": {name: round(s["p50_us"] - base, 1) for name, s in latency.items()},
        "check_two_resolved_addresses_us": round(check_us, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="sequential calls per API (default 3000)")
    parser.add_argument("--block", type=int, default=100, help="calls per API before switching to the next")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.block)), indent=2))


if __name__ == "__main__":
    main()
