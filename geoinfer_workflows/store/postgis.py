"""The server back-end: PostgreSQL with PostGIS, through psycopg 3 (the `store` extra).

The server is named by a DSN, from the argument or the environment variable
`GEOINFER_PG_DSN` (``postgresql://user:password@host:port/dbname``);
`scripts/start-postgis` starts a local one and prints it. The database needs the
`postgis` and `btree_gist` extensions (created here when the role may, else by the
script or an administrator).

Schema (one table, ``points`` by default)::

    TABLE               (id bigint identity, lat float8, lon float8, t bigint, value float8,
                         disease text NOT NULL DEFAULT '', geom geometry(Point, 4326))
    TABLE_key           UNIQUE B-tree (disease, lat, lon, t, value): the natural key
    TABLE_geom          GiST (geom): location
    TABLE_t             B-tree (t): time
    TABLE_disease_geom  GiST (disease, geom), btree_gist: the surveillance query

Writes: one transaction per `write`. The rows go to a temporary table by binary ``COPY``
(fixed-width records built in numpy), then ``INSERT .. SELECT .. ON CONFLICT DO NOTHING``
on the natural key, with the geometry made by ``ST_MakePoint``. A connection lost at any
point before the commit (a killed backend, a network failure) leaves the table as it was:
the server rolls the transaction back. The store object is then closed; open a new one.

``geom && ST_MakeEnvelope(..)`` is the index's condition; the exact closed bounds are
applied to the float64 lat/lon columns in the same statement. With ``use_index=False``
the same statement runs with index and bitmap scans disabled (``SET LOCAL``): a
sequential scan, the baseline of the benchmarks.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import numpy as np

from geoinfer_workflows.modules.ingest import IngestResult
from geoinfer_workflows.store._base import (
    BBox,
    Columns,
    IndexedStore,
    Progress,
    StoreError,
    accepted_columns,
)
from geoinfer_workflows.store.sqlite import check_table
from geoinfer_workflows.validation import check_int

DSN_ENV = "GEOINFER_PG_DSN"
SRID = 4326
COLUMNS = "lat, lon, t, value, disease"
NO_INDEX = (
    "SET LOCAL enable_indexscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL enable_indexonlyscan = off",
)
# PostgreSQL's binary COPY: signature, flags, header extension length; then per row the
# field count and each field as (length, big-endian value); a -1 field count ends it.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("lat_len", ">i4"),
        ("lat", ">f8"),
        ("lon_len", ">i4"),
        ("lon", ">f8"),
        ("t_len", ">i4"),
        ("t", ">i8"),
        ("value_len", ">i4"),
        ("value", ">f8"),
        ("code_len", ">i4"),
        ("code", ">i2"),
    ]
)
MAX_NAMES = 32_767  # disease names per batch (an int2 code each in the COPY)


def _psycopg():
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            "the PostGIS store needs psycopg 3: pip install 'geoinfer-workflows[store]'"
        ) from exc
    return psycopg


def copy_records(cols: Columns) -> tuple[np.ndarray, list[str]]:
    """The rows as binary COPY records (lat, lon, t, value, disease code) and the names."""
    names, codes = np.unique(cols.disease, return_inverse=True)
    if names.size > MAX_NAMES:
        raise StoreError(f"at most {MAX_NAMES} disease names per batch, got {names.size}")
    records = np.empty(len(cols.lat), dtype=COPY_ROW)
    records["fields"] = 5
    for name, width in (("lat", 8), ("lon", 8), ("t", 8), ("value", 8), ("code", 2)):
        records[f"{name}_len"] = width
    records["lat"], records["lon"], records["t"], records["value"] = cols[:4]
    records["code"] = codes
    return records, names.tolist()


class PostGISStore(IndexedStore):
    """A `SpatialStore` in a PostgreSQL + PostGIS table.

    Parameters
    ----------
    dsn : str, optional
        libpq connection string or URI; default: the environment's `GEOINFER_PG_DSN`.
    table : str
        Table name (lower-case identifier); its indexes are named after it.
    connect_timeout : int
        Seconds to wait for the server.
    """

    def __init__(
        self, dsn: str | None = None, *, table: str = "points", connect_timeout: int = 10
    ) -> None:
        self.table = check_table(table)
        dsn = dsn or os.environ.get(DSN_ENV, "")
        if not dsn:
            raise StoreError(
                f"no PostgreSQL server: set {DSN_ENV} to its DSN "
                '(a local one: eval "$(scripts/start-postgis --env)")'
            )
        psycopg = _psycopg()
        self._errors = psycopg.Error
        try:
            # prepare_threshold=None: no server-side prepared plans, so each statement is
            # planned with the settings in force (use_index=False's SET LOCAL included).
            self.connection = psycopg.connect(
                dsn, autocommit=True, connect_timeout=connect_timeout, prepare_threshold=None
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({DSN_ENV}): {exc}") from exc
        try:
            self._create()
        except psycopg.Error as exc:
            self.connection.close()
            raise StoreError(f"cannot create the store's table {table}: {exc}") from exc

    @property
    def backend_pid(self) -> int:
        """The server process serving this store's connection."""
        return self.connection.info.backend_pid

    def _create(self) -> None:
        t = self.table
        con = self.connection
        have = {
            row[0]
            for row in con.execute(
                "SELECT extname FROM pg_extension WHERE extname IN ('postgis', 'btree_gist')"
            )
        }
        for extension in sorted({"postgis", "btree_gist"} - have):
            try:
                con.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            except self._errors as exc:
                raise StoreError(
                    f"the database lacks the {extension} extension and this role cannot "
                    f"create it (scripts/start-postgis does, as the superuser): {exc}"
                ) from exc
        with con.transaction():
            # One creator at a time: concurrent CREATE .. IF NOT EXISTS can still collide.
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"geoinfer.{t}",))
            con.execute(
                f"""CREATE TABLE IF NOT EXISTS {t} (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    lat double precision NOT NULL,
                    lon double precision NOT NULL,
                    t bigint NOT NULL,
                    value double precision NOT NULL,
                    disease text NOT NULL DEFAULT '',
                    geom geometry(Point, {SRID}) NOT NULL
                )"""
            )
            con.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {t}_key ON {t} (disease, lat, lon, t, value)"
            )
            con.execute(f"CREATE INDEX IF NOT EXISTS {t}_geom ON {t} USING gist (geom)")
            con.execute(f"CREATE INDEX IF NOT EXISTS {t}_t ON {t} (t)")
            con.execute(
                f"CREATE INDEX IF NOT EXISTS {t}_disease_geom ON {t} USING gist (disease, geom)"
            )

    # -- writing -------------------------------------------------------------------------
    def write(
        self,
        result: IngestResult,
        *,
        chunk_rows: int = 100_000,
        progress: Progress | None = None,
    ) -> int:
        """Store the accepted rows of `result` in one transaction; return how many were new
        (rows already stored, by the natural key, are skipped: a duplicate load is a no-op).

        `progress(rows_sent)` is called after each COPY chunk of `chunk_rows`, inside the
        transaction.
        """
        cols = accepted_columns(result)
        chunk_rows = check_int(chunk_rows, "chunk_rows", 1)
        records, names = copy_records(cols)
        t = self.table
        con = self.connection
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute(
                    "CREATE TEMP TABLE geoinfer_staging (lat float8, lon float8, t int8, "
                    "value float8, code int2) ON COMMIT DROP"
                )
                with cur.copy("COPY geoinfer_staging FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(COPY_HEADER)
                    for start in range(0, len(records), chunk_rows):
                        chunk = records[start : start + chunk_rows]
                        copy.write(chunk.tobytes())
                        if progress is not None:
                            progress(start + len(chunk))
                    copy.write(COPY_TRAILER)
                cur.execute(
                    f"INSERT INTO {t} ({COLUMNS}, geom) "
                    "SELECT s.lat, s.lon, s.t, s.value, (%s::text[])[s.code + 1], "
                    f"ST_SetSRID(ST_MakePoint(s.lon, s.lat), {SRID}) FROM geoinfer_staging s "
                    "ON CONFLICT (disease, lat, lon, t, value) DO NOTHING",
                    (names,),
                )
                added = cur.rowcount
            if added:
                con.execute(f"ANALYZE {t}")  # the planner's statistics, for the new rows
        except self._errors as exc:
            lost = con.closed or con.broken
            if lost:
                con.close()
            raise StoreError(
                f"write to {t} failed, the batch was rolled back"
                + (" (connection lost; open a new store)" if lost else "")
                + f": {exc}"
            ) from exc
        return added

    def count(self) -> int:
        return self.connection.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]

    def drop(self) -> None:
        """Drop the table and its indexes (the store is closed)."""
        self.connection.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.close()

    # -- primitives ------------------------------------------------------------------------
    def _bbox_sql(self) -> str:
        return (
            f"SELECT {COLUMNS} FROM {self.table} WHERE geom && "
            f"ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, {SRID}) "
            "AND lat BETWEEN %(south)s AND %(north)s AND lon BETWEEN %(west)s AND %(east)s"
        )

    def _window_sql(self) -> str:
        return f"SELECT {COLUMNS} FROM {self.table} WHERE t >= %(t0)s AND t < %(t1)s"

    def _cases_sql(self) -> str:
        return (
            f"SELECT {COLUMNS} FROM {self.table} WHERE disease = %(disease)s AND geom && "
            f"ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, {SRID}) "
            "AND lat BETWEEN %(south)s AND %(north)s AND lon BETWEEN %(west)s AND %(east)s "
            "AND t >= %(t0)s AND t < %(t1)s"
        )

    @staticmethod
    def _box_params(box: BBox) -> list[dict[str, float]]:
        return [
            {"west": w, "east": e, "south": box.south, "north": box.north}
            for w, e in box.lon_ranges()
        ]

    def _run(self, statements: list[tuple[str, dict[str, Any]]], use_index: bool) -> list[list]:
        """Each statement's rows, in one read transaction (index scans off if asked)."""
        try:
            with self.connection.transaction(), self.connection.cursor() as cur:
                if not use_index:
                    for setting in NO_INDEX:
                        cur.execute(setting)
                out = []
                for sql, params in statements:
                    cur.execute(sql, params)
                    out.append(cur.fetchall())
                return out
        except self._errors as exc:
            raise StoreError(f"query on {self.table} failed: {exc}") from exc

    def _bbox(self, box: BBox, use_index: bool) -> Columns:
        sql = self._bbox_sql()
        parts = self._run([(sql, p) for p in self._box_params(box)], use_index)
        return Columns.concat([Columns.from_rows(rows) for rows in parts])

    def _window(self, t0: int, t1: int, use_index: bool) -> Columns:
        (rows,) = self._run([(self._window_sql(), {"t0": t0, "t1": t1})], use_index)
        return Columns.from_rows(rows)

    def _cases(self, disease: str, box: BBox, t0: int, t1: int, use_index: bool) -> Columns:
        sql = self._cases_sql()
        statements = [
            (sql, {**p, "disease": disease, "t0": t0, "t1": t1}) for p in self._box_params(box)
        ]
        parts = self._run(statements, use_index)
        return Columns.concat([Columns.from_rows(rows) for rows in parts])

    def _plan(self, primitive: str, args: tuple[Any, ...], use_index: bool) -> str:
        if primitive == "bbox":
            sql, params = self._bbox_sql(), self._box_params(args[0])[0]
        elif primitive == "window":
            sql, params = self._window_sql(), {"t0": args[0], "t1": args[1]}
        else:
            disease, box, t0, t1 = args
            sql = self._cases_sql()
            params = {**self._box_params(box)[0], "disease": disease, "t0": t0, "t1": t1}
        (rows,) = self._run([(f"EXPLAIN {sql}", params)], use_index)
        return "\n".join(row[0] for row in rows)

    def _index_names(self, primitive: str) -> tuple[str, ...]:
        t = self.table
        return {
            # the composite GiST serves a box alone too (its geometry column)
            "bbox": (f"{t}_geom", f"{t}_disease_geom"),
            "window": (f"{t}_t",),
            "cases": (f"{t}_disease_geom", f"{t}_key"),
        }[primitive]

    def close(self) -> None:
        self.connection.close()
