"""What the argument rules cost per call (not a test): ``python -m bench.arguments_overhead``.

The stage every Invoke passes after its operation is found (``pipeline/arguments.py``): routing
arguments refused, and with ``security.extra_arguments: refuse`` only declared ones accepted.
Timed in process, side by side in one run with a stage that only passes the call on (what the
pipeline did before), on the calls that matter:
  no extras        a lookup by id: nothing from headers=, params= or a body
  extras, allow    headers= and params= with three entries each, an API that allows extras
  strict, json     an API that refuses extras: declared query and header, a JSON body
  strict, form     the same with data= (a form) checked against the body schema
Each figure is the median of --repeat runs of --calls calls, in microseconds per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.pipeline import Call, UpstreamResponse
from custom_api_sidecar.pipeline.arguments import OperationArguments
from custom_api_sidecar.policy import OperatorPolicy
from custom_api_sidecar.registry import Registry

CONFIG = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints:
      - {name: get_contact, method: GET, path: "/contacts/{contact_id}"}
  - name: strict
    connection: {base_url: "https://strict.example.com"}
    security: {extra_arguments: refuse}
    endpoints:
      - name: create
        method: POST
        path: /items
        parameters: [{name: tag, in: query, type: string}, {name: X-Request-Id, in: header, type: string}]
        request_body: {type: object, properties: {name: {type: string}, count: {type: integer}}}
"""
DONE = UpstreamResponse(status_code=200, reason="OK", headers=[], body=b"", elapsed=0.0, url="")


def calls(registry: Registry) -> dict[str, Call]:
    def kv(pairs: dict[str, str]) -> list[pb.KeyValue]:
        return [pb.KeyValue(key=k, value=v) for k, v in pairs.items()]

    three = {"X-Trace": "1", "Accept-Language": "en", "X-Client": "voice"}
    requests = {
        "no extras": ("crm", "get_contact", pb.InvokeRequest(positional=[pb.Value(string_value="c1")])),
        "extras, allow": (
            "crm",
            "get_contact",
            pb.InvokeRequest(headers=kv(three), params=kv({"expand": "all", "fields": "id", "page": "2"})),
        ),
        "strict, json": (
            "strict",
            "create",
            pb.InvokeRequest(
                params=kv({"tag": "a"}), headers=kv({"X-Request-Id": "r1"}), json=b'{"name": "w", "count": 2}'
            ),
        ),
        "strict, form": ("strict", "create", pb.InvokeRequest(form=kv({"name": "w", "count": "2"}))),
    }
    out = {}
    for label, (api, operation, request) in requests.items():
        request.api, request.operation = api, operation
        out[label] = Call(request=request, operation=registry.operation(api, operation))
    return out


async def per_call(stage: Any, call: Call, n: int) -> float:
    async def sent(_: Call) -> UpstreamResponse:
        return DONE

    start = time.perf_counter()
    for _ in range(n):
        await stage(call, sent)
    return (time.perf_counter() - start) / n * 1e6


async def passes_on(call: Call, call_next: Any) -> UpstreamResponse:
    return await call_next(call)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    registry = Registry(parse_config(CONFIG, "bench.yaml", OperatorPolicy()), "live")
    stage = OperationArguments()
    print(f"{'call':14} {'before us':>10} {'after us':>10} {'cost us':>9}")
    for label, call in calls(registry).items():
        before, after = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            before.append(await per_call(passes_on, call, args.calls))
            after.append(await per_call(stage, call, args.calls))
        b, a = statistics.median(before), statistics.median(after)
        print(f"{label:14} {b:10.2f} {a:10.2f} {a - b:9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
