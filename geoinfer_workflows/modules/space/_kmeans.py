"""k-means: greedy k-means++ seeding, Lloyd iterations and the bounded-memory assignment.

Works on any (n, d) feature matrix (local metres for points: see `local_xy_m`). Data are
centred before the dot-product distance expansion so its cancellation stays negligible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import (
    as_float_array,
    as_float_matrix,
    check_int,
    check_non_negative_float,
)

# Distance blocks of at most this many entries (4 MiB of float64) keep the n x k
# assignment matrix cache-sized and the memory bounded whatever n is.
_CHUNK_ENTRIES = 1 << 19
# Above this many centres (in few dimensions) a KD-tree over the centres assigns points
# faster than the dense n x k distance matrix (measured crossover ~64-256 for d = 2).
_TREE_MIN_CENTRES = 64
_TREE_MAX_DIMS = 8


@dataclass(frozen=True)
class KMeansResult:
    """A k-means partition: labels index `centers`; inertia is the summed squared error."""

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    n_iter: int


def _row_sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def _sq_dists_rows(XT: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(m, n) squared distances from each centre in C to every column of XT = X.T.

    ||x||^2 - 2 x.c + ||c||^2 as one matrix product; the (m, n) layout keeps each
    centre's row contiguous for the reductions k-means++ does on it. Callers pass
    centred data so the cancellation in this expansion stays negligible.
    """
    D = (-2.0 * C) @ XT
    D += _row_sq_norms(C)[:, None]
    D += x_sq
    return np.maximum(D, 0.0, out=D)


def _assign(X: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each row and the squared distance to it, in bounded memory."""
    n, d = X.shape
    k = len(C)
    if k > _TREE_MIN_CENTRES and d <= _TREE_MAX_DIMS:
        dist, labels = cKDTree(C).query(X, k=1)
        return labels.astype(np.intp), dist * dist
    labels = np.empty(n, dtype=np.intp)
    best = np.empty(n)
    minus_2ct = -2.0 * C.T
    c_sq = _row_sq_norms(C)
    step = max(1, _CHUNK_ENTRIES // k)
    rows = np.arange(min(step, n))
    for start in range(0, n, step):
        stop = min(start + step, n)
        D = X[start:stop] @ minus_2ct
        D += c_sq
        nearest = D.argmin(axis=1)
        labels[start:stop] = nearest
        best[start:stop] = D[rows[: stop - start], nearest]
    best += x_sq
    return labels, np.maximum(best, 0.0, out=best)


def _plusplus_indices(
    X: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Row indices of greedy k-means++ seeds (2 + log k candidates per step, best kept).

    Greedy trials make the seeding markedly less sensitive to one unlucky draw than
    plain k-means++ for the price of a few extra distance columns per step.
    """
    n = len(X)
    XT = np.ascontiguousarray(X.T)
    n_trials = 2 + int(math.log(k))
    chosen = np.empty(k, dtype=np.intp)
    chosen[0] = rng.integers(n)
    closest = _sq_dists_rows(XT, x_sq, X[chosen[:1]])[0]
    for c in range(1, k):
        cumulative = np.cumsum(closest)
        if cumulative[-1] > 0.0:
            draws = rng.uniform(size=n_trials) * cumulative[-1]
            candidates = np.minimum(np.searchsorted(cumulative, draws), n - 1)
        else:  # every point coincides with a seed: any choice is as good
            candidates = rng.integers(n, size=n_trials)
        trial = _sq_dists_rows(XT, x_sq, X[candidates])
        np.minimum(trial, closest, out=trial)
        best = int(np.argmin(trial.sum(axis=1)))
        chosen[c] = candidates[best]
        closest = trial[best].copy()
    return chosen


def _update_centres(
    X: np.ndarray, labels: np.ndarray, sq_err: np.ndarray, C: np.ndarray
) -> np.ndarray:
    """Cluster means; an empty cluster is re-seeded at the point farthest from its centre.

    Taking the worst-fitted points (ties by index) keeps the re-seed deterministic and
    spends the spare centre where the error is largest.
    """
    k, d = C.shape
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        farthest = np.argsort(-sq_err, kind="stable")[: empty.size]
        labels = labels.copy()
        labels[farthest] = empty[: farthest.size]
        counts = np.bincount(labels, minlength=k)
    sums = np.column_stack([np.bincount(labels, weights=X[:, j], minlength=k) for j in range(d)])
    filled = counts > 0
    return np.where(filled[:, None], sums / np.maximum(counts, 1)[:, None], C)


def _lloyd(
    X: np.ndarray, x_sq: np.ndarray, C: np.ndarray, max_iter: int, tol_abs: float
) -> KMeansResult:
    """Lloyd iterations on centred data; stops when labels repeat or centres barely move."""
    labels, sq_err = _assign(X, x_sq, C)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new_C = _update_centres(X, labels, sq_err, C)
        shift = float(((new_C - C) ** 2).sum())
        C = new_C
        new_labels, sq_err = _assign(X, x_sq, C)
        unchanged = np.array_equal(new_labels, labels)
        labels = new_labels
        if unchanged or shift <= tol_abs:
            break
    return KMeansResult(labels=labels, centers=C, inertia=float(sq_err.sum()), n_iter=n_iter)


def _centred(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X - mean, mean, row norms): centring keeps the dot-product distances precise."""
    mean = X.mean(axis=0)
    Xc = X - mean
    return Xc, mean, _row_sq_norms(Xc)


def _absolute_tol(Xc: np.ndarray, tol: float) -> float:
    """Convergence threshold on the summed squared centre shift, scaled to the data."""
    return tol * float(Xc.var(axis=0).mean())


def nearest_center(X: Any, centers: Any) -> np.ndarray:
    """Index of the nearest centre for each row: k-means' assignment step on its own.

    Lets a caller fit centres on a sample and label every row in one bounded-memory pass
    (how a raster of millions of pixels is zoned). Rows and centres are shifted by the
    centres' mean first, so the distance expansion keeps its precision far from 0.
    """
    X = as_float_array(X, "X")
    C = as_float_array(centers, "centers")
    if X.ndim != 2 or C.ndim != 2 or X.shape[1] != C.shape[1] or len(C) == 0:
        raise ParameterError(
            f"nearest_center needs X (n, d) and centers (k, d), got {X.shape} and {C.shape}"
        )
    shift = C.mean(axis=0)
    Xc, Cc = X - shift, C - shift
    labels, _ = _assign(Xc, _row_sq_norms(Xc), Cc)
    return labels


def kmeans_plusplus(X: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    """(k, d) k-means++ initial centres (rows of X), drawn from `rng`."""
    X = as_float_matrix(X)
    k = check_int(k, "k", 1, len(X))
    Xc, _, x_sq = _centred(X)
    return X[_plusplus_indices(Xc, x_sq, k, rng)]


def lloyd(X: Any, centers: Any, *, max_iter: int = 100, tol: float = 1e-4) -> KMeansResult:
    """Lloyd's k-means iterations from the given centres.

    `tol` is relative to the mean per-feature variance of X (as in scikit-learn), so the
    stopping rule does not depend on the units of the features.
    """
    X = as_float_matrix(X)
    centers = as_float_matrix(centers, "centers")
    if centers.shape[1] != X.shape[1]:
        raise ParameterError(
            f"centers have {centers.shape[1]} features but X has {X.shape[1]}; pass (k, d)"
        )
    max_iter = check_int(max_iter, "max_iter", 1)
    tol = check_non_negative_float(tol, "tol")
    Xc, mean, x_sq = _centred(X)
    run = _lloyd(Xc, x_sq, centers - mean, max_iter, _absolute_tol(Xc, tol))
    return KMeansResult(run.labels, run.centers + mean, run.inertia, run.n_iter)


def kmeans(
    X: Any,
    k: int,
    *,
    n_init: int = 3,
    max_iter: int = 100,
    tol: float = 1e-4,
    seed: int | None = 0,
) -> KMeansResult:
    """Best (lowest inertia) of `n_init` Lloyd runs from greedy k-means++ seeds.

    Memory is O(n (d + log k)): assignment distances are computed in cache-sized blocks
    and only k-means++ holds its 2 + log k candidate distance rows, so n = 1e6 with
    k <= 64 needs tens of MB.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Finite features; for lat/lon points, metres from `local_xy_m`.
    k : int
        Number of clusters, 1 <= k <= n.
    n_init : int
        Seedings tried (>= 1); the run with the lowest inertia is kept.
    max_iter : int
        Lloyd iterations per run at most (>= 1).
    tol : float
        Stop once the summed squared centre shift is at most `tol` times the mean
        per-feature variance of X (>= 0).
    seed : int or None
        Seed of the k-means++ draws; None draws fresh entropy (not reproducible).

    Returns
    -------
    KMeansResult
        `labels` (n,) index `centers` (k, d); `inertia` is the summed squared distance of
        the points to their centres; `n_iter` the Lloyd iterations of the kept run.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import space
    >>> X = np.array([[0, 0], [0, 1], [10, 10], [10, 11], [0.5, 0.5]])
    >>> fit = space.kmeans(X, 2, seed=0)
    >>> fit.labels.tolist(), fit.centers.round(2).tolist()
    ([0, 0, 1, 1, 0], [[0.17, 0.5], [10.0, 10.5]])
    >>> round(fit.inertia, 3)
    1.167
    """
    X = as_float_matrix(X)
    k = check_int(k, "k", 1, len(X))
    n_init = check_int(n_init, "n_init", 1)
    max_iter = check_int(max_iter, "max_iter", 1)
    tol = check_non_negative_float(tol, "tol")
    Xc, mean, x_sq = _centred(X)
    tol_abs = _absolute_tol(Xc, tol)
    rng = np.random.default_rng(seed)
    runs = (
        _lloyd(Xc, x_sq, Xc[_plusplus_indices(Xc, x_sq, k, rng)], max_iter, tol_abs)
        for _ in range(n_init)
    )
    best = min(runs, key=lambda run: run.inertia)  # first of equals: deterministic
    return KMeansResult(best.labels, best.centers + mean, best.inertia, best.n_iter)
