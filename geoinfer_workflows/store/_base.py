"""What every back-end shares: the interface, the query geometry and the exact filters.

A back-end implements three indexed primitives (rows in a bounding box, rows in a time
window, one disease's rows in a box and window) and the plan of each; radius and
k-nearest are built here on the box primitive: the index narrows to the cap's bounding
box, then `modules.space.haversine_m` decides, so both back-ends answer exactly what a
numpy scan answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from geoinfer_workflows.errors import ExitCode, GeoInferError, ParameterError
from geoinfer_workflows.modules.ingest import IngestResult
from geoinfer_workflows.modules.space import EARTH_RADIUS_M, haversine_m
from geoinfer_workflows.table import PointTable
from geoinfer_workflows.validation import check_int, check_options, check_real

WEEK_S = 7 * 86_400
QUERIES = ("bbox", "radius", "nearest", "time_window", "cases")
# The natural key: a row is its content. A second load of the same rows adds nothing.
KEY_COLUMNS = ("disease", "lat", "lon", "t", "value")
HALF_CIRCUMFERENCE_M = math.pi * EARTH_RADIUS_M
NEAREST_START_M = 100.0  # first search radius of k-nearest; grows x4 until k rows are in
NEAREST_GROWTH = 4.0
CAP_MARGIN_DEG = 1e-9  # widen the cap's box by float rounding; haversine decides exactly

Progress = Callable[[int], None]


class StoreError(GeoInferError):
    """The store cannot do what was asked: no server or driver, a lost connection (the
    batch was rolled back), a schema that is not the store's."""

    exit_code = ExitCode.CANNOT_RUN


class IndexNotUsedError(StoreError):
    """A query's plan does not use the index it is built for (a dropped or unusable
    index): raised by `check_plan`, so a lost index fails instead of slowing down."""


class BBox(NamedTuple):
    """A box in degrees, GeoJSON order. `west > east` crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    @classmethod
    def of(cls, value: Any) -> BBox:
        """A checked box from any 4-sequence (west, south, east, north)."""
        if isinstance(value, BBox):
            return value
        try:
            west, south, east, north = value
        except (TypeError, ValueError):
            raise ParameterError(
                f"bbox must be (west, south, east, north) in degrees, got {value!r}"
            ) from None
        west = check_real(west, "bbox west", -180.0, 180.0)
        east = check_real(east, "bbox east", -180.0, 180.0)
        south = check_real(south, "bbox south", -90.0, 90.0)
        north = check_real(north, "bbox north", -90.0, 90.0)
        if south > north:
            raise ParameterError(f"bbox south must be <= north, got {south} > {north}")
        return cls(west, south, east, north)

    def lon_ranges(self) -> tuple[tuple[float, float], ...]:
        """Closed longitude ranges covering the box: two when it crosses the antimeridian."""
        if self.west <= self.east:
            return ((self.west, self.east),)
        return ((self.west, 180.0), (-180.0, self.east))

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The exact membership test every back-end applies (closed bounds)."""
        inside_lat = (lat >= self.south) & (lat <= self.north)
        if self.west <= self.east:
            return inside_lat & (lon >= self.west) & (lon <= self.east)
        return inside_lat & ((lon >= self.west) | (lon <= self.east))


def cap_bbox(lat: float, lon: float, metres: float) -> BBox:
    """The bounding box of the spherical cap of radius `metres` around (lat, lon)."""
    dlat = math.degrees(metres / EARTH_RADIUS_M) + CAP_MARGIN_DEG
    south, north = lat - dlat, lat + dlat
    if south <= -90.0 or north >= 90.0:  # the cap holds a pole: every longitude
        return BBox(-180.0, max(south, -90.0), 180.0, min(north, 90.0))
    ratio = math.sin(metres / EARTH_RADIUS_M) / math.cos(math.radians(lat))
    dlon = math.degrees(math.asin(min(ratio, 1.0))) + CAP_MARGIN_DEG
    if dlon >= 180.0:
        return BBox(-180.0, south, 180.0, north)
    west, east = lon - dlon, lon + dlon
    if west < -180.0:
        west += 360.0
    if east > 180.0:
        east -= 360.0
    return BBox(west, south, east, north)


class Columns(NamedTuple):
    """Rows as columns, in the store's schema."""

    lat: np.ndarray
    lon: np.ndarray
    t: np.ndarray
    value: np.ndarray
    disease: np.ndarray

    @classmethod
    def empty(cls) -> Columns:
        f = np.empty(0, dtype=np.float64)
        return cls(f, f.copy(), np.empty(0, dtype=np.int64), f.copy(), np.empty(0, dtype=str))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> Columns:
        """Columns from fetched (lat, lon, t, value, disease) tuples."""
        if not rows:
            return cls.empty()
        lat, lon, t, value, disease = zip(*rows, strict=True)
        return cls(
            np.array(lat, dtype=np.float64),
            np.array(lon, dtype=np.float64),
            np.array(t, dtype=np.int64),
            np.array(value, dtype=np.float64),
            np.array(disease, dtype=str),
        )

    @classmethod
    def concat(cls, parts: Sequence[Columns]) -> Columns:
        if len(parts) == 1:
            return parts[0]
        parts = [p for p in parts if len(p.lat)] or [cls.empty()]
        return cls(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))

    def take(self, index: np.ndarray) -> Columns:
        return Columns(*(col[index] for col in self))

    def canonical_order(self) -> np.ndarray:
        """Rows sorted by time, then lat, lon, value, disease: one order for every store."""
        return np.lexsort((self.disease, self.value, self.lon, self.lat, self.t))

    def table(self, distance_m: np.ndarray | None = None) -> PointTable:
        extra = {"disease": self.disease}
        if distance_m is not None:
            extra["distance_m"] = distance_m
        return PointTable(lat=self.lat, lon=self.lon, t=self.t, value=self.value, extra=extra)


def accepted_columns(result: IngestResult) -> Columns:
    """The accepted rows of an ingestion, in the store's schema (rejected rows have no
    place here: only `result.table` is read). `disease` must be names (strings); rows
    without a disease column are stored with disease ''."""
    if not isinstance(result, IngestResult):
        raise ParameterError(
            f"a store writes an IngestResult (validated rows only), got {type(result).__name__}"
        )
    table = result.table
    disease = table.extra.get("disease")
    if disease is None:
        names = np.full(len(table), "", dtype="<U1")
    else:
        disease = np.asarray(disease)
        if disease.dtype.kind not in "UO" or not all(isinstance(d, str) for d in disease[:1]):
            raise ParameterError(
                "the disease column must hold names (strings), got dtype "
                f"{disease.dtype}; map codes to names before ingesting"
            )
        names = disease.astype(str)
    return Columns(
        np.ascontiguousarray(table.lat, dtype=np.float64),
        np.ascontiguousarray(table.lon, dtype=np.float64),
        np.ascontiguousarray(table.t, dtype=np.int64),
        np.ascontiguousarray(table.value, dtype=np.float64),
        names,
    )


def check_point(lat: Any, lon: Any) -> tuple[float, float]:
    return check_real(lat, "lat", -90.0, 90.0), check_real(lon, "lon", -180.0, 180.0)


def check_window(t0: Any, t1: Any) -> tuple[int, int]:
    t0 = check_int(t0, "t0")
    t1 = check_int(t1, "t1")
    if t1 < t0:
        raise ParameterError(f"time window must have t0 <= t1, got {t0} > {t1}")
    return t0, t1


def check_disease(disease: Any) -> str:
    if not isinstance(disease, str) or not disease:
        raise ParameterError(f"disease must be a non-empty name, got {disease!r}")
    return disease


@runtime_checkable
class SpatialStore(Protocol):
    """Point observations stored and queried by place and time.

    Every query returns a `PointTable` (its `extra["disease"]` the names; radius and
    nearest add `extra["distance_m"]`), rows in one canonical order (time, lat, lon,
    value, disease; nearest: by distance first). `use_index=False` runs the same query as
    a full scan: the baseline the benchmarks compare the index with.
    """

    def write(self, result: IngestResult) -> int:
        """Store the accepted rows in one transaction; return how many were new."""
        ...

    def count(self) -> int: ...

    def bbox(self, bbox: Any, *, use_index: bool = True) -> PointTable: ...

    def radius(
        self, lat: float, lon: float, metres: float, *, use_index: bool = True
    ) -> PointTable: ...

    def nearest(self, lat: float, lon: float, k: int, *, use_index: bool = True) -> PointTable: ...

    def time_window(self, t0: int, t1: int, *, use_index: bool = True) -> PointTable: ...

    def cases(self, disease: str, bbox: Any, week: int, *, use_index: bool = True) -> PointTable:
        """One disease's cases in a region during the week that starts at `week` (epoch
        seconds): the disease surveillance query."""
        ...

    def close(self) -> None: ...


class IndexedStore:
    """The query logic both database back-ends share, over their three primitives.

    Subclasses implement `_bbox`, `_window`, `_cases` (each returning `Columns`, filtered
    exactly, with `use_index` choosing index or full scan), `_plan` (the database's plan
    text of a primitive), `_index_names` (the indexes a primitive's plan must show, any
    one of them), and `write`, `count`, `close`.
    """

    # -- primitives ----------------------------------------------------------------------
    def _bbox(self, box: BBox, use_index: bool) -> Columns:
        raise NotImplementedError

    def _window(self, t0: int, t1: int, use_index: bool) -> Columns:
        raise NotImplementedError

    def _cases(self, disease: str, box: BBox, t0: int, t1: int, use_index: bool) -> Columns:
        raise NotImplementedError

    def _plan(self, primitive: str, args: tuple[Any, ...], use_index: bool) -> str:
        raise NotImplementedError

    def _index_names(self, primitive: str) -> tuple[str, ...]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    # -- queries ---------------------------------------------------------------------------
    def bbox(self, bbox: Any, *, use_index: bool = True) -> PointTable:
        """Rows inside the box (closed bounds; `west > east` crosses the antimeridian)."""
        cols = self._bbox(BBox.of(bbox), use_index)
        return cols.take(cols.canonical_order()).table()

    def _within(self, lat: float, lon: float, metres: float, use_index: bool):
        cols = self._bbox(cap_bbox(lat, lon, metres), use_index)
        distance = haversine_m(lat, lon, cols.lat, cols.lon)
        inside = distance <= metres
        return cols.take(inside), distance[inside]

    def radius(self, lat: Any, lon: Any, metres: Any, *, use_index: bool = True) -> PointTable:
        """Rows within `metres` of (lat, lon) on the sphere (haversine, inclusive)."""
        lat, lon = check_point(lat, lon)
        metres = check_real(metres, "metres", 0.0)
        cols, distance = self._within(lat, lon, metres, use_index)
        order = cols.canonical_order()
        return cols.take(order).table(distance[order])

    def nearest(self, lat: Any, lon: Any, k: Any, *, use_index: bool = True) -> PointTable:
        """The `k` rows nearest to (lat, lon), nearest first (ties: canonical order).

        Exact: a cap that holds at least k rows holds the k nearest and every row tied
        with the k-th, so the search widens the cap (x4) until it holds k rows (or the
        whole sphere, which holds every row) and ranks them by haversine distance.
        """
        lat, lon = check_point(lat, lon)
        k = check_int(k, "k", 0)
        metres = NEAREST_START_M
        while True:
            cols, distance = self._within(lat, lon, metres, use_index)
            if len(cols.lat) >= k or metres >= HALF_CIRCUMFERENCE_M:
                break
            metres = min(metres * NEAREST_GROWTH, HALF_CIRCUMFERENCE_M)
        order = np.lexsort((cols.disease, cols.value, cols.lon, cols.lat, cols.t, distance))[:k]
        return cols.take(order).table(distance[order])

    def time_window(self, t0: Any, t1: Any, *, use_index: bool = True) -> PointTable:
        """Rows with t0 <= t < t1 (epoch seconds)."""
        t0, t1 = check_window(t0, t1)
        cols = self._window(t0, t1, use_index)
        return cols.take(cols.canonical_order()).table()

    def cases(self, disease: Any, bbox: Any, week: Any, *, use_index: bool = True) -> PointTable:
        """Cases of `disease` inside `bbox` with week <= t < week + 7 days."""
        disease = check_disease(disease)
        week = check_int(week, "week")
        cols = self._cases(disease, BBox.of(bbox), week, week + WEEK_S, use_index)
        return cols.take(cols.canonical_order()).table()

    # -- plans -----------------------------------------------------------------------------
    def _primitive_of(self, query: str, args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """The primitive (and its arguments) that answers `query(*args)`'s index part."""
        query = check_options(query, "query", QUERIES)
        if query == "bbox":
            return "bbox", (BBox.of(args[0]),)
        if query == "radius":
            lat, lon = check_point(args[0], args[1])
            return "bbox", (cap_bbox(lat, lon, check_real(args[2], "metres", 0.0)),)
        if query == "nearest":
            lat, lon = check_point(args[0], args[1])
            return "bbox", (cap_bbox(lat, lon, NEAREST_START_M),)
        if query == "time_window":
            return "window", check_window(*args)
        disease, bbox, week = args
        week = check_int(week, "week")
        return "cases", (check_disease(disease), BBox.of(bbox), week, week + WEEK_S)

    def explain(self, query: str, *args: Any, use_index: bool = True) -> str:
        """The database's plan of `query(*args)` (of its index part for radius/nearest)."""
        primitive, prim_args = self._primitive_of(query, args)
        return self._plan(primitive, prim_args, use_index)

    def check_plan(self, query: str, *args: Any, use_index: bool = True) -> str:
        """The plan, checked: with `use_index` it must name one of the query's indexes,
        without it none. Raises `IndexNotUsedError` otherwise; returns the plan."""
        primitive, prim_args = self._primitive_of(query, args)
        plan = self._plan(primitive, prim_args, use_index)
        wanted = self._index_names(primitive)
        used = [name for name in wanted if re.search(rf"\b{re.escape(name)}\b", plan)]
        if use_index and not used:
            raise IndexNotUsedError(
                f"{type(self).__name__}.{query} does not use its index "
                f"({' or '.join(wanted)}); plan:\n{plan}"
            )
        if not use_index and used:
            raise IndexNotUsedError(
                f"{type(self).__name__}.{query} with use_index=False still uses {used}; "
                f"plan:\n{plan}"
            )
        return plan

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]
