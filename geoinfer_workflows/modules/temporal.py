"""TIME: group-by over (cell, period), rolling windows and per-series linear trends.

Everything is a sort-free `np.unique`/`np.bincount` pass or a cumulative sum, so cost
stays linear in the number of records whatever the number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.errors import ParameterError

DAY_S = 86_400
WEEK_S = 7 * DAY_S


def period_index(t: np.ndarray, period_s: int, t0: int | None = None) -> np.ndarray:
    """Integer period number of each epoch-second timestamp, counted from `t0`."""
    if period_s <= 0:
        raise ParameterError(f"period_s must be positive, got {period_s}")
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
    """Count and sum `values` per (cell, period) in one bincount over a flat index."""
    cells = np.asarray(cells)
    periods = np.asarray(periods, dtype=np.int64)
    if cells.shape != periods.shape:
        raise ParameterError("cells and periods must have the same shape")
    if periods.size and periods.min() < 0:
        raise ParameterError("period indices must be non-negative")
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
