"""HEALTH: case counts per cell-week, crude rates, expected counts and standardised ratios.

The surveillance workflow turns point case reports into a dense (cell x week) count grid and
compares each cell with what the whole study area's rate predicts for its population. All
functions take 1-D per-cell arrays or 2-D (cell x week) arrays; a 1-D population is reused
for every week of a 2-D count grid, because census populations change far more slowly than
weekly case counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.temporal import WEEK_S, groupby_cell_period, period_index
from geoinfer_workflows.validation import check_int, check_positive_float

__all__ = [
    "CellWeekCounts",
    "align_population",
    "cell_week_counts",
    "expected_counts",
    "rates",
    "standardized_ratio",
]


@dataclass(frozen=True)
class CellWeekCounts:
    """Case counts on a dense (cell x week) grid; weeks with no report hold 0."""

    cells: np.ndarray  # unique cell ids, sorted, shape (n_cells,)
    counts: np.ndarray  # int64, shape (n_cells, n_weeks)
    week0: int  # epoch seconds at which week 0 starts

    @property
    def totals(self) -> np.ndarray:
        """Cases per cell over all weeks, the input of the per-cell (1-D) analyses."""
        return self.counts.sum(axis=1)


def cell_week_counts(
    cells: np.ndarray,
    t: np.ndarray,
    *,
    t0: int | None = None,
    n_weeks: int | None = None,
) -> CellWeekCounts:
    """Count case reports per (cell, week), weeks counted in whole 7-day steps from `t0`.

    `t0` defaults to the earliest report, so week 0 always holds data; pass it explicitly
    to align several batches on the same week grid. `n_weeks` fixes the grid width (e.g.
    to include trailing weeks with no reports, which surveillance must see as zeros).

    Parameters
    ----------
    cells : array_like, shape (n,)
        Cell id of each report (e.g. H3 cells from `space.h3_cells`).
    t : array_like of int, shape (n,)
        Report time, epoch seconds.
    t0 : int, optional
        Start of week 0, epoch seconds (default: the earliest report).
    n_weeks : int, optional
        Number of weeks in the grid (default: up to the week of the latest report).

    Returns
    -------
    CellWeekCounts
        The sorted unique cells, an int64 (cell x week) count grid and `week0`.

    Examples
    --------
    Cell 7 has reports in weeks 0 and 2, cell 3 one report in week 1:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import health
    >>> day = 86_400
    >>> t = np.array([0, day, 8 * day, 15 * day])
    >>> grid = health.cell_week_counts(np.array([7, 7, 3, 7]), t)
    >>> grid.cells.tolist(), grid.counts.tolist(), grid.totals.tolist()
    ([3, 7], [[0, 1, 0], [2, 0, 1]], [1, 3])
    """
    cells = np.asarray(cells)
    t = np.asarray(t)
    if cells.ndim != 1 or cells.shape != t.shape:
        raise ParameterError(
            f"cells and t must be 1-D arrays of the same length, got shapes {cells.shape} "
            f"and {t.shape}; pass one cell id and one timestamp per case report"
        )
    if np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("datetime64[s]").astype(np.int64)
    elif t.size and not np.issubdtype(t.dtype, np.integer):
        raise ParameterError(f"t must hold int64 epoch seconds or datetime64, got dtype {t.dtype}")
    if n_weeks is not None:
        n_weeks = check_int(n_weeks, "n_weeks", 0)
    if t0 is not None:
        t0 = check_int(t0, "t0", note="epoch seconds")
    if t0 is not None and t.size and int(t.min()) < t0:
        raise ParameterError(
            f"a report at t={int(t.min())} precedes t0={t0}; choose t0 <= the earliest report"
        )
    week0 = int(t0) if t0 is not None else (int(t.min()) if t.size else 0)
    weeks = period_index(t, WEEK_S, week0)
    if n_weeks is not None and weeks.size and int(weeks.max()) >= n_weeks:
        raise ParameterError(
            f"a report falls in week {int(weeks.max())} but n_weeks={n_weeks}; "
            "raise n_weeks or drop the late reports"
        )
    table = groupby_cell_period(cells, weeks, n_periods=n_weeks)
    return CellWeekCounts(
        cells=table.cells, counts=table.counts.astype(np.int64, copy=False), week0=week0
    )


def _as_nonnegative(name: str, x: np.ndarray) -> np.ndarray:
    """Float64 view of counts or populations, rejecting what no rate can be built from."""
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} must be finite; replace NaN/inf before computing rates")
    if arr.size and arr.min() < 0:
        raise ParameterError(f"{name} must be non-negative, found {arr.min()}")
    return arr


def align_population(counts: np.ndarray, population: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate counts and population and broadcast population to the counts' shape.

    For 2-D counts (cell x week, or cell x any other axis of separate cross-sections) a
    population of shape (n_cells,) or (n_cells, 1) is reused along the second axis; a
    population of the counts' own shape is used as is. Anything else is a caller mistake.

    Parameters
    ----------
    counts : array_like, shape (n_cells,) or (n_cells, n_weeks)
        Finite, non-negative case counts.
    population : array_like, shape (n_cells,), (n_cells, 1) or that of `counts`
        Finite, non-negative people at risk.

    Returns
    -------
    counts, population : numpy.ndarray
        Both float64, of the counts' shape.

    Raises
    ------
    ParameterError
        For NaN/inf or negative values, or shapes that do not line up.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import health
    >>> counts, population = health.align_population([[1, 2], [3, 4]], [100, 200])
    >>> population.tolist()
    [[100.0, 100.0], [200.0, 200.0]]
    """
    c = _as_nonnegative("counts", counts)
    p = _as_nonnegative("population", population)
    if c.ndim not in (1, 2):
        raise ParameterError(f"counts must be 1-D (cells) or 2-D (cells x weeks), got {c.ndim}-D")
    if p.shape == c.shape:
        return c, p
    if c.ndim == 2 and p.shape in ((c.shape[0],), (c.shape[0], 1)):
        return c, np.broadcast_to(p.reshape(-1, 1), c.shape)
    raise ParameterError(
        f"population shape {p.shape} does not match counts shape {c.shape}; give one "
        "population per cell, (n_cells,) or (n_cells, 1), or one per cell-week"
    )


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0 and no floating-point warnings."""
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def rates(counts: np.ndarray, population: np.ndarray, *, per: float = 100_000.0) -> np.ndarray:
    """Crude rates per `per` people; NaN where nobody is at risk (the rate is undefined).

    Parameters
    ----------
    counts, population : array_like
        Case counts and people at risk (shapes as `align_population` accepts).
    per : float
        The rate's denominator (> 0): 100,000 people by default.

    Returns
    -------
    numpy.ndarray
        float64 rates of the counts' shape.

    Examples
    --------
    The third cell has nobody at risk, so no rate:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import health
    >>> health.rates(np.array([5, 0, 2]), np.array([10_000, 5_000, 0])).tolist()
    [50.0, 0.0, nan]
    """
    check_positive_float(per, "per", note="the rate's multiplier")
    c, p = align_population(counts, population)
    return _safe_divide(c * per, p)


def expected_counts(counts: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Expected counts by indirect standardisation: E = P * (study-area rate).

    1-D (per-cell totals): E_i = P_i * sum(C) / sum(P).
    2-D (cell x week): E_it = P_it * sum_i(C_it) / sum_i(P_it), i.e. each week uses that
    week's own overall rate, so a study-wide epidemic wave raises every cell's expectation
    and only cells departing from the wave stand out.

    Parameters
    ----------
    counts, population : array_like
        Case counts and people at risk (shapes as `align_population` accepts).

    Returns
    -------
    numpy.ndarray
        float64 expected counts of the counts' shape.

    Examples
    --------
    Two cells of equal population share the study area's 40 cases equally:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import health
    >>> health.expected_counts(np.array([10, 30]), np.array([1_000, 1_000])).tolist()
    [20.0, 20.0]
    """
    c, p = align_population(counts, population)
    total_p = p.sum(axis=0)
    if np.any(total_p <= 0):
        raise ParameterError(
            "total population is zero (in at least one week): the study-area rate, and so "
            "the expected counts, are undefined"
        )
    return p * (c.sum(axis=0) / total_p)


def standardized_ratio(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Standardised incidence ratio O/E (1 = as expected); NaN where E == 0.

    Parameters
    ----------
    observed, expected : array_like
        Observed counts and expected counts (`expected_counts`), same shape.

    Returns
    -------
    numpy.ndarray
        float64 ratios.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import health
    >>> health.standardized_ratio(np.array([10, 30, 1]), np.array([20.0, 20.0, 0.0])).tolist()
    [0.5, 1.5, nan]
    """
    o = _as_nonnegative("observed", observed)
    e = _as_nonnegative("expected", expected)
    if o.shape != e.shape:
        raise ParameterError(
            f"observed shape {o.shape} differs from expected shape {e.shape}; "
            "compute expected_counts on the same grid as the observed counts"
        )
    return _safe_divide(o, e)
