"""TIME: rolling means, linear trends and block resampling against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.temporal import (
    TrendResult,
    linear_trends,
    resample_mean,
    rolling_mean,
)


def _with_nans(rng: np.random.Generator, shape: tuple[int, ...], frac: float) -> np.ndarray:
    x = rng.normal(10.0, 3.0, size=shape)
    x[rng.random(shape) < frac] = np.nan
    return x


def _brute_rolling(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[-1]):
        seg = x[..., max(0, i - window + 1) : i + 1]
        for idx in np.ndindex(x.shape[:-1]):
            vals = seg[idx][~np.isnan(seg[idx])]
            if vals.size >= min_periods:
                out[(*idx, i)] = vals.mean()
    return out


# ---------------------------------------------------------------- rolling_mean


@pytest.mark.parametrize(("window", "min_periods"), [(1, None), (3, None), (5, 2), (40, 1)])
def test_rolling_mean_matches_brute_force_with_nans(window, min_periods):
    x = _with_nans(np.random.default_rng(1), (4, 60), 0.2)
    got = rolling_mean(x, window, min_periods=min_periods)
    want = _brute_rolling(x, window, window if min_periods is None else min_periods)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_rolling_mean_along_axis_0_equals_transposed():
    x = _with_nans(np.random.default_rng(2), (50, 3), 0.1)
    got = rolling_mean(x, 4, axis=0, min_periods=2)
    np.testing.assert_allclose(got, rolling_mean(x.T, 4, min_periods=2).T)
    assert got.shape == x.shape


def test_rolling_mean_keeps_precision_on_large_offsets():
    rng = np.random.default_rng(3)
    x = 1e9 + rng.normal(0, 1e-3, size=20_000)
    got = rolling_mean(x, 10)
    want = np.convolve(x - 1e9, np.ones(10) / 10, mode="valid") + 1e9
    np.testing.assert_allclose(got[9:], want, rtol=0, atol=1e-6)


def test_rolling_mean_all_nan_row_and_empty():
    x = np.full((2, 5), np.nan)
    x[1] = np.arange(5.0)
    got = rolling_mean(x, 2)
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1, 1:], [0.5, 1.5, 2.5, 3.5])
    assert rolling_mean(np.empty((3, 0)), 2).shape == (3, 0)


@pytest.mark.parametrize(
    "kwargs", [{"window": 0}, {"window": 2.5}, {"window": 3, "min_periods": 4}]
)
def test_rolling_mean_rejects_bad_parameters(kwargs):
    with pytest.raises(ParameterError):
        rolling_mean(np.arange(10.0), **kwargs)


# --------------------------------------------------------------- linear_trends


def test_linear_trends_recovers_planted_slopes():
    rng = np.random.default_rng(4)
    n_series, n_t, sigma = 300, 400, 0.5
    slopes = rng.uniform(-0.05, 0.05, n_series)
    intercepts = rng.uniform(-5, 5, n_series)
    t = np.arange(n_t, dtype=float)
    y = intercepts[:, None] + slopes[:, None] * t + rng.normal(0, sigma, (n_series, n_t))
    fit = linear_trends(y)
    expected_se = sigma / np.sqrt(((t - t.mean()) ** 2).sum())
    assert np.all(np.abs(fit.slope - slopes) < 5 * expected_se)
    np.testing.assert_allclose(fit.stderr, expected_se, rtol=0.15)
    z = (fit.slope - slopes) / fit.stderr  # standardised errors ~ N(0, 1)
    assert abs(z.mean()) < 0.2 and 0.8 < z.std() < 1.2
    assert np.all(fit.n == n_t)


def test_linear_trends_equals_polyfit_and_linregress():
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(0, 100, 25))
    y = rng.normal(size=(6, 25)) + np.linspace(-1, 1, 6)[:, None] * x
    fit = linear_trends(y, x)
    for i in range(6):
        slope, intercept = np.polyfit(x, y[i], 1)
        ref = stats.linregress(x, y[i])
        assert fit.slope[i] == pytest.approx(slope, rel=1e-10)
        assert fit.intercept[i] == pytest.approx(intercept, rel=1e-9, abs=1e-12)
        assert fit.stderr[i] == pytest.approx(ref.stderr, rel=1e-9)
        assert fit.r2[i] == pytest.approx(ref.rvalue**2, rel=1e-9)


def test_linear_trends_masks_nans_per_series():
    rng = np.random.default_rng(6)
    x = 1.7e9 + 86_400.0 * np.arange(80)  # epoch-sized x: exercises the centred sums
    y = rng.normal(size=(5, 80)) + 1e-6 * (x - x[0])
    y[rng.random(y.shape) < 0.3] = np.nan
    y[3] = np.nan
    y[3, :2] = [1.0, 2.0]  # two valid points: no fit
    y[4] = np.nan  # nothing valid
    fit = linear_trends(y, x)
    for i in range(3):
        ok = ~np.isnan(y[i])
        slope, intercept = np.polyfit(x[ok] - x[0], y[i, ok], 1)
        assert fit.slope[i] == pytest.approx(slope, rel=1e-9)
        assert fit.intercept[i] == pytest.approx(intercept - slope * x[0], rel=1e-6)
        assert fit.n[i] == ok.sum()
    for field in ("slope", "intercept", "stderr", "r2"):
        assert np.isnan(getattr(fit, field)[3:]).all()
    assert list(fit.n[3:]) == [2, 0]


def test_linear_trends_one_series_and_constant_series():
    fit = linear_trends(np.array([1.0, 3.0, 5.0, 7.0]))
    assert isinstance(fit, TrendResult)
    assert fit.slope.shape == () and float(fit.slope) == pytest.approx(2.0)
    assert float(fit.stderr) == pytest.approx(0.0, abs=1e-12)
    flat = linear_trends(np.full((1, 10), 4.0))
    assert flat.slope[0] == 0.0 and np.isnan(flat.r2[0])


def test_linear_trends_rejects_bad_x():
    with pytest.raises(ParameterError):
        linear_trends(np.ones((2, 5)), np.arange(4))
    with pytest.raises(ParameterError):
        linear_trends(np.ones((2, 3)), np.array([0.0, np.nan, 2.0]))


# --------------------------------------------------------------- resample_mean


def test_resample_mean_matches_brute_force_and_drops_partial_block():
    x = _with_nans(np.random.default_rng(7), (3, 50), 0.3)
    got = resample_mean(x, 24)
    assert got.shape == (3, 2)  # 50 = 2 full days + 2 trailing hours, dropped
    for s in range(3):
        for b in range(2):
            block = x[s, 24 * b : 24 * (b + 1)]
            assert got[s, b] == pytest.approx(np.nanmean(block))


def test_resample_mean_min_count_axis_and_float32():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    x[0:2, 0] = np.nan
    x[2, 0] = np.nan
    got = resample_mean(x, 3, axis=0, min_count=2)
    assert got.shape == (2, 2) and got.dtype == np.float64
    assert np.isnan(got[0, 0])  # one valid value out of three
    np.testing.assert_allclose(got[:, 1], [3.0, 9.0])
    np.testing.assert_allclose(got[1, 0], 8.0)
    with pytest.raises(ParameterError):
        resample_mean(x, 3, min_count=4)
