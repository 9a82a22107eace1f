"""The spatial store's shared pieces: box and cap geometry, the numpy reference store, and
the helpers the back-ends' tests use (seeded batches, random queries, row equality)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.ingest import IngestResult, ingest_columns
from geoinfer_workflows.modules.space import haversine_m
from geoinfer_workflows.store import QUERIES, WEEK_S, BBox, MemoryStore, cap_bbox
from geoinfer_workflows.synthetic.observations import START_T, observations_of_length
from geoinfer_workflows.table import PointTable

DISEASE_NAMES = ("influenza", "dengue", "measles", "cholera")


# -- helpers for every back-end's tests ------------------------------------------------------
def city_batch(n: int, seed: int = 0) -> IngestResult:
    """Observations around one city (benchmarks' shape), a disease name each."""
    obs = observations_of_length(n, seed)
    rng = np.random.default_rng(seed + 1)
    disease = np.asarray(DISEASE_NAMES)[rng.integers(0, len(DISEASE_NAMES), n)]
    return ingest_columns(obs.lat, obs.lon, obs.t, obs.value, disease=disease)


def world_batch(n: int, seed: int = 0) -> IngestResult:
    """Points over the whole sphere (poles, antimeridian), with ties: every tenth point
    repeats an earlier location at another time, and a few rows repeat whole."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    lat[:4], lon[:4] = [90.0, -90.0, 0.0, 10.0], [0.0, 0.0, 180.0, -180.0]
    t = START_T + rng.integers(0, 28 * 86_400, n)
    value = rng.normal(10.0, 3.0, n).round(1)
    same = np.arange(10, n, 10)
    lat[same], lon[same] = lat[same - 7], lon[same - 7]
    whole = np.arange(25, n, 50)  # exact duplicate rows inside the batch
    t[whole], value[whole] = t[whole - 10], value[whole - 10]
    lat[whole], lon[whole] = lat[whole - 10], lon[whole - 10]
    disease = np.asarray(DISEASE_NAMES)[rng.integers(0, len(DISEASE_NAMES), n)]
    disease[whole] = disease[whole - 10]
    return ingest_columns(lat, lon, t, value, disease=disease)


def random_box(rng: np.random.Generator, lat: float, lon: float, half_deg: float) -> BBox:
    south, north = max(lat - half_deg, -90.0), min(lat + half_deg, 90.0)
    west, east = lon - half_deg, lon + half_deg
    if west < -180.0:
        west += 360.0
    if east > 180.0:
        east -= 360.0
    return BBox(west, south, east, north)


def random_queries(table: PointTable, count: int, seed: int, scale_deg: float) -> list[tuple]:
    """(query, args) of every kind, centred on stored points and on random places."""
    rng = np.random.default_rng(seed)
    queries: list[tuple] = []
    t_lo, t_hi = int(table.t.min()), int(table.t.max())
    for i in range(count):
        if i % 2 and len(table):
            j = int(rng.integers(len(table)))
            lat, lon = float(table.lat[j]), float(table.lon[j])
        else:
            lat, lon = float(rng.uniform(-90, 90)), float(rng.uniform(-180, 180))
        half = float(scale_deg * rng.uniform(0.05, 1.0))
        metres = half * 111_195.0
        t0 = int(rng.integers(t_lo - 3_600, t_hi))
        queries.append(("bbox", (random_box(rng, lat, lon, half),)))
        queries.append(("radius", (lat, lon, metres)))
        queries.append(("nearest", (lat, lon, int(rng.choice([0, 1, 7, 25])))))
        queries.append(("time_window", (t0, t0 + int(rng.integers(0, 6 * 3_600)))))
        disease = DISEASE_NAMES[int(rng.integers(len(DISEASE_NAMES)))]
        queries.append(("cases", (disease, random_box(rng, lat, lon, 2 * half), t0)))
    return queries


def assert_same_rows(got: PointTable, want: PointTable, what: str = "") -> None:
    assert len(got) == len(want), f"{what}: {len(got)} rows, want {len(want)}"
    for name in ("lat", "lon", "t", "value"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=what)
    np.testing.assert_array_equal(got.extra["disease"], want.extra["disease"], err_msg=what)
    if "distance_m" in want.extra:
        np.testing.assert_array_equal(got.extra["distance_m"], want.extra["distance_m"], what)


def assert_matches_reference(store, reference: MemoryStore, queries, *, use_index: bool) -> int:
    """Every query answered row for row as the reference does; returns rows compared."""
    rows = 0
    for query, args in queries:
        want = getattr(reference, query)(*args)
        got = getattr(store, query)(*args, use_index=use_index)
        assert_same_rows(got, want, f"{query}{args} use_index={use_index}")
        rows += len(want)
    return rows


# -- the geometry --------------------------------------------------------------------------------
def test_bbox_checks_and_antimeridian_ranges():
    assert BBox.of((170.0, -10.0, -170.0, 10.0)).lon_ranges() == (
        (170.0, 180.0),
        (-180.0, -170.0),
    )
    assert BBox.of([0, 0, 1, 1]).lon_ranges() == ((0.0, 1.0),)
    for bad in [(0, 1, 2), (0, 10, 1, 5), (0, -91, 1, 0), (-181, 0, 0, 1), ("a", 0, 1, 1)]:
        with pytest.raises(ParameterError):
            BBox.of(bad)


@pytest.mark.parametrize(
    ("lat", "lon", "metres"),
    [
        (0.0, 0.0, 1_000.0),
        (37.77, -122.42, 50_000.0),
        (-1.29, 179.99, 20_000.0),  # crosses the antimeridian
        (89.9, 10.0, 30_000.0),  # holds the north pole
        (-60.0, -179.0, 3_000_000.0),
        (45.0, 0.0, math.pi * 6_371_008.8),  # the whole sphere
    ],
)
def test_cap_bbox_holds_every_point_of_the_cap(lat, lon, metres):
    rng = np.random.default_rng(0)
    # Points on the cap's rim and inside it, by destination formula on the sphere.
    n = 20_000
    bearing = rng.uniform(0, 2 * np.pi, n)
    angle = metres / 6_371_008.8 * np.sqrt(rng.uniform(0, 1, n))
    angle[: n // 2] = metres / 6_371_008.8 * (1 - 1e-12)
    phi1, lam1 = np.radians(lat), np.radians(lon)
    phi2 = np.arcsin(np.sin(phi1) * np.cos(angle) + np.cos(phi1) * np.sin(angle) * np.cos(bearing))
    lam2 = lam1 + np.arctan2(
        np.sin(bearing) * np.sin(angle) * np.cos(phi1), np.cos(angle) - np.sin(phi1) * np.sin(phi2)
    )
    plat = np.degrees(phi2)
    plon = (np.degrees(lam2) + 180.0) % 360.0 - 180.0
    inside = haversine_m(lat, lon, plat, plon) <= metres
    assert inside.sum() > n // 4
    assert cap_bbox(lat, lon, metres).contains(plat[inside], plon[inside]).all()


# -- the reference store -------------------------------------------------------------------------
def test_memory_store_dedupes_on_the_natural_key_and_answers_as_plain_numpy():
    batch = world_batch(2_000, seed=3)
    store = MemoryStore()
    key = {
        (d, a, o, t, v)
        for d, a, o, t, v in zip(
            batch.table.extra["disease"].tolist(),
            batch.table.lat.tolist(),
            batch.table.lon.tolist(),
            batch.table.t.tolist(),
            batch.table.value.tolist(),
            strict=True,
        )
    }
    assert len(key) < len(batch.table)  # the batch holds duplicate rows
    assert store.write(batch) == len(key)
    assert store.write(batch) == 0
    assert store.count() == len(key)

    lat, lon = 12.0, 179.5
    got = store.radius(lat, lon, 2_000_000.0)
    d = haversine_m(lat, lon, got.lat, got.lon)
    np.testing.assert_array_equal(d, got.extra["distance_m"])
    assert (d <= 2_000_000.0).all()
    near = store.nearest(lat, lon, 25)
    assert len(near) == 25
    assert (np.diff(near.extra["distance_m"]) >= 0).all()
    assert near.extra["distance_m"][-1] <= got.extra["distance_m"].max()
    week = store.cases("dengue", (-180, -90, 180, 90), START_T)
    assert set(week.extra["disease"].tolist()) == {"dengue"}
    assert ((week.t >= START_T) & (week.t < START_T + WEEK_S)).all()


def test_a_store_takes_only_ingestion_results_with_disease_names():
    store = MemoryStore()
    table = city_batch(10).table
    with pytest.raises(ParameterError, match="IngestResult"):
        store.write(table)
    codes = ingest_columns([0.0], [0.0], [START_T], [1.0], disease=np.array([1], dtype=np.int8))
    with pytest.raises(ParameterError, match="names"):
        store.write(codes)
    plain = ingest_columns([0.0], [0.0], [START_T], [1.0])
    assert store.write(plain) == 1
    assert store.bbox((-1, -1, 1, 1)).extra["disease"].tolist() == [""]


def test_random_queries_cover_every_query():
    queries = random_queries(city_batch(100).table, 3, seed=0, scale_deg=0.01)
    assert {q for q, _ in queries} == set(QUERIES)
