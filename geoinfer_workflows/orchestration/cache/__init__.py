"""The cache a workflow run may be given: stage results reused across runs.

Opt-in: ``Pipeline.run(inputs, cache=...)`` (or ``run_workflow(..., cache=...)``) puts a
cache in scope for the run's stages, and the computations a stage wraps in `memoize` are
looked up there (`memo`); without a cache every workflow runs exactly as before. Which
computations are wrapped, and what they save under a service's request mix, is measured
by `benchmarks/bench_cache_on_path.py`.

One module per topic:

- ``base``: `CacheError`, the `CacheLike` interface, `CacheStats`, the `MISSING` sentinel
- ``lru``: `LRUCache`, the in-memory level (L1), a true O(1) LRU
- ``codec``: `encode_value` / `decode_value`, values as bytes without pickle
- ``sqlite``: `SQLiteCache`, the persistent level (L2): TTL, entry bound, self-repair
- ``two_level``: `TwoLevelCache`, L1 over L2
- ``keys``: `input_digest` (cache keys from arrays and plain values), `cached_stage`
- ``memo``: `memoize` and `using_cache`, the cache of the run in progress
"""

from geoinfer_workflows.orchestration.cache.base import MISSING, CacheError, CacheLike, CacheStats
from geoinfer_workflows.orchestration.cache.codec import decode_value, encode_value
from geoinfer_workflows.orchestration.cache.keys import cached_stage, input_digest
from geoinfer_workflows.orchestration.cache.lru import LRUCache
from geoinfer_workflows.orchestration.cache.memo import active_cache, memoize, using_cache
from geoinfer_workflows.orchestration.cache.sqlite import SQLiteCache
from geoinfer_workflows.orchestration.cache.two_level import TwoLevelCache, TwoLevelStats

__all__ = [
    "MISSING",
    "CacheError",
    "CacheLike",
    "CacheStats",
    "LRUCache",
    "SQLiteCache",
    "TwoLevelCache",
    "TwoLevelStats",
    "active_cache",
    "cached_stage",
    "decode_value",
    "encode_value",
    "input_digest",
    "memoize",
    "using_cache",
]
