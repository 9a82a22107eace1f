"""CLIMATE: QC finds planted faults exactly, baselines remove cycles, trends and extremes."""

from __future__ import annotations

import numpy as np
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.climate import (
    anomalies,
    apply_qc,
    climatology,
    daily_means,
    diurnal_climatology,
    extremes,
    quality_control,
    station_trends,
)

DAY_H = 24


def _hourly(n_st: int, n_days: int, seed: int, noise: float = 0.3) -> np.ndarray:
    """Realistic clean hourly temperatures: seasonal + diurnal cycle + smooth weather noise."""
    rng = np.random.default_rng(seed)
    h = np.arange(n_days * DAY_H)
    seasonal = -10.0 * np.cos(2 * np.pi * (h / DAY_H + 10) / 365.0)
    diurnal = 5.0 * np.sin(2 * np.pi * ((h % DAY_H) - 9) / DAY_H)
    base = rng.uniform(2.0, 14.0, n_st)[:, None]
    weather = np.cumsum(rng.normal(0, 0.15, (n_st, h.size)), axis=1)
    weather -= np.linspace(0, 1, h.size) * weather[:, -1:]  # tie the random walk down
    return base + seasonal + diurnal + weather + rng.normal(0, noise, (n_st, h.size))


# ---------------------------------------------------------------------- QC


def test_qc_passes_clean_realistic_data():
    values = _hourly(20, 365, seed=1)
    qc = quality_control(values)
    assert qc.valid.all()
    assert (qc.range_fail, qc.spike_fail, qc.stuck_fail, qc.missing) == (0, 0, 0, 0)


def test_qc_flags_planted_faults_at_exact_positions():
    values = _hourly(6, 60, seed=2)
    expected = {"missing": [], "range": [], "spike": [], "stuck": []}
    values[0, 100] = np.nan
    values[3, 7] = np.nan
    expected["missing"] += [(0, 100), (3, 7)]
    values[1, 50] = 99.9
    values[2, 400] = -75.0
    values[5, 0] = np.inf
    values[4, 100:108] = 99.9  # a logger repeating its sentinel: range, not stuck
    expected["range"] += [(1, 50), (2, 400), (5, 0)] + [(4, h) for h in range(100, 108)]
    values[0, 200] += 15.0
    values[4, 900] -= 20.0
    expected["spike"] += [(0, 200), (4, 900)]
    values[2, 600:608] = values[2, 600]  # 8-hour stuck run
    values[3, 30:36] = values[3, 30]  # exactly stuck_hours long
    expected["stuck"] += [(2, h) for h in range(600, 608)] + [(3, h) for h in range(30, 36)]
    values[5, 300:305] = values[5, 300]  # 5 repeats: below the threshold, legal
    qc = quality_control(values, stuck_hours=6)
    bad = {tuple(ix) for ix in np.argwhere(~qc.valid)}
    assert bad == {pos for group in expected.values() for pos in group}
    assert qc.missing == len(expected["missing"])
    assert qc.range_fail == len(expected["range"])
    assert qc.spike_fail == len(expected["spike"])
    assert qc.stuck_fail == len(expected["stuck"])
    assert qc.n_failed == (~qc.valid).sum()


def test_qc_spike_rules_step_changes_gaps_and_sentinels():
    base = np.zeros((1, 12))
    step = base.copy()
    step[0, 6:] = 20.0  # a level shift is not a spike
    assert quality_control(step, stuck_hours=20).valid.all()
    gap = base.copy()
    gap[0, 4] = 30.0
    gap[0, 5] = np.nan  # a value next to a gap is not judged
    qc = quality_control(gap, stuck_hours=20)
    assert qc.valid[0, 4] and qc.spike_fail == 0 and qc.missing == 1
    sentinel = base.copy()
    sentinel[0, 3] = 99.9  # range failure, must not also make 0.0 neighbours spikes
    sentinel[0, 4] = 9.0  # would be a spike against 99.9 if sentinels were not removed first
    qc = quality_control(sentinel, stuck_hours=20)
    assert qc.range_fail == 1 and qc.spike_fail == 0
    assert not qc.valid[0, 3] and qc.valid[0, 4]


def test_stuck_runs_do_not_cross_station_rows():
    values = np.arange(20.0).reshape(2, 10)
    values[0, 7:] = 5.0
    values[1, :3] = 5.0  # 3 + 3 repeats across the row boundary: never one run of 6
    assert quality_control(values, stuck_hours=6).stuck_fail == 0
    assert quality_control(values, stuck_hours=3).stuck_fail == 6


def test_apply_qc_sets_failures_to_nan_and_keeps_float32():
    values = _hourly(3, 10, seed=3).astype(np.float32)
    values[1, 20] = 80.0
    qc = quality_control(values)
    clean = apply_qc(values, qc)
    assert clean.dtype == np.float32 and np.isnan(clean[1, 20])
    np.testing.assert_array_equal(clean[qc.valid], values[qc.valid])
    with pytest.raises(ParameterError):
        apply_qc(values[:, :-1], qc)


@pytest.mark.parametrize(
    "kwargs",
    [{"vmin": 10.0, "vmax": 0.0}, {"max_step": 0.0}, {"stuck_hours": 1}, {"vmax": np.nan}],
)
def test_qc_rejects_bad_parameters(kwargs):
    with pytest.raises(ParameterError):
        quality_control(np.zeros((2, 5)), **kwargs)


# ------------------------------------------------------------ daily, diurnal


def test_daily_means_against_brute_force_with_min_hours():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(3, 24 * 5 + 7))
    values[0, :10] = np.nan  # 14 valid hours on day 0: below min_hours
    values[rng.random(values.shape) < 0.05] = np.nan
    got = daily_means(values, min_hours=18)
    assert got.shape == (3, 5)
    for s in range(3):
        for d in range(5):
            day = values[s, 24 * d : 24 * (d + 1)]
            ok = ~np.isnan(day)
            want = day[ok].mean() if ok.sum() >= 18 else np.nan
            np.testing.assert_allclose(got[s, d], want)
    assert np.isnan(got[0, 0])


def test_daily_means_aligns_to_utc_midnight():
    t0 = 1_704_067_200 + 6 * 3600  # 06:00 UTC
    values = np.arange(24 * 4, dtype=float)[None, :]
    got = daily_means(values, t0=t0)
    assert got.shape == (1, 3)  # first 18 hours skipped, then 3 full days
    np.testing.assert_allclose(got[0], [18 + 11.5, 42 + 11.5, 66 + 11.5])


def test_diurnal_climatology_against_grouping():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(4, 24 * 7 + 5))
    values[rng.random(values.shape) < 0.1] = np.nan
    t0 = 1_704_067_200 + 5 * 3600
    got = diurnal_climatology(values, t0=t0)
    hour = (5 + np.arange(values.shape[1])) % 24
    for s in range(4):
        for h in range(24):
            np.testing.assert_allclose(got[s, h], np.nanmean(values[s, hour == h]))


# -------------------------------------------------- climatology and anomalies


def test_climatology_removes_pure_seasonal_and_diurnal_cycles():
    h = np.arange(10 * 365 * DAY_H)
    seasonal = -10.0 * np.cos(2 * np.pi * (h / DAY_H) / 365.0)
    diurnal = 4.0 * np.sin(2 * np.pi * ((h % DAY_H) - 9) / DAY_H)
    values = np.stack([5.0 + seasonal + diurnal, 12.0 + 0.5 * seasonal + diurnal])
    daily = daily_means(values)
    anom = anomalies(daily, climatology(daily))
    assert daily.shape == (2, 3650)
    assert np.nanmax(np.abs(anom)) < 0.05  # the 15-day window flattens the peak by ~0.3%
    np.testing.assert_allclose(
        diurnal_climatology(values) - values.mean(1, keepdims=True),
        [4.0 * np.sin(2 * np.pi * (np.arange(24) - 9) / 24)] * 2,
        atol=1e-9,
    )


def test_climatology_is_a_centred_windowed_mean():
    rng = np.random.default_rng(6)
    daily = rng.normal(size=(2, 40))
    daily[0, 5] = np.nan
    got = climatology(daily, window=5, period=None)
    for s in range(2):
        for d in range(40):
            np.testing.assert_allclose(got[s, d], np.nanmean(daily[s, max(0, d - 2) : d + 3]))
    pooled = climatology(daily, window=3, period=10)  # 4 cycles of a 10-day "year"
    folded = daily.reshape(2, 4, 10)
    for d in range(10):
        window = folded[..., [(d - 1) % 10, d, (d + 1) % 10]].reshape(2, -1)
        np.testing.assert_allclose(pooled[:, d], np.nanmean(window, axis=1))
        np.testing.assert_allclose(pooled[:, d + 30], pooled[:, d])


def test_anomalies_accepts_a_shared_regional_baseline():
    daily = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(anomalies(daily, daily[:1]), daily - daily[0])
    with pytest.raises(ParameterError):
        anomalies(daily[:1], daily)


# ------------------------------------------------------------------- trends


def test_station_trends_recover_planted_warming():
    rng = np.random.default_rng(7)
    n_st, n_days = 40, 3650
    planted = np.linspace(-0.2, 0.6, n_st)  # C per decade; 0.3 in the middle
    day = np.arange(n_days)
    seasonal = -10.0 * np.cos(2 * np.pi * day / 365.0)
    daily = (
        rng.uniform(0, 10, (n_st, 1))
        + seasonal
        + planted[:, None] * day / 3652.5
        + rng.normal(0, 0.5, (n_st, n_days))
    )
    daily[rng.random(daily.shape) < 0.05] = np.nan
    trend = station_trends(anomalies(daily, climatology(daily)))
    expected_se = 0.5 / np.sqrt(((day - day.mean()) ** 2).sum() * 0.95) * 3652.5
    np.testing.assert_allclose(trend.stderr, expected_se, rtol=0.2)
    assert np.all(np.abs(trend.slope - planted) < 5 * expected_se)
    assert abs(np.mean(trend.slope - planted)) < 0.02
    per_year = station_trends(anomalies(daily, climatology(daily)), per="year")
    np.testing.assert_allclose(per_year.slope * 10.0, trend.slope, rtol=1e-12)
    with pytest.raises(ParameterError):
        station_trends(daily, per="century")


# ----------------------------------------------------------------- extremes


def test_extremes_threshold_equals_numpy_percentile_per_station():
    rng = np.random.default_rng(8)
    daily = rng.normal(15, 5, (6, 300))
    daily[rng.random(daily.shape) < 0.1] = np.nan
    daily[4] = np.nan  # a dead station
    daily[5, 1:] = np.nan  # a single valid day
    for q in (95.0, 0.0, 50.0, 100.0, 2.5):
        ex = extremes(daily, q=q)
        for s in range(6):
            ok = ~np.isnan(daily[s])
            if not ok.any():
                assert np.isnan(ex.threshold[s]) and ex.exceedances[s] == 0
                continue
            thr = np.percentile(daily[s, ok], q)
            np.testing.assert_allclose(ex.threshold[s], thr, rtol=1e-12)
            assert ex.exceedances[s] == (daily[s, ok] > thr).sum()
        assert not ex.hot_days[np.isnan(daily)].any()
    np.testing.assert_allclose(
        extremes(daily[:4], q=90).threshold, np.nanpercentile(daily[:4], 90, axis=1)
    )
    with pytest.raises(ParameterError):
        extremes(daily, q=101)
