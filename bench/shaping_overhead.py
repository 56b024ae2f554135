"""What shaping results for the LLM costs per call (not a test): ``python -m bench.shaping_overhead``.

The ``llm_result`` stage (``pipeline/llm_result.py``, ``custom_api_sidecar.shaping``), timed in
process on a canned upstream answer, side by side in one run with a stage that only passes the
call on (what the pipeline did before):
  no result            an operation without result: (the dictionary lookup every call pays)
  select, 2 KB         result: {select: <three fields>} on a small order document
  select, 200 KB       the same select on a 200 KB order document (the issue's case)
  max_chars, 200 KB    result: {max_chars: 4000} only: the body's text, cut
  select all, 200 KB   select: "@" (the whole document re-serialized, then cut at 4,000)
  hostile, 200 KB      an expression that doubles a list per step: it runs to its step budget,
                       then the body is shown unshaped (the worst an expression can cost)
and, for scale, ``json.loads`` of the 200 KB document alone, and ``Response.for_llm()`` on the client
for it without result: (decoding only).
Each figure is the median of --repeat runs of --calls calls, in microseconds per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from custom_api_client._response import Headers, Response
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.pipeline import Call, UpstreamResponse
from custom_api_sidecar.pipeline.llm_result import LlmResult
from custom_api_sidecar.policy import OperatorPolicy
from custom_api_sidecar.registry import Registry
from tests._support.documents_upstream import order_document

THREE = "{status: status, eta: shipping.eta, carrier: shipping.carrier}"
HOSTILE = " | ".join(["[@,@][]"] * 12)
OPERATIONS = {
    "no result": ("plain", None),
    "select, 2 KB": ("small", f'{{select: "{THREE}"}}'),
    "select, 200 KB": ("big", f'{{select: "{THREE}"}}'),
    "max_chars, 200 KB": ("capped", "{max_chars: 4000}"),
    "select all, 200 KB": ("everything", '{select: "@"}'),
    "hostile, 200 KB": ("hostile", f'{{select: "{HOSTILE}"}}'),
}


def config() -> str:
    endpoints = "".join(
        f"\n      - {{name: {name}, method: GET, path: /orders" + (f", result: {result}}}" if result else "}")
        for name, result in OPERATIONS.values()
    )
    return f"""
apis:
  - name: shop
    connection: {{base_url: "https://shop.example.com"}}
    endpoints:{endpoints}
"""


def answer(items: int) -> UpstreamResponse:
    body = json.dumps(order_document(items)).encode()
    return UpstreamResponse(
        status_code=200, reason="OK", headers=[("Content-Type", "application/json")], body=body, elapsed=0.0, url=""
    )


async def per_call(stage: Any, call: Call, response: UpstreamResponse, n: int) -> float:
    async def sent(_: Call) -> UpstreamResponse:
        response.llm_text = None
        return response

    start = time.perf_counter()
    for _ in range(n):
        await stage(call, sent)
    return (time.perf_counter() - start) / n * 1e6


async def passes_on(call: Call, call_next: Any) -> UpstreamResponse:
    return await call_next(call)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    registry = Registry(parse_config(config(), "bench.yaml", OperatorPolicy()), "live")
    stage = LlmResult(registry)
    small, big = answer(6), answer(720)
    print(f"bodies: small {len(small.body):,} bytes, big {len(big.body):,} bytes")
    print(f"{'call':20} {'before us':>10} {'after us':>10} {'cost us':>10}  llm_text")
    for label, (operation, _) in OPERATIONS.items():
        response = small if "2 KB" in label else big
        call = Call(
            request=pb.InvokeRequest(api="shop", operation=operation), operation=registry.operation("shop", operation)
        )
        n = args.calls if label != "hostile, 200 KB" else max(3, args.calls // 50)
        before, after = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            before.append(await per_call(passes_on, call, response, n))
            after.append(await per_call(stage, call, response, n))
        b, a = statistics.median(before), statistics.median(after)
        shaped = (await stage(call, passes_on_answer(response))).llm_text
        size = "none" if shaped is None else f"{len(shaped):,} chars"
        print(f"{label:20} {b:10.2f} {a:10.2f} {a - b:10.2f}  {size}")
    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        for _ in range(args.calls):
            json.loads(big.body)
        runs.append((time.perf_counter() - start) / args.calls * 1e6)
    print(f"{'json.loads alone':20} {'':10} {statistics.median(runs):10.2f}  (200 KB: what any select starts with)")
    unshaped = Response(200, "OK", Headers(big.headers), big.body, elapsed=0, url="")  # type: ignore[arg-type]
    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        for _ in range(args.calls):
            unshaped.for_llm()
        runs.append((time.perf_counter() - start) / args.calls * 1e6)
    print(f"{'client for_llm()':20} {'':10} {statistics.median(runs):10.2f}  (200 KB, no result:, decode only)")


def passes_on_answer(response: UpstreamResponse) -> Any:
    async def sent(_: Call) -> UpstreamResponse:
        response.llm_text = None
        return response

    return sent


if __name__ == "__main__":
    asyncio.run(main())
