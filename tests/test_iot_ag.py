"""IOT streaming aggregation against one-shot numpy; AG indices, zones and irrigation need."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.ag import (
    irrigation_need_mm,
    management_zones,
    ndvi,
    savi,
    zone_features,
)
from geoinfer_workflows.modules.iot import (
    SensorStats,
    StreamingAggregator,
    aggregate_stream,
    iter_chunks,
)

# ---------------------------------------------------------------------- IOT


def _stream(n: int, n_sensors: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readings from a subset of sensors (others unseen), dropouts, duplicate timestamps."""
    rng = np.random.default_rng(seed)
    active = rng.choice(n_sensors, n_sensors * 3 // 4, replace=False)
    sid = rng.choice(active, n)
    t = 1_700_000_000 + rng.integers(0, n // 4 + 1, n) * 600  # many ties on purpose
    value = rng.normal(0.25, 0.05, n) + 0.01 * sid
    value[rng.random(n) < 0.1] = np.nan
    dead = active[0]  # a sensor that only ever drops out
    value[sid == dead] = np.nan
    return sid, t, value


def _one_shot(sid, t, value, n_sensors) -> dict[str, np.ndarray]:
    """Per-sensor statistics by plain masking, one sensor at a time (the reference)."""
    ref = {k: np.full(n_sensors, np.nan) for k in ("mean", "std", "min", "max", "last", "last_t")}
    ref["count"] = np.zeros(n_sensors, dtype=np.int64)
    ref["missing"] = np.zeros(n_sensors, dtype=np.int64)
    for s in range(n_sensors):
        mine = sid == s
        ok = mine & ~np.isnan(value)
        ref["missing"][s] = (mine & np.isnan(value)).sum()
        ref["count"][s] = ok.sum()
        if ok.any():
            v = value[ok]
            ref["mean"][s], ref["std"][s] = v.mean(), v.std()
            ref["min"][s], ref["max"][s] = v.min(), v.max()
            rows = np.flatnonzero(ok)
            last_row = rows[t[rows] == t[rows].max()][-1]  # ties: the later row
            ref["last"][s], ref["last_t"][s] = value[last_row], t[last_row]
    return ref


def _assert_stats_equal(got: SensorStats, ref: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(got.count, ref["count"])
    np.testing.assert_array_equal(got.missing, ref["missing"])
    for name in ("min", "max", "last", "last_t"):
        np.testing.assert_array_equal(getattr(got, name), ref[name], err_msg=name)
    for name in ("mean", "std"):
        np.testing.assert_allclose(getattr(got, name), ref[name], rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("chunk_rows", [1, 7, 256, 1999, 10**6])
def test_aggregate_stream_matches_one_shot_for_any_chunking(chunk_rows):
    sid, t, value = _stream(2_000, 40, seed=1)
    ref = _one_shot(sid, t, value, 40)
    assert np.isnan(ref["mean"]).sum() > 1  # unseen and dead sensors are exercised
    _assert_stats_equal(aggregate_stream(sid, t, value, 40, chunk_rows=chunk_rows), ref)


def test_random_uneven_chunks_and_resumed_updates():
    sid, t, value = _stream(3_000, 25, seed=2)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, 3_000), 40, replace=False))
    agg = StreamingAggregator(25)
    for part in np.split(np.arange(3_000), cuts):
        agg.update(sid[part], t[part], value[part])
    agg.update(sid[:0], t[:0], value[:0])  # an empty chunk changes nothing
    assert agg.n_rows == 3_000
    _assert_stats_equal(agg.result(), _one_shot(sid, t, value, 25))
    sample = agg.result(ddof=1)
    s = 3
    np.testing.assert_allclose(sample.std[s], np.nanstd(value[sid == s], ddof=1), rtol=1e-10)


def test_variance_is_stable_for_large_offsets():
    rng = np.random.default_rng(4)
    sid = rng.integers(0, 3, 50_000)
    value = 1e9 + rng.normal(0, 1e-3, sid.size)
    for chunk_rows in (997, 10**6):
        got = aggregate_stream(sid, np.arange(sid.size), value, 3, chunk_rows=chunk_rows)
        for s in range(3):
            # naive sums, or a running mean held at 1e9's resolution, are off by > 1e-6
            np.testing.assert_allclose(got.std[s], value[sid == s].std(), rtol=1e-7)
            np.testing.assert_allclose(got.mean[s], value[sid == s].mean(), rtol=1e-15)


def test_streaming_aggregator_rejects_bad_input():
    agg = StreamingAggregator(5)
    with pytest.raises(ParameterError, match="sensor ids"):
        agg.update(np.array([0, 5]), np.array([1, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ParameterError):
        agg.update(np.array([0, 1]), np.array([1.5, 2.0]), np.array([0.1, 0.2]))
    with pytest.raises(ParameterError):
        agg.update(np.array([0, 1]), np.array([1]), np.array([0.1, 0.2]))
    with pytest.raises(ParameterError):
        StreamingAggregator(0)
    with pytest.raises(ParameterError):
        aggregate_stream(np.array([0]), np.array([1]), np.array([0.1]), 1, chunk_rows=0)


def test_iter_chunks_covers_every_row_once():
    for n, size in [(0, 3), (10, 3), (9, 3), (5, 100), (7, 1)]:
        rows = np.concatenate([np.arange(10**3)[s] for s in iter_chunks(n, size)] or [[]])
        np.testing.assert_array_equal(rows, np.arange(n))
        assert all(s.stop - s.start <= size for s in iter_chunks(n, size))


# ----------------------------------------------------------------------- AG


def test_ndvi_known_values_and_edge_cases():
    red = np.array([0.1, 0.3, 0.0, 0.05, -0.05, np.nan, 0.2, -0.3])
    nir = np.array([0.5, 0.1, 0.0, 0.05, 0.3, 0.4, np.inf, 0.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ndvi(red, nir)
    np.testing.assert_allclose(got[:2], [0.4 / 0.6, -0.5])
    assert np.isnan(got[2])  # 0 + 0: no signal
    assert got[3] == 0.0
    assert got[4] == 1.0  # a slightly negative red reflectance: clipped to the bound
    assert np.isnan(got[5]) and np.isnan(got[6])  # invalid inputs
    assert np.isnan(got[7])  # negative total reflectance is meaningless
    dn = ndvi(np.array([3000], dtype=np.uint16), np.array([1000], dtype=np.uint16))
    np.testing.assert_allclose(dn, [-0.5])  # no unsigned wrap-around


def test_savi_reduces_to_ndvi_and_known_value():
    rng = np.random.default_rng(5)
    red, nir = rng.uniform(0.01, 0.5, (2, 64, 64))
    np.testing.assert_allclose(savi(red, nir, L=0.0), ndvi(red, nir), rtol=1e-14)
    np.testing.assert_allclose(savi(np.array(0.1), np.array(0.5)), 1.5 * 0.4 / 1.1)
    assert savi(np.ones((3, 4)), np.ones((3, 4))).shape == (3, 4)
    with pytest.raises(ParameterError):
        savi(red, nir, L=-0.1)


def test_zone_features_standardises_and_keeps_nan_rows():
    rng = np.random.default_rng(6)
    a = rng.normal(0.3, 0.05, (20, 10))
    b = rng.normal(0.7, 0.1, (20, 10))
    a[0, 0] = np.nan
    x = zone_features(a, b, np.full((20, 10), 2.0))
    assert x.shape == (200, 3)
    assert np.isnan(x[0, 0]) and not np.isnan(x[0, 1:]).any()
    np.testing.assert_allclose(np.nanmean(x[:, :2], axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.nanstd(x[:, :2], axis=0), 1.0)
    np.testing.assert_array_equal(x[:, 2], 0.0)  # a constant column carries nothing
    with pytest.raises(ParameterError):
        zone_features(a, b[:5])


def test_management_zones_recover_planted_zones_ordered_by_first_feature():
    rng = np.random.default_rng(7)
    centres = np.array([[0.30, 0.2], [0.12, 0.8], [0.22, 0.5]])  # (moisture, ndvi)
    truth = rng.integers(0, 3, 600)
    moisture = centres[truth, 0] + rng.normal(0, 0.01, 600)
    veg = centres[truth, 1] + rng.normal(0, 0.03, 600)
    moisture[[5, 17]] = np.nan
    labels = management_zones(zone_features(moisture, veg), 3, seed=0)
    dry_to_wet = np.argsort(centres[:, 0])  # planted zone ids, driest first
    expected = np.argsort(dry_to_wet)[truth]
    expected[[5, 17]] = -1
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(management_zones(zone_features(moisture, veg), 3, seed=9), labels)
    with pytest.raises(ParameterError):
        management_zones(zone_features(moisture, veg), 0)
    with pytest.raises(ParameterError):
        management_zones(np.ones(5), 2)


def test_irrigation_need_hand_computed():
    theta = np.array([0.20, 0.25, 0.22, 0.35, 0.10, np.nan, 0.32])
    # TAW = 0.2 * 300 = 60 mm, trigger above MAD * TAW = 30 mm of depletion
    got = irrigation_need_mm(theta)
    np.testing.assert_allclose(got[:5], [36.0, 0.0, 0.0, 0.0, 66.0])
    assert np.isnan(got[5]) and got[6] == 0.0
    deep = irrigation_need_mm(np.array([0.25]), root_depth_mm=600.0, mad=0.3)
    np.testing.assert_allclose(deep, [42.0])  # Dr 42 > 0.3 * 120 = 36
    for bad in (
        {"field_capacity": 0.1},
        {"wilting_point": -0.1},
        {"root_depth_mm": 0.0},
        {"mad": 1.5},
        {"mad": np.nan},
    ):
        with pytest.raises(ParameterError):
            irrigation_need_mm(theta, **bad)


def test_merged_aggregators_equal_one_pass_over_all_rows():
    rng = np.random.default_rng(7)
    n, sensors = 5_000, 37
    sid = rng.integers(0, sensors, n)
    t = rng.integers(0, 10_000, n)
    value = 1e6 + rng.normal(0, 1e-2, n)
    value[rng.random(n) < 0.05] = np.nan
    whole = StreamingAggregator(sensors)
    whole.update(sid, t, value)
    merged = StreamingAggregator(sensors)
    for rows in (slice(0, 1_234), slice(1_234, 1_300), slice(1_300, n)):
        part = StreamingAggregator(sensors)
        part.update(sid[rows], t[rows], value[rows])
        merged.merge(part)
    a, b = whole.result(), merged.result()
    for name in ("count", "missing", "min", "max", "last", "last_t"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-15)
    np.testing.assert_allclose(b.std, a.std, rtol=1e-9)
    assert merged.n_rows == n
