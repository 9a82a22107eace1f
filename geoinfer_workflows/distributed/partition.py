"""Row partitions of an in-memory input as tasks on the cluster.

The input is built by one task on a worker (the seeded generator: nothing large travels
from the client in the graph) and each partition is a slicing task that depends on it,
never scattered data: scattered data dies with its worker, a task is recomputed from the
graph, so a worker lost mid-run costs time, not the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _rows(arrays: tuple[np.ndarray, ...], start: int, stop: int) -> tuple[np.ndarray, ...]:
    return tuple(a[start:stop] for a in arrays)


def row_bounds(n_rows: int, rows: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` blocks of `rows` rows covering `n_rows` (one if empty).

    Examples
    --------
    >>> from geoinfer_workflows.distributed.partition import row_bounds
    >>> row_bounds(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(i, min(i + rows, n_rows)) for i in range(0, max(n_rows, 1), rows)]


def row_partitions(client: Any, source: Any, n_rows: int, rows: int) -> list[Any]:
    """Futures of `rows`-row slices of the arrays `source` (a future of a tuple) holds."""
    return [client.submit(_rows, source, lo, hi) for lo, hi in row_bounds(n_rows, rows)]
