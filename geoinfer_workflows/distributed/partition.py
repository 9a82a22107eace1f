"""Row partitions of an in-memory input as tasks on the cluster.

The input is built by one task on a worker (the seeded generator: nothing large travels
from the client in the graph) and each partition is a slicing task that depends on it,
never scattered data: scattered data dies with its worker, a task is recomputed from the
graph, so a worker lost mid-run costs time, not the result.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _split(
    make_inputs: Callable[[Any, int], dict[str, Any]], size: Any, seed: int, keys: tuple[str, ...]
) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    inputs = make_inputs(size, seed)
    return {k: v for k, v in inputs.items() if k not in keys}, tuple(inputs[k] for k in keys)


def _rest(split: tuple[dict[str, Any], tuple[np.ndarray, ...]]) -> dict[str, Any]:
    return split[0]


def _stream(split: tuple[dict[str, Any], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return split[1]


def _length(columns: tuple[np.ndarray, ...]) -> int:
    return len(columns[0])


def worker_inputs(
    client: Any,
    make_inputs: Callable[[Any, int], dict[str, Any]],
    size: Any,
    seed: int,
    keys: tuple[str, ...],
    rows: int,
) -> tuple[dict[str, Any], list[Any]]:
    """A workflow's seeded input built by a task on a worker: the inputs not in `keys`
    (small: a study area, a field, a raster) come back; the stream columns named by `keys`
    stay on the cluster as futures of `rows`-row partitions, in `keys` order."""
    split = client.submit(_split, make_inputs, size, seed, keys)
    stream = client.submit(_stream, split)
    n_rows = client.submit(_length, stream).result()
    return client.submit(_rest, split).result(), row_partitions(client, stream, n_rows, rows)
