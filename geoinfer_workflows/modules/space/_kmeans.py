"""k-means: greedy k-means++ seeding, Lloyd iterations and the bounded-memory assignment.

Works on any (n, d) feature matrix (local metres for points: see `local_xy_m`). Squared
distances are summed from coordinate differences up to 4 features and from the dot-product
expansion beyond; data are centred first so the expansion's cancellation stays negligible.
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

# Points per distance block: a (k, block) slab of float64 stays in the L2 cache for the
# k of interest (<= 64), and memory stays bounded whatever n is. Each block is one BLAS
# product and a few in-cache passes, instead of full-length passes through main memory.
_BLOCK = 8192
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


# Up to this many features the squared distances of a block are summed feature by feature
# as (x_j - c_j)^2 with broadcasting: fewer passes than the dot-product expansion at d = 2
# (no norms to add, no clamp at 0), exact up to rounding, and exact ties stay ties (equal
# centres give bitwise equal rows, which a BLAS kernel tiling rows differently does not
# promise). Beyond it one BLAS product per block is cheaper.
_DIRECT_MAX_DIMS = 4


def _sq_distances(
    C: np.ndarray, XT_block: np.ndarray, x_sq_block: np.ndarray, out: np.ndarray
) -> None:
    """out (k, m) = squared distances of the block's m points (XT_block (d, m)) to the k
    centres C (k, d), all >= 0 (`_nearest_keys` relies on it)."""
    d = C.shape[1]
    if d > _DIRECT_MAX_DIMS:
        np.matmul(-2.0 * C, XT_block, out=out)
        out += _row_sq_norms(C)[:, None]
        out += x_sq_block
        np.maximum(out, 0.0, out=out)
        return
    np.subtract(XT_block[0], C[:, :1], out=out)
    np.square(out, out=out)
    if d > 1:
        term = np.empty_like(out)
        for j in range(1, d):
            np.subtract(XT_block[j], C[:, j : j + 1], out=term)
            np.square(term, out=term)
            out += term


def _blocks(n: int) -> range:
    return range(0, n, _BLOCK)


def _index_mask(k: int) -> int:
    """The low mantissa bits that hold a row index below k in `_nearest_keys`."""
    return (1 << max(1, (k - 1).bit_length())) - 1


def _nearest_keys(D: np.ndarray, out: np.ndarray) -> None:
    """Per column of D (k, m) >= 0: its minimum with the row index in the low bits, into
    `out` (m,) int64. D is overwritten.

    Non-negative doubles order as their int64 bit patterns do, so replacing the low
    `_index_mask(k)` mantissa bits by the row index turns argmin into one SIMD integer
    minimum down the rows: ~3x faster than argmin, or than a minimum plus one equality
    pass per row. Ties (and distances within 2**bits ulps, ~1e-15 relative for k = 8,
    far below the rounding of the distances themselves) go to the lowest index, as
    argmin's do.
    """
    k = len(D)
    low = _index_mask(k)
    keys = D.view(np.int64)
    np.bitwise_and(keys, ~low, out=keys)
    np.bitwise_or(keys, np.arange(k, dtype=np.int64)[:, None], out=keys)
    np.minimum.reduce(keys, axis=0, out=out)


def _assign(XT: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each column of XT = X.T and the squared distance to it.

    Per block of points: the (k, block) squared distances (`_sq_distances`), then their
    packed minimum down the k rows (`_nearest_keys`), all in cache. The distance comes
    back with its low index bits cleared (relative error < 2**(bits - 52)).
    """
    d, n = XT.shape
    k = len(C)
    if k > _TREE_MIN_CENTRES and d <= _TREE_MAX_DIMS:
        dist, labels = cKDTree(C).query(XT.T, k=1)
        return labels.astype(np.intp), dist * dist
    keys = np.empty(n, dtype=np.int64)
    slab = np.empty((k, min(_BLOCK, n)))
    for start in _blocks(n):
        stop = min(start + _BLOCK, n)
        D = slab[:, : stop - start]
        _sq_distances(C, XT[:, start:stop], x_sq[start:stop], D)
        _nearest_keys(D, keys[start:stop])
    low = _index_mask(k)
    labels = (keys & low).astype(np.intp)
    np.bitwise_and(keys, ~low, out=keys)
    return labels, keys.view(np.float64)


def _trial_costs(
    XT: np.ndarray, x_sq: np.ndarray, C: np.ndarray, closest: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """min(closest, squared distance to each centre of C) into `out` (m, n); row sums.

    k-means++'s question for each candidate centre: the potential (summed squared
    distance to the nearest seed) if it were added. Blocked like `_assign`.
    """
    n = XT.shape[1]
    for start in _blocks(n):
        stop = min(start + _BLOCK, n)
        D = out[:, start:stop]
        _sq_distances(C, XT[:, start:stop], x_sq[start:stop], D)
        np.minimum(D, closest[start:stop], out=D)
    return out.sum(axis=1)


# Points per prefix-sum block of the k-means++ draw: block totals (one SIMD pass) locate
# each draw's block, and only that block is cumulated, instead of a sequential cumsum of
# all n weights per seed (a third of the seeding's time at n = 1e5).
_DRAW_BLOCK = 4096


def _weighted_draws(weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target in [0, weights.sum()): the first index whose running sum of
    `weights` reaches it, i.e. `searchsorted(cumsum(weights), targets)` (up to rounding),
    clipped to the last index."""
    n = len(weights)
    starts = np.arange(0, n, _DRAW_BLOCK)
    running = np.cumsum(np.add.reduceat(weights, starts))
    blocks = np.minimum(np.searchsorted(running, targets), len(starts) - 1)
    picks = np.empty(len(targets), dtype=np.intp)
    for i, (block, target) in enumerate(zip(blocks, targets, strict=True)):
        start = starts[block]
        within = np.cumsum(weights[start : start + _DRAW_BLOCK])
        before = running[block - 1] if block else 0.0
        offset = min(int(np.searchsorted(within, target - before)), len(within) - 1)
        picks[i] = start + offset
    return picks


def _plusplus_indices(
    XT: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Row indices of greedy k-means++ seeds (2 + log k candidates per step, best kept).

    Greedy trials make the seeding markedly less sensitive to one unlucky draw than
    plain k-means++ for the price of a few extra distance rows per step.
    """
    n = XT.shape[1]
    n_trials = 2 + int(math.log(k))
    chosen = np.empty(k, dtype=np.intp)
    chosen[0] = rng.integers(n)
    closest = np.empty(n)
    potential = _trial_costs(XT, x_sq, XT[:, chosen[:1]].T, np.full(n, np.inf), closest[None, :])[0]
    trial = np.empty((n_trials, n))
    for c in range(1, k):
        if potential > 0.0:
            candidates = _weighted_draws(closest, rng.uniform(size=n_trials) * potential)
        else:  # every point coincides with a seed: any choice is as good
            candidates = rng.integers(n, size=n_trials)
        costs = _trial_costs(XT, x_sq, XT[:, candidates].T, closest, trial)
        best = int(np.argmin(costs))
        chosen[c] = candidates[best]
        closest[:] = trial[best]
        potential = float(costs[best])
    return chosen


def _update_centres(
    XT: np.ndarray, labels: np.ndarray, sq_err: np.ndarray, C: np.ndarray
) -> np.ndarray:
    """Cluster means; an empty cluster is re-seeded at the point farthest from its centre.

    Taking the worst-fitted points (ties by index) keeps the re-seed deterministic and
    spends the spare centre where the error is largest.
    """
    k, d = C.shape
    counts = _cluster_sizes(labels, k)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        farthest = np.argsort(-sq_err, kind="stable")[: empty.size]
        labels = labels.copy()
        labels[farthest] = empty[: farthest.size]
        counts = _cluster_sizes(labels, k)
    # Per-feature sums accumulated point by point in index order, as bincount(weights=)
    # does, so bit for bit the same; unbuffered add.at is ~20% faster at these sizes,
    # and Lloyd runs this every iteration.
    sums = np.zeros((d, k))
    for j in range(d):
        np.add.at(sums[j], labels, XT[j])
    filled = counts > 0
    return np.where(filled[:, None], sums.T / np.maximum(counts, 1)[:, None], C)


# Up to this many clusters, one equality count per cluster beats bincount's scatter.
_COUNT_BY_EQUALITY_MAX_K = 8


def _cluster_sizes(labels: np.ndarray, k: int) -> np.ndarray:
    """Points per cluster (int64, length k) of labels in [0, k)."""
    if k > _COUNT_BY_EQUALITY_MAX_K:
        return np.bincount(labels, minlength=k)
    return np.array([np.count_nonzero(labels == c) for c in range(k)], dtype=np.int64)


def _lloyd(
    XT: np.ndarray, x_sq: np.ndarray, C: np.ndarray, max_iter: int, tol_abs: float
) -> KMeansResult:
    """Lloyd iterations on centred data (XT = X.T); stops when labels repeat or centres
    barely move."""
    labels, sq_err = _assign(XT, x_sq, C)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new_C = _update_centres(XT, labels, sq_err, C)
        shift = float(((new_C - C) ** 2).sum())
        C = new_C
        new_labels, sq_err = _assign(XT, x_sq, C)
        unchanged = np.array_equal(new_labels, labels)
        labels = new_labels
        if unchanged or shift <= tol_abs:
            break
    return KMeansResult(labels=labels, centers=C, inertia=float(sq_err.sum()), n_iter=n_iter)


def _centred(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((X - mean).T, mean, row norms): centring keeps the dot-product distances precise;
    the (d, n) layout gives the blocked distance products contiguous feature rows."""
    mean = X.mean(axis=0)
    XT = np.ascontiguousarray((X - mean).T)
    return XT, mean, np.einsum("ij,ij->j", XT, XT)


def _absolute_tol(XT: np.ndarray, tol: float) -> float:
    """Convergence threshold on the summed squared centre shift, scaled to the data."""
    return tol * float(XT.var(axis=1).mean())


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
    XT = np.ascontiguousarray((X - shift).T)
    labels, _ = _assign(XT, np.einsum("ij,ij->j", XT, XT), C - shift)
    return labels


def kmeans_plusplus(X: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    """(k, d) k-means++ initial centres (rows of X), drawn from `rng`."""
    X = as_float_matrix(X)
    k = check_int(k, "k", 1, len(X))
    XT, _, x_sq = _centred(X)
    return X[_plusplus_indices(XT, x_sq, k, rng)]


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
    XT, mean, x_sq = _centred(X)
    run = _lloyd(XT, x_sq, centers - mean, max_iter, _absolute_tol(XT, tol))
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
    XT, mean, x_sq = _centred(X)
    tol_abs = _absolute_tol(XT, tol)
    rng = np.random.default_rng(seed)
    runs = (
        _lloyd(XT, x_sq, XT[:, _plusplus_indices(XT, x_sq, k, rng)].T, max_iter, tol_abs)
        for _ in range(n_init)
    )
    best = min(runs, key=lambda run: run.inertia)  # first of equals: deterministic
    return KMeansResult(best.labels, best.centers + mean, best.inertia, best.n_iter)
