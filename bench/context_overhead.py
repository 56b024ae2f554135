"""What arguments bound to the conversation context cost per call (not a test):
``python -m bench.context_overhead``.

The stage every Invoke passes after its operation is found (``pipeline/bound_context.py``): the
call's ``x-context-*`` metadata read and checked, and for an operation with ``from_context:``
arguments, the caller's own values refused and the context's handed to the bind stage. Timed in
process, side by side in one run:

  stage alone      against a stage that only passes the call on (what the pipeline did before):
    no context       a call with no context on an operation with nothing bound (the common case)
    context, unbound three context values (plus conversation id and traceparent) on the same
    query bound      a GET whose query parameter comes from the context
    body bound       a POST whose JSON body property comes from the context, json= given too
  with binding     the context stage plus the bind stage, against the bind stage alone with the
                   caller passing the same value itself (what an unbound operation costs)

Each figure is the median of --repeat runs of --calls calls, in microseconds per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from custom_api_client._context import context_metadata
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.values import to_value
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.pipeline import Call, UpstreamResponse
from custom_api_sidecar.pipeline.bind import BindArguments
from custom_api_sidecar.pipeline.bound_context import BindFromContext
from custom_api_sidecar.policy import OperatorPolicy
from custom_api_sidecar.registry import Registry

CONFIG = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints:
      - {name: ping, method: GET, path: /ping}
      - name: lookup_caller
        method: GET
        path: /customers
        parameters: [{name: phone, in: query, required: true, from_context: caller_number}]
      - name: lookup_any
        method: GET
        path: /customers
        parameters: [{name: phone, in: query, required: true}]
      - name: create_ticket
        method: POST
        path: /tickets
        request_body:
          type: object
          required: [caller, subject]
          properties: {caller: {type: string, from_context: caller_number}, subject: {type: string}}
      - name: create_any
        method: POST
        path: /tickets
        request_body:
          type: object
          required: [caller, subject]
          properties: {caller: {type: string}, subject: {type: string}}
"""
DONE = UpstreamResponse(status_code=200, reason="OK", headers=[], body=b"", elapsed=0.0, url="")
CALLER = "+441234567890"
CONTEXT = context_metadata({"caller_number": CALLER, "account_id": "acc-42", "locale": "en-GB"})
OTHER = (
    ("x-conversation-id", "conv-1"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("user-agent", "grpc-python/1.70"),
)


def request(operation: str, **kwargs: Any) -> pb.InvokeRequest:
    out = pb.InvokeRequest(api="crm", operation=operation, json=kwargs.pop("json", b""))
    if not out.json:
        out.ClearField("json")
    for key, value in kwargs.items():
        out.keywords.add(key=key, value=to_value(value))
    return out


def stage_cases(registry: Registry) -> dict[str, Callable[[], Call]]:
    def make(operation: str, metadata: tuple[tuple[str, str], ...], **kwargs: Any) -> Callable[[], Call]:
        req, op = request(operation, **kwargs), registry.operation("crm", operation)
        return lambda: Call(request=req, metadata=metadata, operation=op)

    return {
        "no context": make("ping", OTHER),
        "context, unbound": make("ping", OTHER + CONTEXT),
        "query bound": make("lookup_caller", OTHER + CONTEXT),
        "body bound": make("create_ticket", OTHER + CONTEXT, json=b'{"subject": "refund"}'),
    }


def binding_cases(registry: Registry) -> dict[str, tuple[Callable[[], Call], Callable[[], Call]]]:
    """(bound: the context gives the value, unbound: the caller passes it), per shape."""

    def make(operation: str, metadata: tuple[tuple[str, str], ...], **kwargs: Any) -> Callable[[], Call]:
        req, op = request(operation, **kwargs), registry.operation("crm", operation)
        return lambda: Call(request=req, metadata=metadata, operation=op)

    return {
        "query": (make("lookup_caller", OTHER + CONTEXT), make("lookup_any", OTHER, phone=CALLER)),
        "body": (
            make("create_ticket", OTHER + CONTEXT, subject="refund"),
            make("create_any", OTHER, subject="refund", caller=CALLER),
        ),
    }


async def per_call(stages: list[Any], fresh: Callable[[], Call], n: int) -> float:
    async def sent(_: Call) -> UpstreamResponse:
        return DONE

    handler: Any = sent
    for stage in reversed(stages):
        handler = (lambda s, nxt: lambda call: s(call, nxt))(stage, handler)
    calls = [fresh() for _ in range(n)]  # a call is mutated by the stages: one each, made outside the timing
    start = time.perf_counter()
    for call in calls:
        await handler(call)
    return (time.perf_counter() - start) / n * 1e6


async def passes_on(call: Call, call_next: Any) -> UpstreamResponse:
    return await call_next(call)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    registry = Registry(parse_config(CONFIG, "bench.yaml", OperatorPolicy()), "live")
    stage, bind = BindFromContext(), BindArguments()
    print("the context stage alone")
    print(f"{'call':18} {'before us':>10} {'after us':>10} {'cost us':>9}")
    for label, fresh in stage_cases(registry).items():
        before, after = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            before.append(await per_call([passes_on], fresh, args.calls))
            after.append(await per_call([stage], fresh, args.calls))
        b, a = statistics.median(before), statistics.median(after)
        print(f"{label:18} {b:10.2f} {a:10.2f} {a - b:9.2f}")
    print("\ncontext stage + bind stage, against bind alone with the caller passing the value")
    print(f"{'argument':18} {'caller us':>10} {'bound us':>10} {'cost us':>9}")
    for label, (bound, unbound) in binding_cases(registry).items():
        before, after = [], []
        for _ in range(args.repeat):
            before.append(await per_call([passes_on, bind], unbound, args.calls))
            after.append(await per_call([stage, bind], bound, args.calls))
        b, a = statistics.median(before), statistics.median(after)
        print(f"{label:18} {b:10.2f} {a:10.2f} {a - b:9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
