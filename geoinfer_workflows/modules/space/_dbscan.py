"""DBSCAN on the sphere: neighbour pairs from one KD-tree pass over unit vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geoinfer_workflows.modules.space._geometry import _chord_for_metres, _coords, unit_xyz
from geoinfer_workflows.validation import check_int, check_positive_float


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters 0..k-1 in order of their first point; -1 (noise) stays -1."""
    out = np.full(labels.shape, -1, dtype=np.int64)
    member = labels >= 0
    if member.any():
        _, first, inverse = np.unique(labels[member], return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(first.size)
        out[member] = rank[inverse]
    return out


def _nearest_core(
    xyz: np.ndarray, pairs: np.ndarray, core: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(border point, its nearest core neighbour) for every non-core point with one.

    Ties go to the lowest core index, so the border assignment is order-independent,
    unlike the expansion-order rule of textbook DBSCAN.
    """
    core_i = core[pairs[:, 0]]
    mixed = core_i != core[pairs[:, 1]]
    border = np.where(core_i[mixed], pairs[mixed, 1], pairs[mixed, 0])
    anchor = np.where(core_i[mixed], pairs[mixed, 0], pairs[mixed, 1])
    gap = np.linalg.norm(xyz[border] - xyz[anchor], axis=1)
    order = np.lexsort((anchor, gap, border))
    border = border[order]
    anchor = anchor[order]
    first = np.ones(border.size, dtype=bool)
    first[1:] = border[1:] != border[:-1]
    return border[first], anchor[first]


def dbscan(lat: Any, lon: Any, *, eps_m: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels (int64, -1 = noise) with great-circle radius `eps_m` metres.

    A point is core when at least `min_samples` points (itself included) lie within
    eps; clusters are connected components of the core-core eps graph; a border point
    joins the cluster of its nearest core neighbour. Neighbour pairs come from one
    KD-tree pass over unit vectors with the chord of eps, which is exact on the sphere
    (poles and the antimeridian included). Time and memory are O(n log n + P) for P
    pairs within eps (16 bytes each), as for any DBSCAN that materialises neighbourhoods:
    pick eps so points have tens to hundreds of neighbours, not thousands.

    Parameters
    ----------
    lat, lon : array_like
        Degrees, same shape, finite, latitudes in [-90, 90].
    eps_m : float
        Neighbourhood radius in metres (> 0), measured along the great circle.
    min_samples : int
        Points within `eps_m`, the point itself included, that make it a core point (>= 1).

    Returns
    -------
    numpy.ndarray
        int64 label of each (flattened) point: clusters 0..k-1 in order of their first
        point, -1 for noise.

    Examples
    --------
    Three points 111 m apart on the equator, two on the first parallel, one far away:

    >>> from geoinfer_workflows.modules import space
    >>> lat = [0.0, 0.0, 0.0, 1.0, 1.0, 5.0]
    >>> lon = [0.0, 0.001, 0.002, 0.0, 0.001, 5.0]
    >>> space.dbscan(lat, lon, eps_m=200.0, min_samples=2).tolist()
    [0, 0, 0, 1, 1, -1]
    """
    eps_m = check_positive_float(eps_m, "eps_m")
    min_samples = check_int(min_samples, "min_samples", 1)
    lat, lon = _coords(lat, lon)
    n = lat.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    xyz = unit_xyz(lat, lon)
    pairs = cKDTree(xyz).query_pairs(_chord_for_metres(eps_m), output_type="ndarray")
    counts = 1 + np.bincount(pairs.ravel(), minlength=n)
    core = counts >= min_samples
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels
    core_pairs = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    graph = coo_matrix(
        (np.ones(len(core_pairs), dtype=np.int8), (core_pairs[:, 0], core_pairs[:, 1])),
        shape=(n, n),
    ).tocsr()
    _, component = connected_components(graph, directed=False)
    labels[core] = component[core]
    border, anchor = _nearest_core(xyz, pairs, core)
    labels[border] = component[anchor]
    return _first_appearance(labels)
