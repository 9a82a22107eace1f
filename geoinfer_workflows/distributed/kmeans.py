"""Lloyd's k-means over row partitions on a cluster: distributed assignment, reduced update.

Each iteration sends the k centres to every partition; a partition assigns its rows
(`space.nearest_center`, the serial assignment step) and returns only what the update
needs: per-cluster sums and counts, its squared error, how many labels changed, and its
k worst-fitted rows (the candidates to re-seed an empty cluster, as the serial update
does). The client adds the partials (O(k d) per partition, whatever the rows) and forms
the new centres. Labels stay on the workers until the end.

Same rules as `space.lloyd`: empty clusters re-seeded at the globally farthest rows
(ties by row index), stop when no label changes or the summed squared centre shift is
at most `tol` x the mean feature variance. The result equals the serial one up to
floating-point reassociation of the sums (labels and iteration count identical on data
without exact distance ties; centres and inertia to ~1e-9 relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geoinfer_workflows.modules import space
from geoinfer_workflows.validation import check_int, check_non_negative_float


@dataclass(frozen=True)
class _Partial:
    sums: np.ndarray  # (k, d)
    counts: np.ndarray  # (k,)
    sq_err: float
    changed: int
    worst_err: np.ndarray  # (<= k,) the partition's largest squared errors
    worst_row: np.ndarray  # their global row indices
    worst_label: np.ndarray
    worst_x: np.ndarray  # (<= k, d)


def _moments(X: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    return len(X), X.sum(axis=0), (X * X).sum(axis=0)


def _step(
    X: np.ndarray, offset: int, centers: np.ndarray, previous: np.ndarray | None
) -> tuple[np.ndarray, _Partial]:
    k, d = centers.shape
    labels = space.nearest_center(X, centers)
    err = ((X - centers[labels]) ** 2).sum(axis=1)
    worst = np.argsort(-err, kind="stable")[:k]
    partial = _Partial(
        sums=np.column_stack([np.bincount(labels, weights=X[:, j], minlength=k) for j in range(d)]),
        counts=np.bincount(labels, minlength=k),
        sq_err=float(err.sum()),
        changed=len(X) if previous is None else int((labels != previous).sum()),
        worst_err=err[worst],
        worst_row=worst + offset,
        worst_label=labels[worst],
        worst_x=X[worst],
    )
    return labels, partial


def _labels(step: tuple[np.ndarray, _Partial]) -> np.ndarray:
    return step[0]


def _partial(step: tuple[np.ndarray, _Partial]) -> _Partial:
    return step[1]


def _update(parts: list[_Partial], centers: np.ndarray) -> np.ndarray:
    """New centres from the summed partials, re-seeding empty clusters as the serial code."""
    k = len(centers)
    sums = sum(p.sums for p in parts)
    counts = sum(p.counts for p in parts)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        err, row, label = (
            np.concatenate([getattr(p, name) for p in parts])
            for name in ("worst_err", "worst_row", "worst_label")
        )
        x = np.concatenate([p.worst_x for p in parts])
        order = np.lexsort((row, -err))[: empty.size]  # largest error first, ties by row
        for target, i in zip(empty, order, strict=False):
            sums[label[i]] -= x[i]
            counts[label[i]] -= 1
            sums[target] += x[i]
            counts[target] += 1
    filled = counts > 0
    return np.where(filled[:, None], sums / np.maximum(counts, 1)[:, None], centers[:k])


def lloyd_partitioned(
    client: Any, partitions: list[Any], centers: Any, *, max_iter: int = 100, tol: float = 1e-4
) -> space.KMeansResult:
    """`space.lloyd` on row partitions (futures of (n_i, d) arrays, in row order).

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.distributed.kmeans import lloyd_partitioned
    >>> from geoinfer_workflows.orchestration.engines import dask_client
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> with dask_client(workers=1, processes=False) as client:
    ...     parts = [client.scatter(X[:2]), client.scatter(X[2:])]
    ...     result = lloyd_partitioned(client, parts, X[[0, 2]])
    >>> result.labels.tolist(), result.centers.tolist()
    ([0, 0, 1, 1], [[0.0, 0.5], [10.0, 0.5]])
    """
    max_iter = check_int(max_iter, "max_iter", 1)
    tol = check_non_negative_float(tol, "tol")
    centers = np.asarray(centers, dtype=np.float64)
    moments = client.gather(client.map(_moments, partitions))
    n = sum(m[0] for m in moments)
    offsets = np.cumsum([0] + [m[0] for m in moments[:-1]]).tolist()
    mean = sum(m[1] for m in moments) / n
    variance = sum(m[2] for m in moments) / n - mean**2
    tol_abs = tol * float(variance.mean())
    steps = client.map(_step, partitions, offsets, centers=centers, previous=None)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new_centers = _update(client.gather(client.map(_partial, steps)), centers)
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        labels = client.map(_labels, steps)
        steps = [
            client.submit(_step, X, offset, centers, previous)
            for X, offset, previous in zip(partitions, offsets, labels, strict=True)
        ]
        parts = client.gather(client.map(_partial, steps))
        if sum(p.changed for p in parts) == 0 or shift <= tol_abs:
            break
    labels = np.concatenate(client.gather(client.map(_labels, steps)))
    return space.KMeansResult(labels, centers, float(sum(p.sq_err for p in parts)), n_iter)
