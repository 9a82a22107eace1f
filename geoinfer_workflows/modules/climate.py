"""CLIMATE: station quality control, climatology, anomalies, trends and extremes.

Stations are dense arrays: one row per station, one column per time step (hourly before
`daily_means`, daily after), NaN where a value is missing. Dense rows turn every check
into a handful of whole-array passes over (n_stations, n_steps), with no per-station loop,
and let the caller split stations into chunks for parallel stages without changing results.
Time is always the last axis; any leading shape is accepted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.temporal import (
    DAY_S,
    TrendResult,
    linear_trends,
    resample_mean,
)
from geoinfer_workflows.validation import (
    as_real_array,
    check_int,
    check_options,
    check_positive_float,
    check_real,
)

__all__ = [
    "DAYS_PER_YEAR",
    "HOURS_PER_DAY",
    "Extremes",
    "QCReport",
    "anomalies",
    "apply_qc",
    "climatology",
    "daily_means",
    "diurnal_climatology",
    "extremes",
    "quality_control",
    "station_trends",
]

HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365
_HOUR_S = 3_600
# Trend units: days in each reporting unit (Julian years, so a decade is 3652.5 days).
_DAYS_PER_UNIT = {"day": 1.0, "year": 365.25, "decade": 3652.5}


def _series(values: np.ndarray, name: str) -> np.ndarray:
    """Float array with a time axis last; anything else is a caller mistake, said plainly."""
    arr = as_real_array(values, name)
    if arr.ndim == 0:
        raise ParameterError(f"{name} must be (n_stations, n_steps), got a scalar")
    return arr


# --------------------------------------------------------------------------- QC


@dataclass(frozen=True)
class QCReport:
    """Which values passed quality control, and how many failed each check.

    Every failed value is counted once, under the first check it fails in the order
    missing > range > spike > stuck, so the counts are disjoint and
    `missing + range_fail + spike_fail + stuck_fail == valid.size - valid.sum()`.
    """

    valid: np.ndarray  # bool, same shape as the input
    range_fail: int
    spike_fail: int
    stuck_fail: int
    missing: int

    @property
    def n_failed(self) -> int:
        """All values that did not pass, missing ones included."""
        return self.missing + self.range_fail + self.spike_fail + self.stuck_fail


def quality_control(
    values: np.ndarray,
    *,
    vmin: float = -60.0,
    vmax: float = 60.0,
    max_step: float = 8.0,
    stuck_hours: int = 6,
) -> QCReport:
    """Flag missing, out-of-range, spiking and stuck values of hourly station series.

    Out-of-range values are treated as gaps by the spike check, so a gross error (a 999
    sentinel) neither hides nor fakes a spike next to it. A spike is a value that
    jumps by more than `max_step` away from both neighbours in the same sense (up then
    down, or down then up); a step change, where the series stays at its new level, is
    not one, and a value next to a gap is not judged. A stuck sensor repeats exactly the
    same value for `stuck_hours` or more consecutive steps; the whole run is flagged.
    Sensors that report coarsely (0.5 degree resolution) repeat values legitimately and
    need a longer `stuck_hours`.

    Parameters
    ----------
    values : array_like, shape (..., n_steps)
        Hourly values, NaN where missing.
    vmin, vmax : float
        Plausible range (finite, vmin < vmax).
    max_step : float
        Largest plausible hour-to-hour jump (> 0).
    stuck_hours : int
        Shortest run of identical values flagged as a stuck sensor (>= 2).

    Returns
    -------
    QCReport
        The `valid` mask (shaped like `values`) and the disjoint failure counts.

    Examples
    --------
    A 30-degree spike in one station, a stuck and a 999-sentinel station beside it:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import climate
    >>> v = np.array([[10.0, 10.5, 30.0, 11.0, 11.5, 12.0], [5.0, 5.0, 5.0, 5.0, 999.0, np.nan]])
    >>> qc = climate.quality_control(v, stuck_hours=4)
    >>> qc.valid.tolist()[0], (qc.missing, qc.range_fail, qc.spike_fail, qc.stuck_fail)
    ([True, True, False, True, True, True], (1, 1, 1, 4))
    """
    v = _series(values, "values")
    _check_qc_parameters(vmin, vmax, max_step, stuck_hours)
    missing = np.isnan(v)
    out_of_range = (v < vmin) | (v > vmax)  # NaN compares False: missing stays separate
    spikes = _spikes(v, max_step, ignore=out_of_range)
    # A run holds one repeated value, so it is wholly in or out of range; a spike differs
    # from its neighbours and is never in a run: the counts below are disjoint.
    stuck = _stuck_runs(v, stuck_hours) & ~out_of_range
    valid = ~(missing | out_of_range | spikes | stuck)
    return QCReport(
        valid=valid,
        range_fail=int(np.count_nonzero(out_of_range)),
        spike_fail=int(np.count_nonzero(spikes)),
        stuck_fail=int(np.count_nonzero(stuck)),
        missing=int(np.count_nonzero(missing)),
    )


def _check_qc_parameters(vmin: float, vmax: float, max_step: float, stuck_hours: int) -> None:
    """QC thresholds that cannot flag anything sensible are refused up front.

    Validation only: the values are used as given, so a numpy threshold compares with the
    data exactly as it did before these checks existed.
    """
    if not check_real(vmin, "vmin") < check_real(vmax, "vmax"):
        raise ParameterError(f"need vmin < vmax, got vmin={vmin}, vmax={vmax}")
    check_positive_float(max_step, "max_step")
    check_int(stuck_hours, "stuck_hours", 2, note="one repeat is normal")


def _spikes(v: np.ndarray, max_step: float, *, ignore: np.ndarray) -> np.ndarray:
    """Interior values that leave both neighbours by more than max_step, in the same sense.

    A spike is a jump up followed by a jump down, or the reverse. Steps touching an
    `ignore`d value (out of range) count as gaps, exactly as if it were NaN, without a
    masked float copy of the whole matrix: one difference pass, the rest on bool arrays.
    """
    out = np.zeros(v.shape, dtype=bool)
    if v.shape[-1] < 3:
        return out
    step = np.diff(v, axis=-1)
    up = step > max_step
    down = step < -max_step
    if ignore.any():
        judged = ~(ignore[..., 1:] | ignore[..., :-1])
        up &= judged
        down &= judged
    out[..., 1:-1] = (up[..., :-1] & down[..., 1:]) | (down[..., :-1] & up[..., 1:])
    return out


def _stuck_runs(v: np.ndarray, min_run: int) -> np.ndarray:
    """Values inside runs of >= min_run identical consecutive values, per row.

    Only repeats are run-length encoded: `repeat[i]` says v[i] equals v[i-1] in the same
    row (column 0 never repeats, so runs never cross stations, and NaN never equals
    anything, so gaps break runs). Consecutive repeat positions form one run; in real data
    they are rare, so after one comparison pass the work is proportional to the repeats.
    """
    out = np.zeros(v.shape, dtype=bool)
    repeat = np.zeros(v.shape, dtype=bool)
    repeat[..., 1:] = v[..., 1:] == v[..., :-1]
    pos = np.flatnonzero(repeat)
    if pos.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(pos) != 1)
    first_repeat = pos[np.r_[0, breaks + 1]]
    last_repeat = pos[np.r_[breaks, pos.size - 1]]
    run_len = last_repeat - first_repeat + 2  # the run starts one value before its repeats
    stuck = run_len >= min_run
    out.ravel()[_ranges(first_repeat[stuck] - 1, run_len[stuck])] = True
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for every (s, n), without a Python loop."""
    offsets = np.cumsum(lengths) - lengths
    return np.arange(lengths.sum()) - np.repeat(offsets - starts, lengths)


def apply_qc(values: np.ndarray, qc: QCReport) -> np.ndarray:
    """Copy of `values` (float, same dtype when already float) with failed values as NaN."""
    v = _series(values, "values")
    if qc.valid.shape != v.shape:
        raise ParameterError(
            f"QC report is for shape {qc.valid.shape}, values have shape {v.shape}: "
            "run quality_control on these values first"
        )
    return np.where(qc.valid, v, np.nan)


# ------------------------------------------------------------ daily aggregates


def _samples_to_midnight(t0: int, hours_per_day: int) -> int:
    """Leading samples to skip so that blocks of `hours_per_day` are UTC calendar days."""
    if DAY_S % hours_per_day:
        raise ParameterError(f"hours_per_day must divide 86400 s evenly, got {hours_per_day}")
    step = DAY_S // hours_per_day
    return (-int(t0) % DAY_S + step - 1) // step


def daily_means(
    values: np.ndarray, *, hours_per_day: int = HOURS_PER_DAY, min_hours: int = 18, t0: int = 0
) -> np.ndarray:
    """Daily means per station, NaN for days with fewer than `min_hours` valid samples.

    A day mean from a few readings is biased by the diurnal cycle (three night readings
    make a cold day), hence the minimum. `t0` is the epoch second of column 0: samples
    before the first UTC midnight are skipped so that day k starts at a midnight, and the
    trailing partial day is dropped. The default t0=0 assumes column 0 is a midnight.

    Parameters
    ----------
    values : array_like, shape (..., n_hours)
        Sub-daily values, NaN where missing.
    hours_per_day : int
        Samples per day (>= 1, dividing 86400 s).
    min_hours : int
        Valid samples a day needs (1..hours_per_day).
    t0 : int
        Epoch second of the first column.

    Returns
    -------
    numpy.ndarray
        Daily means, shape (..., n_days).

    Examples
    --------
    Three days of 12 cool and 12 warm hours; day 2 lost ten hours:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import climate
    >>> hourly = np.tile(np.r_[np.full(12, 10.0), np.full(12, 20.0)], 3)[None, :]
    >>> hourly[0, 30:40] = np.nan
    >>> climate.daily_means(hourly).tolist()
    [[15.0, nan, 15.0]]
    """
    v = _series(values, "values")
    hours_per_day = check_int(hours_per_day, "hours_per_day", 1)
    min_hours = check_int(min_hours, "min_hours", 1, hours_per_day)
    lead = _samples_to_midnight(t0, hours_per_day)
    return resample_mean(v[..., lead:], hours_per_day, min_count=min_hours)


def diurnal_climatology(values: np.ndarray, *, t0: int = 0) -> np.ndarray:
    """Mean by UTC hour of day per station, shape (..., 24), NaN-aware.

    The series is padded with NaN to whole UTC days (before the first midnight and after
    the last hour), folded to (..., n_days, 24) and reduced over days: one copy and one
    reduction, no scatter and no BLAS call (whose threads contend on a busy 2-core box).
    """
    v = _series(values, "values")
    n_h = v.shape[-1]
    lead = (int(t0) // _HOUR_S) % HOURS_PER_DAY
    n_days = -(-(lead + n_h) // HOURS_PER_DAY)
    pad = [(0, 0)] * (v.ndim - 1) + [(lead, n_days * HOURS_PER_DAY - lead - n_h)]
    days = np.pad(v, pad, constant_values=np.nan).reshape(*v.shape[:-1], n_days, HOURS_PER_DAY)
    valid = ~np.isnan(days)
    sums = np.where(valid, days, 0.0).sum(axis=-2, dtype=np.float64)
    return _ratio(sums, valid.sum(axis=-2))


# ------------------------------------------------------ climatology, anomalies


def climatology(
    daily: np.ndarray, *, window: int = 15, period: int | None = DAYS_PER_YEAR
) -> np.ndarray:
    """Seasonal baseline per station per day, same shape as `daily`.

    With `period` (default 365 days) the baseline of day d is the mean of all valid days,
    in every year, whose day-of-cycle lies within a centred `window` of d's (wrapping round
    the year end). Pooling years this way leaves interannual change, a warming trend
    included, in the anomalies instead of absorbing it into the baseline. Day of cycle is
    the day index modulo `period`, so leap days drift the phase by one day every four
    years, negligible against a 15-day window. A series shorter than a period gets each
    day's centred rolling mean (truncated at the series ends), except that a series within
    window/2 days of a full period wraps its ends onto each other, as calendar neighbours.
    `period=None` always gives that plain centred rolling mean of the series itself.

    Parameters
    ----------
    daily : array_like, shape (..., n_days)
        Daily values, NaN where missing.
    window : int
        Days in the centred window (>= 1).
    period : int or None
        Days in the seasonal cycle (>= window), or None for a plain rolling mean.

    Returns
    -------
    numpy.ndarray
        The baseline, shaped like `daily`.

    Examples
    --------
    Two 3-day "years", the second 10 degrees warmer: each day of the cycle gets the mean
    of both years, so the anomalies keep the warming:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import climate
    >>> daily = np.array([[1.0, 2.0, 3.0, 11.0, 12.0, 13.0]])
    >>> base = climate.climatology(daily, window=1, period=3)
    >>> base.tolist(), climate.anomalies(daily, base).tolist()
    ([[6.0, 7.0, 8.0, 6.0, 7.0, 8.0]], [[-5.0, -5.0, -5.0, 5.0, 5.0, 5.0]])
    """
    d = _series(daily, "daily").astype(np.float64, copy=False)
    window = check_int(window, "window", 1, note="days")
    valid = ~np.isnan(d)
    filled = np.where(valid, d, 0.0)
    if period is None:
        sums = _centred_window_sums(filled, window, circular=False)
        counts = _centred_window_sums(valid.astype(np.float64), window, circular=False)
        return _ratio(sums, counts)
    period = check_int(period, "period", window, note="days, at least the window")
    cycle_sums, cycle_counts = _fold_by_cycle(filled, valid, period)
    sums = _centred_window_sums(cycle_sums, window, circular=True)
    counts = _centred_window_sums(cycle_counts, window, circular=True)
    per_cycle_day = _ratio(sums, counts)
    return per_cycle_day[..., np.arange(d.shape[-1]) % period]


def _fold_by_cycle(
    filled: np.ndarray, valid: np.ndarray, period: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts per day of cycle, pooled over all cycles (years) of the series."""
    n = filled.shape[-1]
    n_cycles = -(-n // period)
    pad = [(0, 0)] * (filled.ndim - 1) + [(0, n_cycles * period - n)]
    shape = (*filled.shape[:-1], n_cycles, period)
    sums = np.pad(filled, pad).reshape(shape).sum(axis=-2)
    counts = np.pad(valid.astype(np.float64), pad).reshape(shape).sum(axis=-2)
    return sums, counts


def _centred_window_sums(a: np.ndarray, window: int, *, circular: bool) -> np.ndarray:
    """Sum over a[..., i - window//2 : i + window - window//2] for every i, via one cumsum."""
    left = window // 2
    right = window - 1 - left
    n = a.shape[-1]
    if circular:
        parts = [a[..., n - left :], a, a[..., :right]]
    else:
        zeros = np.zeros_like(a[..., :1])
        parts = [np.repeat(zeros, left, axis=-1), a, np.repeat(zeros, right, axis=-1)]
    csum = np.cumsum(np.concatenate([np.zeros_like(a[..., :1]), *parts], axis=-1), axis=-1)
    return csum[..., window:] - csum[..., :-window]


def _ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """sums / counts, NaN where nothing was counted."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def anomalies(daily: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Departure of each day from its baseline (NaN where either is missing).

    The baseline may be per station (same shape as `daily`) or shared, e.g. a regional
    (1, n_days) baseline, as long as it broadcasts to `daily` without enlarging it.
    """
    d = _series(daily, "daily")
    b = _series(baseline, "baseline")
    try:
        shape = np.broadcast_shapes(d.shape, b.shape)
    except ValueError:
        shape = None
    if shape != d.shape:
        raise ParameterError(
            f"baseline of shape {b.shape} does not broadcast to daily {d.shape}: "
            "build it with climatology(daily) or climatology(regional_series)"
        )
    return d - b


# ---------------------------------------------------------- trends, extremes


def station_trends(daily: np.ndarray, *, per: str = "decade") -> TrendResult:
    """Per-station linear trend of a daily series, slope in units per `per`.

    `per` is "decade" (default, the usual unit for warming rates), "year" or "day";
    slope and its standard error are scaled, the intercept stays the fitted value on day
    index 0. Pass anomalies, not raw temperatures: the seasonal cycle leaks into a least-
    squares slope even over whole years (a 10 C seasonal sine over exactly 10 years gives
    anything up to +-1.9 C/decade depending on its phase), swamping real warming rates.

    Parameters
    ----------
    daily : array_like, shape (..., n_days)
        Daily anomalies, NaN where missing.
    per : {"decade", "year", "day"}
        Unit of time of the slope.

    Returns
    -------
    TrendResult
        As `temporal.linear_trends`, with slope and stderr per `per`.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import climate
    >>> warming = 0.01 * np.arange(3650.0)[None, :]  # 0.01 degree a day
    >>> climate.station_trends(warming).slope.round(4).tolist()
    [36.525]
    """
    check_options(per, "trend unit", _DAYS_PER_UNIT)
    scale = _DAYS_PER_UNIT[per]
    fit = linear_trends(_series(daily, "daily"))
    return dataclasses.replace(fit, slope=fit.slope * scale, stderr=fit.stderr * scale)


@dataclass(frozen=True)
class Extremes:
    """Per-station percentile threshold and the days strictly above it."""

    threshold: np.ndarray  # (n_stations,), NaN for a station with no valid day
    exceedances: np.ndarray  # (n_stations,) int64, number of hot days
    hot_days: np.ndarray  # bool (n_stations, n_days); missing days are never hot


def extremes(daily: np.ndarray, *, q: float = 95.0) -> Extremes:
    """Days above each station's own q-th percentile (a relative, climate-aware extreme).

    Parameters
    ----------
    daily : array_like, shape (..., n_days)
        Daily values, NaN where missing.
    q : float
        Percentile in [0, 100] (linear interpolation, as np.nanpercentile).

    Returns
    -------
    Extremes
        Per-station `threshold` and `exceedances`, and the `hot_days` mask.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import climate
    >>> hot = climate.extremes(np.array([[1.0, 2.0, 3.0, 4.0, np.nan, 10.0]]), q=80)
    >>> hot.threshold.round(6).tolist(), hot.exceedances.tolist()
    ([5.2], [1])
    """
    check_real(q, "q", 0.0, 100.0, note="a percentile")
    d = _series(daily, "daily")
    threshold = _nan_percentile_last_axis(d, q)
    with np.errstate(invalid="ignore"):
        hot = d > threshold[..., None]
    return Extremes(threshold=threshold, exceedances=hot.sum(axis=-1, dtype=np.int64), hot_days=hot)


def _nan_percentile_last_axis(a: np.ndarray, q: float) -> np.ndarray:
    """np.nanpercentile(a, q, axis=-1) (linear method) in one sort, without a per-row loop.

    numpy's nanpercentile falls back to a Python-level loop over rows as soon as any NaN
    is present; sorting puts NaNs last, so each row's valid values are a prefix of known
    length and the interpolation can be done for all rows at once.
    """
    s = np.sort(a, axis=-1).astype(np.float64, copy=False)
    n = np.count_nonzero(~np.isnan(s), axis=-1)
    pos = np.maximum(n - 1, 0) * (q / 100.0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    if s.shape[-1] == 0:
        return np.full(s.shape[:-1], np.nan)
    a_lo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    a_hi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    frac = pos - lo
    out = a_lo + (a_hi - a_lo) * frac
    return np.where(n > 0, out, np.nan)
