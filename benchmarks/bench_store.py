"""The spatial store (geoinfer_workflows.store): bbox, radius, k-nearest, time window and the
disease surveillance query, each with and without its index, on SQLite and PostGIS, at 1e5
rows (1e6 opt-in: GEOINFER_BENCH_PROFILE=large; loading it takes about a minute a back-end).

The stores are loaded once per run (`setup_cache`, from the seeded builder below). Every
`setup` checks the database's plan first: an indexed case whose plan misses its index
raises `IndexNotUsedError` (a failed benchmark, not a silent slowdown), and a `no_index`
case must be a full scan. `track_rows_returned` counts each query's rows after checking
them row for row against the numpy brute force (`MemoryStore`), so the counts are equal
across back-ends by construction, or the benchmark fails.

PostGIS runs when GEOINFER_PG_DSN names a server (`eval "$(scripts/start-postgis --env)"`)
and psycopg is installed in the benchmarked environment; otherwise its cases are skipped
(NotImplementedError), as are all cases at commits that predate the store.
"""

from __future__ import annotations

import os

import numpy as np

from . import common

BACKENDS = ("sqlite", "postgis")
ROWS = (100_000, *((1_000_000,) if common.LARGE else ()))
INDEX = ("index", "no_index")
QUERY_NAMES = ("bbox", "radius", "nearest", "time_window", "cases")
DISEASE_NAMES = ("influenza", "dengue", "measles", "cholera")
DSN_ENV = "GEOINFER_PG_DSN"


def store_batch(rows: int):
    """The seeded rows every store holds: observations around one city (8 neighbourhoods,
    7 days), a disease name each; as an IngestResult, the one thing a store writes."""
    from geoinfer_workflows.modules.ingest import ingest_columns
    from geoinfer_workflows.synthetic.observations import observations_of_length

    obs = observations_of_length(rows, seed=0)
    rng = np.random.default_rng(1)
    disease = np.asarray(DISEASE_NAMES)[rng.integers(0, len(DISEASE_NAMES), rows)]
    return ingest_columns(obs.lat, obs.lon, obs.t, obs.value, disease=disease)


def store_queries(rows: int) -> dict[str, tuple]:
    """One query of each kind around a seeded stored point: about 1% of the rows each."""
    from geoinfer_workflows.synthetic.observations import START_T

    table = store_batch(rows).table
    j = int(np.random.default_rng(2).integers(rows))
    lat, lon = float(table.lat[j]), float(table.lon[j])
    return {
        "bbox": ((lon - 0.003, lat - 0.003, lon + 0.003, lat + 0.003),),
        "radius": (lat, lon, 300.0),
        "nearest": (lat, lon, 10),
        "time_window": (START_T + 86_400, START_T + 86_400 + 3_600),
        "cases": ("dengue", (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01), START_T),
    }


def _pg_table(rows: int) -> str:
    return f"bench_store_{rows}"


def _open(built: dict, backend: str, rows: int):
    """The loaded store of `backend` at `rows`, or NotImplementedError (asv: skipped)."""
    if "missing" in built:
        raise NotImplementedError(built["missing"])
    key = f"{backend}:{rows}"
    if key not in built:
        raise NotImplementedError(built.get(f"{backend}:why", f"{backend} was not loaded"))
    from geoinfer_workflows import store

    if backend == "sqlite":
        return store.SQLiteStore(built[key])
    return store.PostGISStore(table=built[key])


class _LoadedStores:
    """Loads every store once per run; shared by the classes below (one setup_cache)."""

    def setup_cache(self) -> dict:
        try:
            from geoinfer_workflows import store
        except ImportError:
            return {"missing": "no geoinfer_workflows.store at this commit"}
        built: dict = {}
        for rows in ROWS:
            batch = store_batch(rows)
            path = os.path.abspath(f"store_{rows}.db")
            if os.path.exists(path):
                os.remove(path)
            with store.SQLiteStore(path) as lite:
                lite.write(batch)
            built[f"sqlite:{rows}"] = path
            if not os.environ.get(DSN_ENV):
                built["postgis:why"] = f"{DSN_ENV} is not set"
                continue
            try:
                pg = store.PostGISStore(table=_pg_table(rows))
                pg.drop()  # a fresh table each run: the data is the builder's, exactly
                with store.PostGISStore(table=_pg_table(rows)) as pg:
                    pg.write(batch)
            except store.StoreError as exc:  # no driver or no server: skipped, with why
                built["postgis:why"] = str(exc)
                continue
            built[f"postgis:{rows}"] = _pg_table(rows)
        return built

    setup_cache.timeout = 3_600

    def teardown(self, *args) -> None:
        if getattr(self, "store", None) is not None:
            self.store.close()


class StoreQueries(_LoadedStores):
    """Each query's time, with its index and as a full scan (`use_index=False`)."""

    params = (list(BACKENDS), list(ROWS), list(INDEX))
    param_names = ["backend", "rows", "index"]
    timeout = 600

    def setup(self, built: dict, backend: str, rows: int, index: str) -> None:
        self.store = None
        self.store = _open(built, backend, rows)
        self.use_index = index == "index"
        self.queries = store_queries(rows)
        for query, args in self.queries.items():
            # raises IndexNotUsedError: a dropped index fails the benchmark
            self.store.check_plan(query, *args, use_index=self.use_index)

    def time_bbox(self, built, backend, rows, index) -> None:
        self.store.bbox(*self.queries["bbox"], use_index=self.use_index)

    time_bbox.version = "1"

    def time_radius(self, built, backend, rows, index) -> None:
        self.store.radius(*self.queries["radius"], use_index=self.use_index)

    time_radius.version = "1"

    def time_nearest(self, built, backend, rows, index) -> None:
        self.store.nearest(*self.queries["nearest"], use_index=self.use_index)

    time_nearest.version = "1"

    def time_time_window(self, built, backend, rows, index) -> None:
        self.store.time_window(*self.queries["time_window"], use_index=self.use_index)

    time_time_window.version = "1"

    def time_cases(self, built, backend, rows, index) -> None:
        self.store.cases(*self.queries["cases"], use_index=self.use_index)

    time_cases.version = "1"


class StoreRowsReturned(_LoadedStores):
    """Rows each query returns, checked row for row against the numpy brute force, with
    and without the index: the same number on every back-end, or a failure."""

    params = (list(BACKENDS), list(ROWS), list(QUERY_NAMES))
    param_names = ["backend", "rows", "query"]
    timeout = 600

    def setup(self, built: dict, backend: str, rows: int, query: str) -> None:
        self.store = None
        self.store = _open(built, backend, rows)
        from geoinfer_workflows.store import MemoryStore

        reference = MemoryStore()
        reference.write(store_batch(rows))
        args = store_queries(rows)[query]
        want = getattr(reference, query)(*args)
        for use_index in (True, False):
            got = getattr(self.store, query)(*args, use_index=use_index)
            same = len(got) == len(want) and all(
                np.array_equal(getattr(got, c), getattr(want, c))
                for c in ("lat", "lon", "t", "value")
            )
            if not (same and np.array_equal(got.extra["disease"], want.extra["disease"])):
                raise AssertionError(
                    f"{backend} {query} (use_index={use_index}) returned {len(got)} rows, "
                    f"not the {len(want)} rows of the numpy brute force"
                )
        self.rows = len(want)

    def track_rows_returned(self, built, backend, rows, query) -> int:
        return self.rows

    track_rows_returned.version = "1"
    track_rows_returned.unit = "rows"
