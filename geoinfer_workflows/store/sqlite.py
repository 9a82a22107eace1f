"""The embedded back-end: SQLite from the standard library.

Schema (one table, `TABLE` below by default ``points``)::

    TABLE        (id INTEGER PRIMARY KEY, lat REAL, lon REAL, t INTEGER, value REAL,
                  disease TEXT NOT NULL DEFAULT '')
    TABLE_key    UNIQUE (disease, lat, lon, t, value): the natural key (a duplicate load
                 adds nothing) and the composite (disease, location) B-tree of the
                 surveillance query (equality on disease, a range on lat)
    TABLE_t      B-tree on t: time windows
    TABLE_rtree  R*Tree virtual table (id, min_lat, max_lat, min_lon, max_lon): location

The R*Tree holds 32-bit floats rounded outwards, so it is a prefilter; the exact bounds
are applied to the stored float64 columns in the same statement.

Writes: one transaction per `write` (``BEGIN IMMEDIATE`` .. ``COMMIT``), rows inserted
with ``ON CONFLICT DO NOTHING`` on the natural key, the R*Tree filled from the new ids
before the commit. The journal is WAL with ``synchronous=FULL``: a committed batch
survives a crash of the process or the machine; a crash mid-batch leaves the database as
it was before the batch (SQLite rolls the unfinished transaction back on next open).
"""

from __future__ import annotations

import os
import re
import sqlite3
from itertools import islice
from typing import Any

from geoinfer_workflows.modules.ingest import IngestResult
from geoinfer_workflows.store._base import (
    BBox,
    Columns,
    IndexedStore,
    Progress,
    StoreError,
    accepted_columns,
)
from geoinfer_workflows.validation import check_int

TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
COLUMNS = "lat, lon, t, value, disease"


def check_table(table: str) -> str:
    if not isinstance(table, str) or not TABLE_NAME.match(table):
        raise StoreError(f"table must match {TABLE_NAME.pattern}, got {table!r}")
    return table


class SQLiteStore(IndexedStore):
    """A `SpatialStore` in one SQLite file (or ``":memory:"``).

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules.ingest import ingest_columns
    >>> store = SQLiteStore(":memory:")
    >>> batch = ingest_columns([-1.29, -1.30], [36.82, 36.83], [0, 60], [1.0, 1.0],
    ...                        disease=np.array(["dengue", "measles"]))
    >>> store.write(batch), store.write(batch), store.count()
    (2, 0, 2)
    >>> store.cases("dengue", (36.0, -2.0, 37.0, -1.0), week=0).lat
    array([-1.29])
    >>> "USING INDEX points_t" in store.check_plan("time_window", 0, 60)
    True
    """

    def __init__(self, path: str | os.PathLike[str], *, table: str = "points") -> None:
        self.path = os.fspath(path)
        self.table = check_table(table)
        try:
            self.connection = sqlite3.connect(self.path, isolation_level=None)
            self._create()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store {self.path}: {exc}") from exc

    def _create(self) -> None:
        t = self.table
        con = self.connection
        if self.path != ":memory:":
            con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
        con.executescript(
            f"""
            BEGIN;
            CREATE TABLE IF NOT EXISTS {t} (
                id INTEGER PRIMARY KEY,
                lat REAL NOT NULL,
                lon REAL NOT NULL,
                t INTEGER NOT NULL,
                value REAL NOT NULL,
                disease TEXT NOT NULL DEFAULT ''
            );
            CREATE UNIQUE INDEX IF NOT EXISTS {t}_key ON {t} (disease, lat, lon, t, value);
            CREATE INDEX IF NOT EXISTS {t}_t ON {t} (t);
            CREATE VIRTUAL TABLE IF NOT EXISTS {t}_rtree
                USING rtree(id, min_lat, max_lat, min_lon, max_lon);
            COMMIT;
            """
        )

    # -- writing -------------------------------------------------------------------------
    def write(
        self,
        result: IngestResult,
        *,
        chunk_rows: int = 50_000,
        progress: Progress | None = None,
    ) -> int:
        """Store the accepted rows of `result` in one transaction; return how many were new
        (rows already stored, by the natural key, are skipped: a duplicate load is a no-op).

        `progress(rows_sent)` is called after each chunk of `chunk_rows`, inside the
        transaction (nothing is visible to readers before the commit).
        """
        cols = accepted_columns(result)
        chunk_rows = check_int(chunk_rows, "chunk_rows", 1)
        t = self.table
        con = self.connection
        rows = zip(
            cols.lat.tolist(),
            cols.lon.tolist(),
            cols.t.tolist(),
            cols.value.tolist(),
            cols.disease.tolist(),
            strict=True,
        )
        insert = (
            f"INSERT INTO {t} ({COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (disease, lat, lon, t, value) DO NOTHING"
        )
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                (last_id,) = con.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()
                changes = con.total_changes
                sent = 0
                while chunk := list(islice(rows, chunk_rows)):
                    con.executemany(insert, chunk)
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent)
                added = con.total_changes - changes
                con.execute(
                    f"INSERT INTO {t}_rtree SELECT id, lat, lat, lon, lon FROM {t} WHERE id > ?",
                    (last_id,),
                )
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            if added:
                con.execute("PRAGMA optimize")  # keeps the planner's statistics current
        except sqlite3.Error as exc:
            raise StoreError(f"write to {self.path} failed, batch rolled back: {exc}") from exc
        return added

    def count(self) -> int:
        return self.connection.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]

    # -- primitives ------------------------------------------------------------------------
    def _bbox_sql(self, use_index: bool) -> str:
        t = self.table
        if use_index:
            return (
                f"SELECT {t}.lat, {t}.lon, {t}.t, {t}.value, {t}.disease "
                f"FROM {t}_rtree JOIN {t} ON {t}.id = {t}_rtree.id "
                f"WHERE {t}_rtree.max_lat >= :south AND {t}_rtree.min_lat <= :north "
                f"AND {t}_rtree.max_lon >= :west AND {t}_rtree.min_lon <= :east "
                f"AND {t}.lat BETWEEN :south AND :north AND {t}.lon BETWEEN :west AND :east"
            )
        return (
            f"SELECT {COLUMNS} FROM {t} NOT INDEXED "
            "WHERE lat BETWEEN :south AND :north AND lon BETWEEN :west AND :east"
        )

    @staticmethod
    def _box_params(box: BBox) -> list[dict[str, float]]:
        return [
            {"west": w, "east": e, "south": box.south, "north": box.north}
            for w, e in box.lon_ranges()
        ]

    def _window_sql(self, use_index: bool) -> str:
        hint = "" if use_index else " NOT INDEXED"
        return f"SELECT {COLUMNS} FROM {self.table}{hint} WHERE t >= :t0 AND t < :t1"

    def _cases_sql(self, use_index: bool) -> str:
        hint = "" if use_index else " NOT INDEXED"
        return (
            f"SELECT {COLUMNS} FROM {self.table}{hint} WHERE disease = :disease "
            "AND lat BETWEEN :south AND :north AND lon BETWEEN :west AND :east "
            "AND t >= :t0 AND t < :t1"
        )

    def _fetch(self, sql: str, params: dict[str, Any]) -> Columns:
        try:
            return Columns.from_rows(self.connection.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"query on {self.path} failed: {exc}") from exc

    def _bbox(self, box: BBox, use_index: bool) -> Columns:
        sql = self._bbox_sql(use_index)
        return Columns.concat([self._fetch(sql, p) for p in self._box_params(box)])

    def _window(self, t0: int, t1: int, use_index: bool) -> Columns:
        return self._fetch(self._window_sql(use_index), {"t0": t0, "t1": t1})

    def _cases(self, disease: str, box: BBox, t0: int, t1: int, use_index: bool) -> Columns:
        sql = self._cases_sql(use_index)
        return Columns.concat(
            [
                self._fetch(sql, {**p, "disease": disease, "t0": t0, "t1": t1})
                for p in self._box_params(box)
            ]
        )

    def _statement(self, primitive: str, args: tuple[Any, ...], use_index: bool):
        if primitive == "bbox":
            return self._bbox_sql(use_index), self._box_params(args[0])[0]
        if primitive == "window":
            return self._window_sql(use_index), {"t0": args[0], "t1": args[1]}
        disease, box, t0, t1 = args
        params = {**self._box_params(box)[0], "disease": disease, "t0": t0, "t1": t1}
        return self._cases_sql(use_index), params

    def _plan(self, primitive: str, args: tuple[Any, ...], use_index: bool) -> str:
        sql, params = self._statement(primitive, args, use_index)
        try:
            # A cached EXPLAIN statement keeps the plan of the schema it was prepared on
            # (it never re-checks the schema): the schema's version in its text makes a
            # dropped or added index give a fresh plan.
            (version,) = self.connection.execute("PRAGMA schema_version").fetchone()
            explain = f"EXPLAIN QUERY PLAN {sql} -- schema {version}"
            rows = self.connection.execute(explain, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot plan the {primitive} query: {exc}") from exc
        return "\n".join(str(row[-1]) for row in rows)

    def _index_names(self, primitive: str) -> tuple[str, ...]:
        t = self.table
        return {"bbox": (f"{t}_rtree",), "window": (f"{t}_t",), "cases": (f"{t}_key",)}[primitive]

    def close(self) -> None:
        self.connection.close()
