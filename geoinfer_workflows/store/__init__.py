"""The spatial store: observations kept in a database and queried by place and time.

One small interface (`SpatialStore`), three implementations:

- `SQLiteStore` (`store.sqlite`): embedded, standard library; an R*Tree on location,
  B-trees on time and on (disease, location).
- `PostGISStore` (`store.postgis`): PostgreSQL + PostGIS, a DSN from `GEOINFER_PG_DSN`;
  GiST on the geometry, B-tree on time, composite GiST on (disease, geometry), bulk load
  with COPY. Needs the `store` extra (psycopg 3).
- `MemoryStore` (`store.memory`): numpy full scans, the brute-force reference.

What every store promises:

- `write(result)` takes an `IngestResult` and stores its accepted rows only (rejected
  rows never reach a store), in one transaction: a crash or a lost connection mid-batch
  leaves the store as it was before the batch.
- A row is identified by its content, the natural key (disease, lat, lon, t, value):
  loading the same rows twice stores them once (`write` returns the number of new rows).
- Queries: `bbox`, `radius` (metres on the sphere), `nearest` (k), `time_window`
  ([t0, t1)), `cases` (one disease in a box during a week). Radius and nearest are
  exact: the index narrows to a box, `modules.space.haversine_m` decides. Every query
  returns a `PointTable` in one canonical order, so stores compare row for row.
- `use_index=False` runs a query as a full scan; `check_plan(query, ...)` reads the
  database's plan and raises `IndexNotUsedError` when the index is not used.
"""

from __future__ import annotations

from geoinfer_workflows.store._base import (
    KEY_COLUMNS,
    QUERIES,
    WEEK_S,
    BBox,
    IndexNotUsedError,
    SpatialStore,
    StoreError,
    cap_bbox,
)
from geoinfer_workflows.store.memory import MemoryStore
from geoinfer_workflows.store.postgis import DSN_ENV, PostGISStore
from geoinfer_workflows.store.sqlite import SQLiteStore

__all__ = [
    "DSN_ENV",
    "KEY_COLUMNS",
    "QUERIES",
    "WEEK_S",
    "BBox",
    "IndexNotUsedError",
    "MemoryStore",
    "PostGISStore",
    "SQLiteStore",
    "SpatialStore",
    "StoreError",
    "cap_bbox",
]
