"""The brute-force reference: every query a full numpy scan, no index, no database.

What the database back-ends must return, row for row (tests and benchmarks compare them
with it). Radius and nearest compute the haversine distance of every row, with no box
prefilter, so they check the back-ends' cap geometry too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geoinfer_workflows.modules.ingest import IngestResult
from geoinfer_workflows.modules.space import haversine_m
from geoinfer_workflows.store._base import (
    WEEK_S,
    BBox,
    Columns,
    accepted_columns,
    check_disease,
    check_point,
    check_window,
)
from geoinfer_workflows.table import PointTable
from geoinfer_workflows.validation import check_int, check_real


class MemoryStore:
    """A `SpatialStore` in numpy arrays, deduplicated on the natural key like the others.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules.ingest import ingest_columns
    >>> store = MemoryStore()
    >>> batch = ingest_columns([0.0, 1.0], [0.0, 1.0], [0, 60], [1.0, 2.0])
    >>> store.write(batch), store.write(batch), store.count()
    (2, 0, 2)
    >>> store.radius(0.0, 0.0, 1_000.0).lat
    array([0.])
    """

    def __init__(self) -> None:
        self._cols = Columns.empty()

    def write(self, result: IngestResult, **_: Any) -> int:
        new = accepted_columns(result)
        both = Columns.concat([self._cols, new])
        before = len(self._cols.lat)
        # First occurrence of each key wins: stored rows, then the batch in order.
        key = np.rec.fromarrays([both.disease, both.lat, both.lon, both.t, both.value])
        _, first = np.unique(key, return_index=True)
        self._cols = both.take(np.sort(first))
        return len(self._cols.lat) - before

    def count(self) -> int:
        return len(self._cols.lat)

    def _sorted(self, mask: np.ndarray, distance: np.ndarray | None = None) -> PointTable:
        cols = self._cols.take(mask)
        order = cols.canonical_order()
        return cols.take(order).table(None if distance is None else distance[mask][order])

    def bbox(self, bbox: Any, *, use_index: bool = True) -> PointTable:
        return self._sorted(BBox.of(bbox).contains(self._cols.lat, self._cols.lon))

    def radius(self, lat: Any, lon: Any, metres: Any, *, use_index: bool = True) -> PointTable:
        lat, lon = check_point(lat, lon)
        metres = check_real(metres, "metres", 0.0)
        distance = haversine_m(lat, lon, self._cols.lat, self._cols.lon)
        return self._sorted(distance <= metres, distance)

    def nearest(self, lat: Any, lon: Any, k: Any, *, use_index: bool = True) -> PointTable:
        lat, lon = check_point(lat, lon)
        k = check_int(k, "k", 0)
        c = self._cols
        distance = haversine_m(lat, lon, c.lat, c.lon)
        order = np.lexsort((c.disease, c.value, c.lon, c.lat, c.t, distance))[:k]
        return c.take(order).table(distance[order])

    def time_window(self, t0: Any, t1: Any, *, use_index: bool = True) -> PointTable:
        t0, t1 = check_window(t0, t1)
        return self._sorted((self._cols.t >= t0) & (self._cols.t < t1))

    def cases(self, disease: Any, bbox: Any, week: Any, *, use_index: bool = True) -> PointTable:
        disease = check_disease(disease)
        week = check_int(week, "week")
        c = self._cols
        mask = (
            (c.disease == disease)
            & BBox.of(bbox).contains(c.lat, c.lon)
            & (c.t >= week)
            & (c.t < week + WEEK_S)
        )
        return self._sorted(mask)

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
