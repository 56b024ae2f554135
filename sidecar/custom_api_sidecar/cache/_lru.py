"""This sidecar's cached answers: least recently used first out, under one byte budget.

An entry counts its answer's bytes (body, headers, reason, URL), its key, and a fixed
``ENTRY_OVERHEAD_BYTES`` for the objects holding them, so the budget bounds real memory, not
just bodies. An answer larger than ``max_entry_bytes`` (default an eighth of the budget) is
not stored: one huge answer must not flush everything else. Expired entries are dropped when
next looked at, or in LRU order when room is needed."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ._entry import CachedAnswer
from ._keys import CacheKey

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
ENTRY_FRACTION = 8  # the largest entry is the budget divided by this
# The key, the entry and answer objects, the header tuples: measured at about 600 bytes for an
# answer with four headers (sys.getsizeof over the objects); rounded up.
ENTRY_OVERHEAD_BYTES = 768


@dataclass(slots=True)
class _Slot:
    answer: CachedAnswer
    stale_at: float  # monotonic
    size: int


class LocalCache:
    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entry_bytes: int | None = None,
        on_evict: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_evict(api)``: called for each entry pushed out to make room (a metric)."""
        if max_bytes < 0:
            raise ValueError(f"the cache byte budget must be 0 (off) or more, not {max_bytes}")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // ENTRY_FRACTION if max_entry_bytes is None else max_entry_bytes
        self._entries: OrderedDict[CacheKey, _Slot] = OrderedDict()
        self.bytes = 0
        self.evictions = 0
        self._on_evict = on_evict
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> CachedAnswer | None:
        slot = self._entries.get(key)
        if slot is None:
            return None
        if self._clock() >= slot.stale_at:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return slot.answer

    def put(self, key: CacheKey, answer: CachedAnswer, ttl: float) -> bool:
        """Store for ``ttl`` seconds; False when the answer is too large to be stored."""
        size = answer.size() + len(key.hex) + len(key.api) + ENTRY_OVERHEAD_BYTES
        if size > self.max_entry_bytes or size > self.max_bytes:
            return False
        if key in self._entries:
            self._remove(key)
        while self.bytes + size > self.max_bytes and self._entries:
            oldest, slot = self._entries.popitem(last=False)
            self.bytes -= slot.size
            self.evictions += 1
            if self._on_evict is not None:
                self._on_evict(oldest.api)
        self._entries[key] = _Slot(answer, self._clock() + ttl, size)
        self.bytes += size
        return True

    def keep_only(self, digests: dict[str, str]) -> int:
        """Drop every entry of an API that is gone or whose definition changed (a reload);
        ``digests``: API name -> its current definition digest. Returns how many were dropped."""
        stale = [key for key in self._entries if digests.get(key.api) != key.digest]
        for key in stale:
            self._remove(key)
        return len(stale)

    def _remove(self, key: CacheKey) -> None:
        slot = self._entries.pop(key)
        self.bytes -= slot.size
