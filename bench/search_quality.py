"""Operation search quality and latency (not a test): ``python -m bench.search_quality``.

The benchmark set (bench/search_queries.yaml: requests phrased as an agent would, each with the
operation that answers it) runs against the sidecar's own search (custom_api_sidecar.search, the
code the Search RPC runs) over the real public specs (194 operations), then again with the
generated 1,200-operation spec beside them (1,394: the size of the largest public APIs, as
distractors). Reported per catalogue:

- top-1 / top-5 accuracy (an ``also`` operation counts as a hit);
- latency of one Search answer in-process (bounds, ranking, each result's tool definition as
  JSON; limit 5): p50 and p99 over every query, each run 10 times;
- the routing rule of ``conv.api.call`` (custom_api_sidecar.search._route) at several ratios:
  how many queries it would route to the right operation, route to a wrong one, or refuse as
  ambiguous;
- index build time (it happens at load and at each reload).

``--no-synonyms`` measures without the synonym table (custom_api_sidecar.search._terms).
``--cost`` measures what building the index adds to a sidecar's start-up instead (time and RSS, in
a fresh process, once the registry is loaded); tantivy's import is bench/search_libraries.py's.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time
from typing import Any

from custom_api_sidecar.search import _index, _terms
from custom_api_sidecar.search._route import route
from custom_api_sidecar.search._serve import search

from ._search_catalogue import load_queries, write_config

RATIOS = (0.6, 0.7, 0.8, 0.9)


def _generation(directory: pathlib.Path, scale_operations: int) -> Any:
    from custom_api_sidecar.app import Sidecar
    from custom_api_sidecar.loader import load_config
    from custom_api_sidecar.policy import OperatorPolicy

    sidecar = Sidecar(load_config(write_config(directory, scale_operations), OperatorPolicy()), "sandbox")
    return sidecar.generation


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def measure(scale_operations: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generation = _generation(pathlib.Path(tmp), scale_operations)
    operations = sum(len(api.operations) for api in generation.registry.apis.values())
    started = time.perf_counter()
    index = _index.SearchIndex(generation.registry)
    build_s = time.perf_counter() - started
    generation.search = index
    queries = load_queries()
    top1 = top5 = 0
    latencies: list[float] = []
    routed: dict[float, list[int]] = {ratio: [0, 0, 0] for ratio in RATIOS}  # right, wrong, refused
    misses = []
    for query, expected in queries:
        answer = search(generation, query, 5)
        ranked = [f"{r.api}.{r.operation}" for r in answer.results]
        top1 += bool(ranked) and ranked[0] in expected
        top5 += any(name in expected for name in ranked)
        if not ranked or ranked[0] not in expected:
            misses.append(f"  {query!r}: want {sorted(expected)[0]}, got {ranked[:3]}")
        for _ in range(10):
            started = time.perf_counter()
            search(generation, query, 5)
            latencies.append(time.perf_counter() - started)
        words, _ = _index.check_query(query, 0)
        matches = index.search(words, 5)
        for ratio in RATIOS:
            _route.CLEAR_RATIO = ratio
            try:
                best = route(query, matches)
            except Exception:
                routed[ratio][2] += 1
                continue
            routed[ratio][0 if f"{best.api}.{best.operation}" in expected else 1] += 1
    _route.CLEAR_RATIO = default_ratio
    n = len(queries)
    print(f"catalogue: {operations} operations; {n} queries; synonyms {'on' if _terms.SYNONYMS else 'off'}")
    print(f"  index build: {build_s * 1000:.0f} ms")
    print(f"  top-1: {top1}/{n} ({100 * top1 / n:.1f}%)   top-5: {top5}/{n} ({100 * top5 / n:.1f}%)")
    print(
        f"  search latency (in-process, limit 5): p50 {_percentile(latencies, 0.5) * 1000:.2f} ms, "
        f"p99 {_percentile(latencies, 0.99) * 1000:.2f} ms"
    )
    for ratio, (right, wrong, refused) in routed.items():
        mark = "  <- CLEAR_RATIO" if ratio == default_ratio else ""
        print(f"  call routing at ratio {ratio}: right {right}, wrong {wrong}, refused as ambiguous {refused}{mark}")
    if misses and args_verbose:
        print("  top-1 misses:")
        print("\n".join(misses))


from custom_api_sidecar.search import _route  # noqa: E402

default_ratio = _route.CLEAR_RATIO
args_verbose = False


def cost(scale_operations: int) -> None:
    """In a fresh process (run this mode alone): RSS and time search adds once a registry is loaded."""
    from custom_api_sidecar.registry import Registry

    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))

    with tempfile.TemporaryDirectory() as tmp:
        from custom_api_sidecar.loader import load_config
        from custom_api_sidecar.policy import OperatorPolicy

        config = load_config(write_config(pathlib.Path(tmp), scale_operations), OperatorPolicy())
    registry = Registry(config, "sandbox")
    operations = sum(len(api.operations) for api in registry.apis.values())
    before = rss_mb()
    started = time.perf_counter()
    index = _index.SearchIndex(registry)
    built = time.perf_counter() - started
    print(
        f"catalogue: {operations} operations: building the index took {built * 1000:.0f} ms and "
        f"+{rss_mb() - before:.1f} MB RSS ({len(index)} documents)"
    )


def main() -> None:
    global args_verbose
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-operations", type=int, default=1200, help="generated distractors (default 1200)")
    parser.add_argument("--no-synonyms", action="store_true", help="measure without the synonym table")
    parser.add_argument("--misses", action="store_true", help="list the queries whose first match is wrong")
    parser.add_argument("--cost", action="store_true", help="start-up time and RSS search adds (a fresh process)")
    args = parser.parse_args()
    if args.cost:
        cost(args.scale_operations)
        return
    args_verbose = args.misses
    if args.no_synonyms:
        _terms.SYNONYMS.clear()
    for scale in (0, args.scale_operations) if args.scale_operations else (0,):
        measure(scale)


if __name__ == "__main__":
    main()
