"""The two-level cache: get/set latency per level, and the hit ratio under a Zipf workload
(the guide's target is 0.8)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import compat

KEYS = 1_000
PAYLOAD_FLOATS = 1_024  # an 8 KiB array, the size of a small stage output
# Where the cache lives, newest first: on the workflows' path since "cache on the path",
# before that in the harness, and first in perf/.
CACHE_PATHS = (
    "geoinfer_workflows.orchestration.cache",
    "geoinfer_workflows.harness",
    "geoinfer_workflows.perf",
)


class CacheLatency:
    params = (["l1", "l2", "two_level"], ["get_hit", "get_miss", "set"])
    param_names = ["level", "operation"]
    timeout = 120
    repeat = (5, 10, 10.0)

    def setup(self, level: str, operation: str) -> None:
        import numpy as np

        cache_module = compat.import_first(*CACHE_PATHS)
        LRUCache, SQLiteCache, TwoLevelCache = (
            cache_module.LRUCache,
            cache_module.SQLiteCache,
            cache_module.TwoLevelCache,
        )

        self.tmp = Path(tempfile.mkdtemp(prefix="geoinfer-cache-bench-"))
        l1 = LRUCache(maxsize=2 * KEYS)
        if level == "l1":
            self.cache = l1
        else:
            l2 = SQLiteCache(self.tmp / "l2.sqlite", ttl_seconds=3_600, max_entries=4 * KEYS)
            self.cache = l2 if level == "l2" else TwoLevelCache(l1, l2)
        self.value = np.arange(PAYLOAD_FLOATS, dtype=np.float64)
        for i in range(KEYS):
            self.cache.set(f"key-{i}", self.value)
        self.i = 0

    def teardown(self, level: str, operation: str) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def time_operation(self, level: str, operation: str) -> None:
        self.i = (self.i + 1) % KEYS
        if operation == "get_hit":
            self.cache.get(f"key-{self.i}")
        elif operation == "get_miss":
            self.cache.get(f"absent-{self.i}")
        else:
            self.cache.set(f"key-{self.i}", self.value)

    time_operation.version = "d74a1d0015edf59791b815b66a61d2d666de2c6b51ea37264fcbdd66430a4e32"


class ZipfHitRatio:
    """An LRU of 1,000 entries in front of 20,000 keys requested with Zipf(1.1)
    popularity (a few hot tiles, a long tail), 100,000 requests, seeded."""

    timeout = 120

    def setup(self) -> None:
        import numpy as np

        LRUCache = compat.import_first(*CACHE_PATHS).LRUCache

        rng = np.random.default_rng(0)
        ranks = rng.zipf(1.1, size=200_000)
        self.requests = ranks[ranks <= 20_000][:100_000].tolist()
        self.make_cache = lambda: LRUCache(maxsize=1_000)

    def track_hit_ratio(self) -> float:
        cache = self.make_cache()
        for key in self.requests:
            if cache.get(key) is None:
                cache.set(key, key)
        return cache.stats().hit_ratio

    track_hit_ratio.version = "f43efc7567df9d435a7463fb53cd4d249de829c2218b6c01d18509f095176979"

    track_hit_ratio.unit = "ratio"
