"""Exact merges of partition aggregates: what makes a partitioned aggregate equal the serial one.

A (cell x day) table is a sum over records, so the tables of disjoint partitions add:
counts exactly (integers), sums to within floating-point reassociation (the serial path
adds the same numbers in another order; the difference is a few ulps per cell-day).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from geoinfer_workflows.modules.temporal import CellPeriodTable

T = TypeVar("T")


def merge_cell_period(a: CellPeriodTable, b: CellPeriodTable) -> CellPeriodTable:
    """The table of the union of two partitions' records (same period grid).

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import temporal
    >>> from geoinfer_workflows.distributed.merge import merge_cell_period
    >>> a = temporal.groupby_cell_period(np.array([7, 9]), np.array([0, 1]), n_periods=2)
    >>> b = temporal.groupby_cell_period(np.array([8, 9]), np.array([1, 1]), n_periods=2)
    >>> merged = merge_cell_period(a, b)
    >>> merged.cells.tolist(), merged.counts.tolist()
    ([7, 8, 9], [[1, 0], [0, 1], [0, 2]])
    """
    cells = np.union1d(a.cells, b.cells)
    width = a.counts.shape[1]
    counts = np.zeros((cells.size, width), dtype=np.int64)
    sums = np.zeros((cells.size, width), dtype=np.float64)
    for part in (a, b):
        rows = np.searchsorted(cells, part.cells)
        counts[rows] += part.counts
        sums[rows] += part.sums
    return CellPeriodTable(cells=cells, counts=counts, sums=sums)


def tree_reduce(client: Any, merge: Callable[[T, T], T], futures: Sequence[Any]) -> Any:
    """Merge futures pairwise on the cluster (log2 rounds); the one future left.

    Pairwise rather than all at one worker: each merge moves two partials, so no worker
    receives every partition's table at once and the rounds run in parallel.
    """
    level = list(futures)
    while len(level) > 1:
        merged = [client.submit(merge, a, b) for a, b in zip(level[::2], level[1::2], strict=False)]
        level = merged + ([level[-1]] if len(level) % 2 else [])
    return level[0]
