"""The search index of one generation: BM25 over every operation's words, built at load.

The library is tantivy (Rust; an in-memory index), chosen by measurement against bm25s and
rank-bm25 on the same documents and queries (``python -m bench.search_libraries``, 1,394
operations): it starts fastest (import 7 ms and index 46 ms, against 167 + 46 ms for bm25s and
100 + 25 ms for rank-bm25, whose imports are mostly numpy's), adds about as much RSS (4 + 15 MB,
against 18 + 4 and 14 + 0), answers fastest (p50 0.02 ms, against 0.09 and 0.59), is maintained
(rank-bm25's last release is from 2022) and needs no numpy. It costs some quality: top-1 57/114
against 61/114 for both others (top-5 88 against 90 and 91): their BM25 weighs rare words a
little differently. The index is built once per config generation (``generation.py``), so a
reload rebuilds it off the call path and a search never waits for one.

Queries are bounded before any work (``check_query``): characters, words and ``limit``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tantivy

from custom_api_client.proto import sidecar_pb2 as pb

from ..errors import SidecarError
from ..registry import Registry
from ._documents import documents
from ._terms import terms

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MAX_QUERY_CHARS", "MAX_QUERY_TERMS", "Match", "SearchIndex", "check_query"]

DEFAULT_LIMIT = 5
MAX_LIMIT = 50
MAX_QUERY_CHARS = 1000  # a request in words, not a document
MAX_QUERY_TERMS = 32  # distinct words after filler words are dropped
_WRITER_HEAP = 15_000_000  # tantivy's minimum per indexing thread; freed once the index is committed


@dataclass(frozen=True, slots=True)
class Match:
    api: str
    operation: str
    score: float
    tool_name: str  # the operation's tool name in every tool export (custom_api_client.tools)


def check_query(query: str, limit: int) -> tuple[list[str], int]:
    """The query's distinct words and the limit (0: the default); INVALID_ARGUMENT for a query
    that is empty, too long or has too many words, or a limit outside 1..MAX_LIMIT."""
    if len(query) > MAX_QUERY_CHARS:  # before the text is split: a 1 MB query costs nothing
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT,
            f"the search query is {len(query)} characters; at most {MAX_QUERY_CHARS}: say what the agent wants "
            "in a sentence",
            field="query",
        )
    if not 0 <= limit <= MAX_LIMIT:
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT, f"limit {limit} is not between 1 and {MAX_LIMIT}", field="limit"
        )
    words = list(dict.fromkeys(terms(query)))
    if not query.strip():
        raise SidecarError(pb.ErrorCode.INVALID_ARGUMENT, "the search query is empty", field="query")
    if len(words) > MAX_QUERY_TERMS:
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT,
            f"the search query has {len(words)} distinct words; at most {MAX_QUERY_TERMS}",
            field="query",
        )
    return words, limit or DEFAULT_LIMIT


class SearchIndex:
    """Every operation of a registry, ranked by how well it matches a query."""

    def __init__(self, registry: Registry) -> None:
        from custom_api_client.tools import named_operations

        docs = documents(registry)
        self._targets = [(doc.api, doc.operation) for doc in docs]
        # tool names as every export computes them (unique over the whole catalogue, in its order)
        shapes = [
            {"name": api.name, "operations": [{"name": op} for op in api.operations]} for api in registry.apis.values()
        ]
        self._tool_names = {(api["name"], op["name"]): name for name, api, op in named_operations(shapes)}
        builder = tantivy.SchemaBuilder()
        # the words are ours (_terms): tantivy only splits them at the spaces we joined them with
        builder.add_text_field("words", stored=False, tokenizer_name="whitespace")
        builder.add_integer_field("doc", stored=True, indexed=False)
        self._schema = builder.build()
        index = tantivy.Index(self._schema)
        writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        for number, doc in enumerate(docs):
            writer.add_document(tantivy.Document(words=" ".join(doc.terms), doc=number))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self._searcher = index.searcher()
        self._lock = threading.Lock()  # tantivy's searcher is shared; calls come from one loop, tests from threads

    def __len__(self) -> int:
        return len(self._targets)

    def search(self, words: list[str], limit: int, allowed: Callable[[str, str], bool] | None = None) -> list[Match]:
        """The best ``limit`` operations for ``words``, best first; only those ``allowed(api, op)``
        (an MCP server's filter) when given. Operations that share no word with the query are
        not matches: the list may be shorter than ``limit``, or empty."""
        if not words or not self._targets:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "words", word)) for word in words]
        )
        # with a filter, enough hits to fill ``limit`` from the allowed ones (at most every operation)
        wanted = limit if allowed is None else len(self._targets)
        with self._lock:
            hits = self._searcher.search(query, wanted).hits
            numbers = [(score, self._searcher.doc(address)["doc"][0]) for score, address in hits]
        matches: list[Match] = []
        for score, number in numbers:
            api, operation = self._targets[number]
            if allowed is not None and not allowed(api, operation):
                continue
            matches.append(Match(api, operation, round(float(score), 4), self._tool_names[(api, operation)]))
            if len(matches) == limit:
                break
        return matches


def tool_of(registry: Registry, match: Match) -> dict[str, Any]:
    """The match's MCP tool definition, made by the tool export itself (describe.operation_tool)."""
    from ..describe import operation_tool

    return operation_tool(registry, match.api, match.operation, match.tool_name)
