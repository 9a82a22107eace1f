"""L1: a bounded, thread-safe, least-recently-used map in memory.

The guide's `IntelligentCache` "LRU" evicted the first key ever *inserted*
(``next(iter(dict))``), whatever had been read since. This is a true LRU: a read moves the
key to the most recent end of an OrderedDict, eviction pops the least recent one; both O(1).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from geoinfer_workflows.orchestration.cache.base import MISSING, CacheStats
from geoinfer_workflows.validation import check_int

__all__ = ["LRUCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Bounded least-recently-used map; thread-safe; O(1) get, set and eviction.

    Values are stored by reference, not copied: a caller that mutates a returned array
    mutates the cached one. `in` and `keys()` neither count as lookups nor refresh recency.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = check_int(maxsize, "maxsize", 1)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(self, key: K, default: Any = None) -> V | Any:
        """The value (now most recently used), or `default` on a miss."""
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                self._misses += 1
                return default
            self._data.move_to_end(key)
            self._hits += 1
            return value

    def set(self, key: K, value: V) -> None:
        """Insert or replace as most recently used; evict the least recent beyond maxsize."""
        with self._lock:
            data = self._data
            if key in data:
                data.move_to_end(key)
            data[key] = value
            if len(data) > self.maxsize:
                data.popitem(last=False)
                self._evictions += 1

    def delete(self, key: K) -> bool:
        """Remove `key`; True if it was present."""
        with self._lock:
            return self._data.pop(key, MISSING) is not MISSING

    def clear(self) -> None:
        """Drop every entry (counters are kept)."""
        with self._lock:
            self._data.clear()

    def keys(self) -> list[K]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._evictions, len(self._data), self.maxsize
            )
