"""Natural-language search over every operation: what ``conv.api.search``, ``conv.api.call``,
the ``Search``/``Call`` RPCs, ``custom-api-sidecar search`` and the MCP ``search_operations`` tool
answer from.

    _terms.py      words from names and text (split, lower-cased, singular, synonyms)
    _documents.py  what an operation is found by (names, description, tags, path, arguments)
    _index.py      the BM25 index of one config generation (tantivy), and the query's bounds
    _route.py      which single operation a ``call`` by text goes to, or why none
    _serve.py      the Search and Call RPCs (the gRPC servicer's and the MCP server's)
"""

from __future__ import annotations

from ._index import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_CHARS, MAX_QUERY_TERMS, Match, SearchIndex, check_query, tool_of
from ._route import CLEAR_RATIO, route

__all__ = [
    "CLEAR_RATIO",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "Match",
    "SearchIndex",
    "check_query",
    "route",
    "tool_of",
]
