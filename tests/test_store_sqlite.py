"""The SQLite store: the same rows as a numpy scan on random queries (index and full scan),
plans that use the indexes, idempotent loads, only accepted rows stored, a process killed
mid-load losing nothing committed and keeping nothing of the unfinished batch; and the
disease_surveillance workflow reading its cases from a store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_store_reference import (
    assert_matches_reference,
    city_batch,
    random_queries,
    world_batch,
)

from geoinfer_workflows.modules.ingest import ingest_columns
from geoinfer_workflows.store import (
    QUERIES,
    IndexNotUsedError,
    MemoryStore,
    SpatialStore,
    SQLiteStore,
    StoreError,
)
from geoinfer_workflows.synthetic.observations import START_T

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStore(tmp_path / "store.db") as s:
        yield s


def _plan_args(table) -> dict[str, tuple]:
    lat, lon = float(table.lat[0]), float(table.lon[0])
    box = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    return {
        "bbox": (box,),
        "radius": (lat, lon, 300.0),
        "nearest": (lat, lon, 5),
        "time_window": (START_T, START_T + 3_600),
        "cases": ("dengue", box, START_T),
    }


@pytest.mark.parametrize("use_index", [True, False])
@pytest.mark.parametrize(
    ("make", "n", "scale_deg"),
    [(world_batch, 3_000, 20.0), (city_batch, 5_000, 0.02)],
    ids=["world", "city"],
)
def test_queries_equal_the_numpy_brute_force(store, make, n, scale_deg, use_index):
    batch = make(n, seed=7)
    reference = MemoryStore()
    assert store.write(batch) == reference.write(batch)
    assert isinstance(store, SpatialStore)
    queries = random_queries(batch.table, 30, seed=11, scale_deg=scale_deg)
    assert assert_matches_reference(store, reference, queries, use_index=use_index) > 0


def test_plans_use_the_indexes_and_a_dropped_index_fails(store):
    batch = city_batch(2_000)
    store.write(batch)
    args = _plan_args(batch.table)
    for query in QUERIES:
        assert "points" in store.check_plan(query, *args[query])
        store.check_plan(query, *args[query], use_index=False)  # full scan: no index named
    assert "USING INDEX points_t" in store.explain("time_window", *args["time_window"])
    assert "SCAN points_rtree VIRTUAL TABLE" in store.explain("bbox", *args["bbox"])

    store.connection.execute("DROP INDEX points_t")
    with pytest.raises(IndexNotUsedError, match="time_window does not use its index"):
        store.check_plan("time_window", *args["time_window"])
    store.connection.execute("DROP INDEX points_key")
    with pytest.raises(IndexNotUsedError, match="points_key"):
        store.check_plan("cases", *args["cases"])
    store.connection.execute("DROP TABLE points_rtree")
    with pytest.raises(StoreError, match="points_rtree"):
        store.check_plan("bbox", *args["bbox"])


def test_duplicate_loads_are_idempotent(tmp_path: Path):
    batch = city_batch(3_000, seed=1)
    path = tmp_path / "store.db"
    with SQLiteStore(path) as store:
        assert store.write(batch) == 3_000
        assert store.write(batch) == 0
        # An overlapping batch adds only its new rows.
        more = city_batch(4_000, seed=1)  # the same process, longer: a different sample
        a, b = batch.table, more.table.take(np.arange(500))
        both = ingest_columns(
            *(np.concatenate([getattr(a, c), getattr(b, c)]) for c in ("lat", "lon", "t", "value")),
            disease=np.concatenate([a.extra["disease"], b.extra["disease"]]),
        )
        assert store.write(both) == 500
    with SQLiteStore(path) as store:  # reopened: same rows, indexes in step with the table
        assert store.write(batch) == 0
        assert store.count() == 3_500
        (rtree,) = store.connection.execute("SELECT count(*) FROM points_rtree").fetchone()
        assert rtree == 3_500


def test_rejected_rows_never_reach_the_store(store):
    lat = [1.0, np.nan, 95.0, 2.0, 3.0]
    lon = [1.0, 1.0, 1.0, 200.0, 3.0]
    result = ingest_columns(lat, lon, [START_T] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert (result.accepted, result.rejected_count) == (2, 3)
    assert store.write(result) == 2
    assert store.bbox((-180, -90, 180, 90)).value.tolist() == [1.0, 5.0]


def test_a_failure_mid_batch_rolls_the_batch_back(store):
    store.write(city_batch(1_000, seed=2))

    def fail(sent: int) -> None:
        raise RuntimeError(f"stopped after {sent} rows")

    with pytest.raises(RuntimeError, match="stopped after 100 rows"):
        store.write(city_batch(1_000, seed=3), chunk_rows=100, progress=fail)
    assert store.count() == 1_000
    assert store.write(city_batch(1_000, seed=3)) == 1_000


WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_store_reference import city_batch
    from geoinfer_workflows.store import SQLiteStore

    store = SQLiteStore({path!r})
    print("committed", store.write(city_batch(2_000, seed=1)), flush=True)

    def hang(sent):
        print("mid", sent, flush=True)
        time.sleep(120)  # killed here, its batch half-written inside the transaction

    store.write(city_batch(3_000, seed=2), chunk_rows=1_000, progress=hang)
    print("finished", flush=True)  # never reached
    """
)


def test_a_process_killed_mid_load_keeps_the_committed_batches_only(tmp_path: Path):
    path = tmp_path / "store.db"
    script = WRITER.format(tests=str(ROOT / "tests"), path=str(path))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["committed", "2000"]
        assert child.stdout.readline().split() == ["mid", "1000"]
        # 1,000 rows of the second batch are in the database file's WAL, uncommitted.
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reference = MemoryStore()
    first = city_batch(2_000, seed=1)
    reference.write(first)
    with SQLiteStore(path) as store:
        assert store.count() == 2_000
        (rtree,) = store.connection.execute("SELECT count(*) FROM points_rtree").fetchone()
        assert rtree == 2_000
        queries = random_queries(first.table, 10, seed=5, scale_deg=0.02)
        assert_matches_reference(store, reference, queries, use_index=True)
        assert store.write(city_batch(3_000, seed=2)) == 3_000  # the batch, loaded again


def test_disease_surveillance_reads_its_cases_from_a_store(store):
    from geoinfer_workflows.workflows import disease_surveillance as ds

    assert ds.store_cases(store, "seed", 0) == 150
    assert ds.store_cases(store, "seed", 0) == 0
    direct = ds.PIPELINE.run(ds.make_inputs("seed", 0))
    stored = ds.PIPELINE.run(ds.make_inputs_from_store(store, "seed", 0))
    for name in ("counts", "totals", "smoothed_rate", "gi_z", "alerts"):
        np.testing.assert_array_equal(stored.context[name], direct.context[name], err_msg=name)
    # The features are equal; the clusters' centroids are sums over the cases in the
    # store's order, equal to rounding.
    got, want = stored.context["report"], direct.context["report"]
    assert got["features"] == want["features"]
    got_meta, want_meta = dict(got["metadata"]), dict(want["metadata"])
    got_clusters, want_clusters = got_meta.pop("clusters"), want_meta.pop("clusters")
    assert got_meta == want_meta
    assert [c["cases"] for c in got_clusters] == [c["cases"] for c in want_clusters]
    for g, w in zip(got_clusters, want_clusters, strict=True):
        assert (g["lat"], g["lon"]) == pytest.approx((w["lat"], w["lon"]), abs=1e-12)


def test_the_store_layer_imports_only_what_is_below_it():
    from test_layout import _import_closure, _layer

    reached = _import_closure("geoinfer_workflows.store")
    allowed = {"errors", "table", "validation", "modules", "store"}
    assert {_layer(m) for m in reached} - allowed == set()
    workflows = _import_closure("geoinfer_workflows.workflows")
    assert not {m for m in workflows if _layer(m) == "store"}  # duck-typed, no import
