"""What every cache level shares: the error type, the interface, the counters.

`MISSING` is the sentinel a lookup returns on a miss when the caller must tell a miss from
a cached None (``cache.get(key, MISSING)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from geoinfer_workflows.errors import ExitCode, GeoInferError

__all__ = ["MISSING", "CacheError", "CacheLike", "CacheStats"]

MISSING: Any = object()


class CacheError(GeoInferError):
    """The cache file cannot be used for a reason other than corruption (locked, no access).

    An environment problem, not bad input: a command it ends exits 3 ("cannot run").
    """

    exit_code = ExitCode.CANNOT_RUN


class CacheLike(Protocol):
    """What `cached_stage` and `TwoLevelCache` need from a cache level."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class CacheStats:
    """Counters of one cache level since it was created (per object, not per file)."""

    hits: int
    misses: int
    evictions: int
    size: int
    maxsize: int
    expirations: int = 0
    invalid: int = 0  # entries that did not decode: counted as misses and deleted
    recoveries: int = 0  # damaged files set aside and rebuilt

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups; 0.0 before the first lookup (so it stays JSON-safe)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0
