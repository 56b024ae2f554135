"""Response caching for safe operations (an endpoint's ``cache: {ttl_s, scope}``).

- ``CacheKey`` / ``KeyMaker``: what an answer is filed under, a keyed hash (HMAC-SHA256) of the
  environment, the API (and a digest of its definition), the operation, the bound request
  (method, URL with query, the caller's headers, body), the credentials the sidecar would inject,
  and with ``scope: conversation`` the conversation id (``_keys.py``);
- ``freshness``: how long an answer may be reused: the configured ``ttl_s``, shortened (never
  lengthened) by the upstream's ``Cache-Control``/``Expires``/``Age``, or not at all (``_freshness.py``);
- ``LocalCache``: this sidecar's entries, LRU under one byte budget (``_lru.py``);
- ``ResponseCache``: the local cache in front of the fleet's shared one (Redis, sealed), with
  the counters (``_service.py``). The pipeline stage is ``custom_api_sidecar.pipeline.cache``.
"""

from ._entry import CachedAnswer
from ._freshness import freshness
from ._keys import CacheKey, KeyMaker, cached_api_digests, definition_digest
from ._lru import DEFAULT_MAX_BYTES, ENTRY_OVERHEAD_BYTES, LocalCache
from ._service import ResponseCache, SharedStore

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ENTRY_OVERHEAD_BYTES",
    "CacheKey",
    "CachedAnswer",
    "KeyMaker",
    "LocalCache",
    "ResponseCache",
    "SharedStore",
    "cached_api_digests",
    "definition_digest",
    "freshness",
]
