"""L1 over L2: an in-memory LRU in front of a SQLite file."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from geoinfer_workflows.orchestration.cache.base import MISSING, CacheStats
from geoinfer_workflows.orchestration.cache.lru import LRUCache
from geoinfer_workflows.orchestration.cache.sqlite import SQLiteCache

__all__ = ["TwoLevelCache", "TwoLevelStats"]


@dataclass(frozen=True)
class TwoLevelStats:
    """Hits per level and misses of both; `hit_ratio` is over all lookups."""

    l1_hits: int
    l2_hits: int
    misses: int
    l1: CacheStats
    l2: CacheStats

    @property
    def hit_ratio(self) -> float:
        lookups = self.l1_hits + self.l2_hits + self.misses
        return (self.l1_hits + self.l2_hits) / lookups if lookups else 0.0


class TwoLevelCache:
    """Read-through L1 then L2, promoting L2 hits into L1; writes go to both.

    A write goes to L2 first, so a value L2 cannot store (an unsupported type) is rejected
    before L1 holds something the persistent level does not.
    """

    def __init__(self, l1: LRUCache[str, Any], l2: SQLiteCache) -> None:
        self.l1 = l1
        self.l2 = l2
        self._lock = threading.Lock()
        self._l1_hits = self._l2_hits = self._misses = 0

    def get(self, key: str, default: Any = None) -> Any:
        value = self.l1.get(key, MISSING)
        if value is not MISSING:
            with self._lock:
                self._l1_hits += 1
            return value
        value = self.l2.get(key, MISSING)
        if value is not MISSING:
            self.l1.set(key, value)
            with self._lock:
                self._l2_hits += 1
            return value
        with self._lock:
            self._misses += 1
        return default

    def set(self, key: str, value: Any) -> None:
        self.l2.set(key, value)
        self.l1.set(key, value)

    def delete(self, key: str) -> bool:
        in_l1 = self.l1.delete(key)
        in_l2 = self.l2.delete(key)
        return in_l1 or in_l2

    def clear(self) -> None:
        self.l1.clear()
        self.l2.clear()

    def stats(self) -> TwoLevelStats:
        with self._lock:
            counts = (self._l1_hits, self._l2_hits, self._misses)
        return TwoLevelStats(*counts, l1=self.l1.stats(), l2=self.l2.stats())
