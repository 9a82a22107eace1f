"""Agglomerative clustering: exact scipy linkage, or micro-clusters then weighted Ward."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geoinfer_workflows.modules.space._dbscan import _first_appearance
from geoinfer_workflows.modules.space._kmeans import _absolute_tol, _centred, _lloyd
from geoinfer_workflows.validation import as_float_matrix, check_int, check_options

# Lloyd passes that polish the random-sample micro-clusters of the bounded hierarchical
# path: the first passes remove most of the within-cluster error, later ones little.
_MICRO_LLOYD_ITER = 5

_LINKAGE_METHODS = ("ward", "average", "complete", "single")


def _micro_clusters(
    X: np.ndarray, m: int, seed: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point -> micro-cluster, centres, member counts) for m micro-clusters of X.

    Seeds are a random sample of points, so micro-clusters are denser where the data is
    (similar member counts); a few KD-tree Lloyd passes make them compact. O(n + m)
    memory, O(n log m) time per pass.
    """
    XT, mean, x_sq = _centred(X)
    rng = np.random.default_rng(seed)
    seeds = XT[:, np.sort(rng.choice(len(X), size=m, replace=False))].T
    run = _lloyd(XT, x_sq, seeds, _MICRO_LLOYD_ITER, _absolute_tol(XT, 1e-4))
    counts = np.bincount(run.labels, minlength=m)
    used = np.flatnonzero(counts > 0)  # coincident seeds can leave a centre empty
    remap = np.full(m, -1, dtype=np.intp)
    remap[used] = np.arange(used.size)
    return remap[run.labels], run.centers[used] + mean, counts[used]


def _ward_merge_costs(CT: np.ndarray, w: np.ndarray, a: int) -> np.ndarray:
    """Increase of within-cluster squared error if cluster a merged with each other one.

    Ward's cost n_a n_b / (n_a + n_b) ||c_a - c_b||^2 depends only on sizes and centroids,
    so weighted centroids give Ward exactly. Centroids are stored transposed, (d, m), so
    every pass runs over contiguous rows; dead clusters sit at infinity.
    """
    diff = CT - CT[:, a, None]
    diff *= diff
    cost = diff.sum(axis=0)
    cost *= w * (w[a] / (w + w[a]))
    cost[a] = np.inf
    return cost


def _ward_flat(C: np.ndarray, weights: np.ndarray, n_clusters: int) -> np.ndarray:
    """Flat labels of weighted Ward clustering of centroids C with member counts `weights`.

    Nearest-neighbour chain (valid because Ward is reducible): O(m) memory and O(m^2 d)
    time, each step one vectorised pass over the m centroids. The m - n_clusters lowest
    merges of the full dendrogram then give the cut (those merges are closed under
    "child merge first", so their connected components are exactly the flat clusters).
    """
    m = len(C)
    CT = np.array(C, dtype=np.float64).T.copy()
    w = np.asarray(weights, dtype=np.float64).copy()
    merged_a = np.empty(m - 1, dtype=np.intp)
    merged_b = np.empty(m - 1, dtype=np.intp)
    heights = np.empty(m - 1)
    chain: list[int] = []
    n_merged = 0
    next_start = 0
    while n_merged < m - 1:
        if not chain:
            while not np.isfinite(CT[0, next_start]):
                next_start += 1
            chain.append(next_start)
        a = chain[-1]
        cost = _ward_merge_costs(CT, w, a)
        b = int(cost.argmin())
        if len(chain) > 1 and cost[chain[-2]] <= cost[b]:
            b = chain[-2]  # prefer the previous link on ties: the chain cannot cycle
        if len(chain) > 1 and b == chain[-2]:
            del chain[-2:]
            merged_a[n_merged], merged_b[n_merged], heights[n_merged] = a, b, cost[b]
            n_merged += 1
            CT[:, a] = (w[a] * CT[:, a] + w[b] * CT[:, b]) / (w[a] + w[b])
            w[a] += w[b]
            CT[:, b] = np.inf
        else:
            chain.append(b)
    keep = np.argsort(heights, kind="stable")[: m - n_clusters]
    graph = coo_matrix(
        (np.ones(keep.size, dtype=np.int8), (merged_a[keep], merged_b[keep])), shape=(m, m)
    )
    return connected_components(graph, directed=False)[1]


def _linkage_flat(X: np.ndarray, n_clusters: int, method: str) -> np.ndarray:
    """scipy linkage + maxclust cut, labels from 0."""
    return fcluster(linkage(X, method=method), n_clusters, criterion="maxclust") - 1


def hierarchical(
    X: Any,
    n_clusters: int,
    *,
    method: str = "ward",
    max_exact: int = 4000,
    seed: int | None = 0,
) -> np.ndarray:
    """Agglomerative clustering labels (int64, 0..k-1 by first appearance).

    Up to `max_exact` points: scipy's exact linkage (O(n^2) memory). Beyond that, never
    an n x n matrix: the points are first reduced to `max_exact` k-means micro-clusters
    (random-sample seeds drawn with `seed`, then Lloyd), the micro-clusters are
    agglomerated and each point takes its micro-cluster's label; memory O(n + m^2) at
    most. Ward on micro-clusters is exact Ward started from that partition (weighted by
    member counts). single/complete run on the micro-cluster centres, where sizes do not
    enter; average also runs on the centres with every micro-cluster weighted equally,
    an approximation of count-weighted average linkage.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Finite features; for lat/lon points, metres from `local_xy_m`.
    n_clusters : int
        Clusters wanted, 1 <= n_clusters <= n.
    method : {"ward", "average", "complete", "single"}
        Linkage.
    max_exact : int
        Largest n clustered exactly; also the number of micro-clusters beyond it
        (>= max(2, n_clusters)).
    seed : int or None
        Seed of the micro-cluster sample (bounded path only).

    Returns
    -------
    numpy.ndarray
        int64 labels 0..n_clusters-1, numbered by first appearance.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import space
    >>> X = np.array([[0, 0], [0, 1], [10, 10], [10, 11], [0.5, 0.5]])
    >>> space.hierarchical(X, 2).tolist()
    [0, 0, 1, 1, 0]
    >>> space.hierarchical(X, 2, method="single", max_exact=2, seed=0).tolist()
    [0, 0, 1, 1, 0]
    """
    X = as_float_matrix(X)
    check_options(method, "linkage method", _LINKAGE_METHODS)
    n = len(X)
    n_clusters = check_int(n_clusters, "n_clusters", 1, n)
    max_exact = check_int(max_exact, "max_exact", max(2, n_clusters))
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if n <= max_exact:
        return _first_appearance(_linkage_flat(X, n_clusters, method))
    micro, centres, counts = _micro_clusters(X, max_exact, seed)
    k = min(n_clusters, len(centres))
    if method == "ward":
        groups = _ward_flat(centres, counts, k)
    else:
        groups = _linkage_flat(centres, k, method)
    return _first_appearance(groups[micro])
