"""Which BM25 library operation search uses, measured (not a test): ``python -m bench.search_libraries``.

The same documents and query words (custom_api_sidecar.search: _documents, _terms) go to each
candidate library, in a process of its own so its import and its index show in that process's
RSS: bm25s (scipy-free sparse arrays on numpy), rank-bm25 (pure Python on numpy) and tantivy
(Rust, an in-memory index). The catalogue is the real public specs (194 operations) beside the
generated 1,200-operation spec (bench/_search_catalogue.py): 1,394 operations.

Per library: import time and RSS it adds, index build time and RSS it adds, top-1/top-5 accuracy
on bench/search_queries.yaml, and query latency (each query 20 times; p50/p99 of the median query
and the slowest, as the scoring call alone: words in, ranked operation indexes out).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

LIBRARIES = ("bm25s", "rank_bm25", "tantivy")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Bm25s:
    def __init__(self, corpus: list[list[str]]) -> None:
        import bm25s

        self._vocab: dict[str, int] = {}
        ids = [[self._vocab.setdefault(t, len(self._vocab)) for t in doc] for doc in corpus]
        self._retriever = bm25s.BM25()
        self._retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=self._vocab), show_progress=False)

    def rank(self, words: list[str], k: int) -> list[tuple[int, float]]:
        known = [self._vocab[w] for w in words if w in self._vocab]
        if not known:
            return []
        scores = self._retriever.get_scores(known)
        top = scores.argsort()[::-1][:k]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


class _RankBm25:
    def __init__(self, corpus: list[list[str]]) -> None:
        from rank_bm25 import BM25Okapi

        self._bm25 = BM25Okapi(corpus)

    def rank(self, words: list[str], k: int) -> list[tuple[int, float]]:
        scores = self._bm25.get_scores(words)
        top = scores.argsort()[::-1][:k]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


class _Tantivy:
    def __init__(self, corpus: list[list[str]]) -> None:
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False, tokenizer_name="whitespace")
        builder.add_integer_field("doc", stored=True, indexed=False)
        schema = builder.build()
        self._index = tantivy.Index(schema)
        writer = self._index.writer(heap_size=15_000_000, num_threads=1)
        for i, doc in enumerate(corpus):
            writer.add_document(tantivy.Document(body=" ".join(doc), doc=i))
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._tantivy = tantivy

    def rank(self, words: list[str], k: int) -> list[tuple[int, float]]:
        if not words:
            return []
        t = self._tantivy
        query = t.Query.boolean_query(
            [(t.Occur.Should, t.Query.term_query(self._index.schema, "body", w)) for w in words]
        )
        hits = self._searcher.search(query, k).hits
        return [(self._searcher.doc(address)["doc"][0], score) for score, address in hits]


_ADAPTERS = {"bm25s": _Bm25s, "rank_bm25": _RankBm25, "tantivy": _Tantivy}


def measure(library: str, scale_operations: int) -> dict[str, Any]:
    """In this process: import ``library`` first (its import cost is its own: numpy's too), then
    load the catalogue and build the index."""
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    __import__(library)
    import_s, import_rss = time.perf_counter() - t0, _rss_mb() - rss0

    from bench._search_catalogue import load_queries, load_registry
    from custom_api_sidecar.search._documents import documents
    from custom_api_sidecar.search._terms import terms

    with tempfile.TemporaryDirectory() as tmp:
        registry = load_registry(pathlib.Path(tmp), scale_operations)
    docs = documents(registry)
    corpus = [doc.terms for doc in docs]
    names = [f"{doc.api}.{doc.operation}" for doc in docs]
    queries = [(list(terms(q)), expected) for q, expected in load_queries()]
    rss1 = _rss_mb()
    t1 = time.perf_counter()
    index = _ADAPTERS[library](corpus)
    t2 = time.perf_counter()
    rss2 = _rss_mb()
    top1 = top5 = 0
    per_query: list[float] = []
    for words, expected in queries:
        ranked = [names[i] for i, _ in index.rank(words, 5)]
        top1 += bool(ranked[:1]) and ranked[0] in expected
        top5 += any(name in expected for name in ranked)
        times = []
        for _ in range(20):
            s = time.perf_counter()
            index.rank(words, 5)
            times.append(time.perf_counter() - s)
        per_query.append(statistics.median(times))
    per_query.sort()
    return {
        "library": library,
        "operations": len(docs),
        "import_s": round(import_s, 3),
        "import_rss_mb": round(import_rss, 1),
        "build_s": round(t2 - t1, 3),
        "build_rss_mb": round(rss2 - rss1, 1),
        "top1": f"{top1}/{len(queries)} ({100 * top1 / len(queries):.1f}%)",
        "top5": f"{top5}/{len(queries)} ({100 * top5 / len(queries):.1f}%)",
        "query_p50_ms": round(per_query[len(per_query) // 2] * 1000, 3),
        "query_p99_ms": round(per_query[min(len(per_query) - 1, int(len(per_query) * 0.99))] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-operations", type=int, default=1200, help="generated distractors (default 1200)")
    parser.add_argument("--one", choices=LIBRARIES, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.scale_operations)))
        return
    for library in LIBRARIES:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.search_libraries",
                "--one",
                library,
                "--scale-operations",
                str(args.scale_operations),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        print(json.dumps(json.loads(out.splitlines()[-1])))


if __name__ == "__main__":
    main()
