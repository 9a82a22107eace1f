"""TIME: group-by over (cell, period), rolling windows and per-series linear trends.

Everything is a sort-free `np.unique`/`np.bincount` pass or a cumulative sum, so cost
stays linear in the number of records whatever the number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import as_real_array, check_int

__all__ = [
    "DAY_S",
    "WEEK_S",
    "CellPeriodTable",
    "TrendResult",
    "groupby_cell_period",
    "linear_trends",
    "period_index",
    "resample_mean",
    "rolling_mean",
]

DAY_S = 86_400
WEEK_S = 7 * DAY_S


def period_index(t: np.ndarray, period_s: int, t0: int | None = None) -> np.ndarray:
    """Integer period number of each epoch-second timestamp, counted from `t0`.

    Parameters
    ----------
    t : array_like of int
        Epoch seconds.
    period_s : int
        Period length in seconds (>= 1), e.g. `DAY_S` or `WEEK_S`.
    t0 : int, optional
        Start of period 0; defaults to the earliest timestamp.

    Returns
    -------
    numpy.ndarray
        int64 period numbers, shaped like `t`.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import temporal
    >>> temporal.period_index(np.array([0, 86_399, 86_400, 7 * 86_400]), temporal.DAY_S).tolist()
    [0, 0, 1, 7]
    """
    period_s = check_int(period_s, "period_s", 1)
    t = np.asarray(t, dtype=np.int64)
    start = int(t.min()) if t0 is None and t.size else (t0 or 0)
    return (t - start) // period_s


@dataclass(frozen=True)
class CellPeriodTable:
    """A dense (cell x period) grid of aggregates; absent combinations hold 0 counts."""

    cells: np.ndarray  # unique cell ids, sorted, shape (n_cells,)
    counts: np.ndarray  # int64, shape (n_cells, n_periods)
    sums: np.ndarray  # float64, shape (n_cells, n_periods)

    @property
    def means(self) -> np.ndarray:
        """Mean per (cell, period); NaN where the combination has no record."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)


def groupby_cell_period(
    cells: np.ndarray,
    periods: np.ndarray,
    values: np.ndarray | None = None,
    n_periods: int | None = None,
) -> CellPeriodTable:
    """Count and sum `values` per (cell, period) in one bincount over a flat index.

    Parameters
    ----------
    cells : array_like
        Cell id of each record (any sortable dtype, e.g. H3 uint64).
    periods : array_like of int
        Period index of each record (>= 0), same shape as `cells`.
    values : array_like, optional
        Value of each record to sum; without it, sums are the counts.
    n_periods : int, optional
        Width of the grid (>= 0); defaults to the largest period + 1.

    Returns
    -------
    CellPeriodTable
        Sorted unique `cells`, and (n_cells, n_periods) `counts` and `sums`.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import temporal
    >>> cells, periods = np.array([7, 7, 9]), np.array([0, 1, 1])
    >>> table = temporal.groupby_cell_period(cells, periods, np.array([1.0, 3.0, 5.0]))
    >>> table.cells.tolist(), table.counts.tolist(), table.means.tolist()
    ([7, 9], [[1, 1], [0, 1]], [[1.0, 3.0], [nan, 5.0]])
    """
    cells = np.asarray(cells)
    periods = np.asarray(periods, dtype=np.int64)
    if cells.shape != periods.shape:
        raise ParameterError("cells and periods must have the same shape")
    if periods.size and periods.min() < 0:
        raise ParameterError("period indices must be non-negative")
    if n_periods is not None:
        n_periods = check_int(n_periods, "n_periods", 0)
    unique_cells, cell_idx = np.unique(cells, return_inverse=True)
    width = int(n_periods if n_periods is not None else (periods.max() + 1 if periods.size else 0))
    if periods.size and periods.max() >= width:
        raise ParameterError(f"period index {periods.max()} outside n_periods={width}")
    flat = cell_idx.astype(np.int64) * width + periods
    size = unique_cells.size * width
    counts = np.bincount(flat, minlength=size).reshape(unique_cells.size, width)
    weights = None if values is None else np.asarray(values, dtype=np.float64)
    sums = (
        counts.astype(np.float64)
        if weights is None
        else np.bincount(flat, weights=weights, minlength=size).reshape(unique_cells.size, width)
    )
    return CellPeriodTable(cells=unique_cells, counts=counts, sums=sums)


def _time_last(x: np.ndarray, axis: int) -> np.ndarray:
    """`x` with `axis` moved last, so every kernel below works on contiguous time rows."""
    if x.ndim == 0:
        raise ParameterError("expected an array with a time axis, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ParameterError(f"axis {axis} is out of range for an array with {x.ndim} dims")
    return np.moveaxis(x, axis, -1)


def rolling_mean(
    x: np.ndarray, window: int, *, axis: int = -1, min_periods: int | None = None
) -> np.ndarray:
    """Trailing mean over the last `window` samples (inclusive), skipping NaNs.

    Window sums are differences of one cumulative sum, so the cost is O(n) whatever the
    window. Each series is centred on its own mean before the cumulative sum: the running
    total then wanders around zero instead of growing linearly, which keeps the rounding
    error of the differences at the scale of the data rather than of the whole series.
    A position is NaN when its window holds fewer than `min_periods` (default `window`)
    valid values, so the first `window - 1` outputs are NaN unless `min_periods` is lower.

    Parameters
    ----------
    x : array_like
        Numeric series; NaN marks a missing sample.
    window : int
        Samples per window (>= 1), the current one included.
    axis : int
        Time axis.
    min_periods : int, optional
        Valid samples a window needs (1..window); defaults to `window`.

    Returns
    -------
    numpy.ndarray
        float64, shaped like `x`.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import temporal
    >>> x = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    >>> temporal.rolling_mean(x, 2).tolist()
    [nan, 1.5, nan, nan, 4.5]
    >>> temporal.rolling_mean(x, 2, min_periods=1).tolist()
    [1.0, 1.5, 2.0, 4.0, 4.5]
    """
    window = check_int(window, "window", 1)
    min_periods = window if min_periods is None else check_int(min_periods, "min_periods", 1)
    if min_periods > window:
        raise ParameterError(f"min_periods={min_periods} cannot exceed window={window}")
    xs = _time_last(as_real_array(x, "x").astype(np.float64, copy=False), axis)
    valid = ~np.isnan(xs)
    counts = valid.sum(axis=-1, keepdims=True)
    filled = np.where(valid, xs, 0.0)
    offset = filled.sum(axis=-1, keepdims=True) / np.maximum(counts, 1)
    centred = np.where(valid, xs - offset, 0.0)
    win_sum = _trailing_window_sums(centred, window)
    win_cnt = _trailing_window_sums(valid.astype(np.float64), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(win_cnt >= min_periods, win_sum / win_cnt + offset, np.nan)
    return np.moveaxis(out, -1, axis)


def _trailing_window_sums(a: np.ndarray, window: int) -> np.ndarray:
    """Sum of a[..., i - window + 1 : i + 1] for every i, from one cumulative sum."""
    csum = np.cumsum(a, axis=-1)
    out = csum.copy()
    out[..., window:] -= csum[..., :-window]
    return out


@dataclass(frozen=True)
class TrendResult:
    """Per-series least-squares line y = intercept + slope * x, with its uncertainty.

    `stderr` is the standard error of the slope; `n` the number of valid points used;
    `r2` the coefficient of determination (NaN for a constant series, where it is undefined).
    Every field has the shape of the input without its time axis; series with fewer than
    three valid points are NaN throughout (two points fit exactly and give no error).
    """

    slope: np.ndarray
    intercept: np.ndarray
    stderr: np.ndarray
    n: np.ndarray
    r2: np.ndarray


def linear_trends(y: np.ndarray, x: np.ndarray | None = None) -> TrendResult:
    """Ordinary least squares of every series (last axis of `y`) against `x`, all at once.

    Missing values (NaN) are masked per series, so each series gets its own centred sums
    and a gappy station does not need a separate code path. Centring x and y on each
    series' own means before forming the cross products avoids the cancellation of the
    textbook sum(x*y) - n*mean(x)*mean(y) form when x is epoch-sized.

    Parameters
    ----------
    y : array_like, shape (..., n_t)
        Series along the last axis; NaN marks a missing value.
    x : array_like, shape (n_t,), optional
        Finite abscissa shared by all series; defaults to 0, 1, ..., n_t - 1.

    Returns
    -------
    TrendResult
        `slope`, `intercept`, `stderr`, `n` and `r2`, each of shape ``y.shape[:-1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import temporal
    >>> fit = temporal.linear_trends(np.array([[1.0, 3.0, 5.0, 7.0], [2.0, np.nan, 2.0, 2.0]]))
    >>> fit.slope.tolist(), fit.intercept.tolist(), fit.n.tolist()
    ([2.0, 0.0], [1.0, 2.0], [4, 3])
    """
    ys = as_real_array(y, "y").astype(np.float64, copy=False)
    if ys.ndim == 0:
        raise ParameterError("y must have a time axis (shape (..., n_t)), got a scalar")
    n_t = ys.shape[-1]
    xs = np.arange(n_t, dtype=np.float64) if x is None else as_real_array(x, "x").astype(np.float64)
    if xs.shape != (n_t,):
        raise ParameterError(f"x must have shape ({n_t},) to match y's time axis, got {xs.shape}")
    if not np.all(np.isfinite(xs)):
        raise ParameterError("x must be finite; mask missing times through NaN in y instead")
    missing = np.isnan(ys)
    w = np.logical_not(missing).astype(np.float64)
    # Counts are exact in any summation order, so einsum, which sums the short time axis
    # of 1e4+ series ~5x faster than a per-series reduction (.sum(axis=-1)).
    n = np.einsum("...t->...", w)
    safe_n = np.maximum(n, 1.0)
    x_mean = np.einsum("...t,t->...", w, xs) / safe_n  # no BLAS: threads contend on 2 cores
    # Deviations formed in place, one buffer per axis: each y-sized temporary of 1e4+
    # series costs page faults comparable to the arithmetic on it. y_mean keeps the
    # per-series sum (not einsum): its rounding depends on the summation order.
    dy = np.where(missing, 0.0, ys)
    y_mean = dy.sum(axis=-1) / safe_n
    np.subtract(ys, y_mean[..., None], out=dy)
    dy[missing] = 0.0
    dx = np.subtract(xs, x_mean[..., None])
    dx *= w
    sxx = np.einsum("...t,...t->...", dx, dx)
    sxy = np.einsum("...t,...t->...", dx, dy)
    syy = np.einsum("...t,...t->...", dy, dy)
    return _trend_from_moments(n, x_mean, y_mean, sxx, sxy, syy)


def _trend_from_moments(
    n: np.ndarray,
    x_mean: np.ndarray,
    y_mean: np.ndarray,
    sxx: np.ndarray,
    sxy: np.ndarray,
    syy: np.ndarray,
) -> TrendResult:
    """Slope, intercept, slope standard error and R^2 from centred second moments."""
    ok = (n >= 3) & (sxx > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(ok, sxy / sxx, np.nan)
        intercept = y_mean - slope * x_mean
        ss_res = np.maximum(syy - slope * sxy, 0.0)
        stderr = np.sqrt(ss_res / (n - 2) / sxx)
        r2 = np.where(syy > 0, 1.0 - ss_res / syy, np.nan)
    return TrendResult(
        slope=slope,
        intercept=np.where(ok, intercept, np.nan),
        stderr=np.where(ok, stderr, np.nan),
        n=np.asarray(n).astype(np.int64),
        r2=np.where(ok, r2, np.nan),
    )


def resample_mean(
    values: np.ndarray, factor: int, *, axis: int = -1, min_count: int = 1
) -> np.ndarray:
    """Means of consecutive blocks of `factor` samples (e.g. hourly -> daily with 24).

    NaN-aware: a block's mean is over its valid samples, NaN when it has fewer than
    `min_count` of them (a day with 3 readings is not a daily mean). The trailing partial
    block is dropped rather than averaged, because a mean over a fraction of a period is
    biased by where in the period (e.g. the diurnal cycle) it stops.

    Parameters
    ----------
    values : array_like
        Numeric series; NaN marks a missing sample.
    factor : int
        Samples per block (>= 1).
    axis : int
        Time axis.
    min_count : int
        Valid samples a block needs (1..factor).

    Returns
    -------
    numpy.ndarray
        Block means, with ``values.shape[axis] // factor`` blocks along `axis`.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import temporal
    >>> temporal.resample_mean(np.array([1.0, 3.0, np.nan, 5.0, 7.0]), 2).tolist()
    [2.0, 5.0]
    """
    factor = check_int(factor, "factor", 1)
    min_count = check_int(min_count, "min_count", 1)
    if min_count > factor:
        raise ParameterError(f"min_count={min_count} cannot exceed factor={factor}")
    vs = _time_last(as_real_array(values, "values"), axis)
    n_blocks = vs.shape[-1] // factor
    blocks = vs[..., : n_blocks * factor].reshape(*vs.shape[:-1], n_blocks, factor)
    valid = ~np.isnan(blocks)
    counts = valid.sum(axis=-1)
    sums = np.where(valid, blocks, 0.0).sum(axis=-1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(counts >= min_count, sums / counts, np.nan)
    return np.moveaxis(out, -1, axis)
