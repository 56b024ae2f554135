"""What admission costs per call (not a test): ``python -m bench.admission_overhead``.

Every Invoke passes admission before any work (``admission.py``): the caller bounds
(``bounds.py``: names, counts, sizes) and the in-flight cap. Timed in process on the requests that
matter, beside doing nothing (the loop's own cost, subtracted):
  small     a lookup by id: two names, one positional argument
  typical   a search: four keywords, two params, three headers, a JSON body
  largest   256 headers and 256 params at the per-value limit (the worst a valid call can be)
Each figure is the median of --repeat runs of --calls calls, in microseconds per call.
"""

from __future__ import annotations

import argparse
import statistics
import time

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_sidecar.admission import Admission
from custom_api_sidecar.bounds import MAX_COUNT, MAX_TOTAL_CHARS


def requests() -> dict[str, pb.InvokeRequest]:
    small = pb.InvokeRequest(api="crm", operation="get_contact", positional=[pb.Value(string_value="c-123")])
    typical = pb.InvokeRequest(
        api="crm",
        operation="search_contacts",
        keywords=[pb.MapEntry(key=k, value=pb.Value(string_value="value")) for k in ("q", "limit", "sort", "page")],
        params=[pb.KeyValue(key="expand", value="customer"), pb.KeyValue(key="fields", value="id,name")],
        headers=[pb.KeyValue(key=f"X-Custom-{n}", value="value") for n in range(3)],
        json=b'{"filter": {"status": "open"}}',
    )
    each = MAX_TOTAL_CHARS // MAX_COUNT - 16  # every pair just under the total
    largest = pb.InvokeRequest(
        api="crm",
        operation="search_contacts",
        params=[pb.KeyValue(key=f"p{n}", value="v" * each) for n in range(MAX_COUNT)],
        headers=[pb.KeyValue(key=f"X-H{n}", value="v" * each) for n in range(MAX_COUNT)],
    )
    return {"small": small, "typical": typical, "largest": largest}


def per_call(request: pb.InvokeRequest, calls: int, admit: bool) -> float:
    admission = Admission(max_in_flight=512)
    start = time.perf_counter()
    for _ in range(calls):
        if admit:
            admission.enter(request)
            admission.leave()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'request':10} {'admission us/call':>18}")
    for name, request in requests().items():
        calls = args.calls if name != "largest" else args.calls // 20
        runs = [per_call(request, calls, True) - per_call(request, calls, False) for _ in range(args.repeat)]
        print(f"{name:10} {statistics.median(runs):18.2f}")


if __name__ == "__main__":
    main()
