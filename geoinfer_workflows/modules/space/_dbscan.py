"""DBSCAN on the sphere: neighbour pairs from KD-trees over unit vectors, block by block.

The eps graph is enumerated over spatially compact groups of points (ranges of the
KD-tree's leaf order): pairs inside each group, then between groups whose bounding boxes
come within eps. Each block of pairs is kept as int32 (8 bytes a pair, half of one
(n, 2) int64 array and none of the sparse-matrix copies), so the dense case (~1,000
neighbours a point) fits where one `query_pairs` call and a CSR graph would not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geoinfer_workflows.modules.space._geometry import _chord_for_metres, _coords, unit_xyz
from geoinfer_workflows.validation import check_int, check_positive_float

# Points per group: the pairs of one block stay in the tens of MB at ~1,000 neighbours a
# point, and the group-vs-group box checks stay few (G^2 / 2 for G = n / this).
_GROUP = 8192


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


def _pair_blocks(xyz: np.ndarray, radius: float) -> Iterator[np.ndarray]:
    """Every pair of rows of `xyz` within `radius`, once, as (m, 2) int32/int64 blocks."""
    n = len(xyz)
    dtype = np.int32 if n <= np.iinfo(np.int32).max else np.int64
    if n < 2 * _GROUP:  # one group: one tree over the points as they are, no box checks
        # Sliding-midpoint splits build faster and find the same pairs (in another order,
        # which nothing downstream depends on).
        tree = cKDTree(xyz, balanced_tree=False)
        yield tree.query_pairs(radius, output_type="ndarray").astype(dtype)
        return
    groups = np.array_split(cKDTree(xyz).indices.astype(dtype), n // _GROUP)
    trees = [cKDTree(xyz[group]) for group in groups]
    lo = np.array([xyz[group].min(axis=0) for group in groups])
    hi = np.array([xyz[group].max(axis=0) for group in groups])
    for a, (group, tree) in enumerate(zip(groups, trees, strict=True)):
        yield group[tree.query_pairs(radius, output_type="ndarray")]
        # Box-to-box gap to every later group: only those within reach are searched.
        gap = np.maximum(0.0, np.maximum(lo[a + 1 :] - hi[a], lo[a] - hi[a + 1 :]))
        for b in a + 1 + np.flatnonzero(np.einsum("ij,ij->i", gap, gap) <= radius * radius):
            found = tree.sparse_distance_matrix(trees[b], radius, output_type="ndarray")
            block = np.empty((found.size, 2), dtype=dtype)
            block[:, 0] = group[found["i"]]
            block[:, 1] = groups[b][found["j"]]
            yield block


def _cell_representatives(xyz: np.ndarray, core: np.ndarray, radius: float) -> np.ndarray:
    """Each point's id, except core points: the first core point of their grid cell.

    Cubes of side radius / sqrt(3) have diagonal `radius`, so the core points sharing one
    are pairwise neighbours and in one cluster before any pair is looked at: thousands of
    cells stand for ~1e5 core points when neighbourhoods are dense.
    """
    component = np.arange(len(xyz))
    members = np.flatnonzero(core)
    side = radius / math.sqrt(3.0) * (1.0 - 1e-9)  # rounding must never stretch a cell
    cells = np.floor(xyz[members] / side).astype(np.int64)
    cells -= cells.min(axis=0)
    span = cells.max(axis=0) + 1
    if math.prod(span.tolist()) < 2**62:  # one int64 key per cell: a plain 1-D sort
        keys = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    else:  # a continent at metre eps: rows as keys
        _, first, inverse = np.unique(cells, axis=0, return_index=True, return_inverse=True)
    component[members] = members[first][inverse.ravel()]
    return component


# Above this many pairs a point, core points are pre-merged by grid cell: with sparse
# neighbourhoods the cells hold a point or two and the sort would not pay.
_DENSE_PAIRS_PER_POINT = 16
# Blocks whose edges touch at most this many components are de-duplicated in a boolean
# K x K matrix (a scan of K^2, no sort); larger ones go to a sparse matrix as they are.
_DENSE_COMPONENTS = 512


def _merge(component: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`component` with the components joined by the edges `ends` (m, 2) merged.

    `ends` are component ids, i.e. representative points (each its own component).
    """
    touched = np.zeros(len(component), dtype=bool)
    touched[ends.ravel()] = True
    ids = np.flatnonzero(touched)  # the components these edges join (a scan, no sort)
    lookup = np.zeros(len(component), dtype=np.intp)
    lookup[ids] = np.arange(ids.size)
    a, b = lookup[ends[:, 0]], lookup[ends[:, 1]]
    if ids.size <= _DENSE_COMPONENTS:
        adjacency = np.zeros((ids.size, ids.size), dtype=bool)
        adjacency[a, b] = True
        graph = csr_matrix(adjacency)
    else:
        graph = csr_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(ids.size,) * 2)
    _, joined = connected_components(graph, directed=False)
    _, first = np.unique(joined, return_index=True)
    relabel = np.arange(len(component))
    relabel[ids] = ids[first][joined]
    return relabel[component]


def _graph_components(pairs: np.ndarray, core: np.ndarray, n: int) -> np.ndarray:
    """Connected-component id of each point in the core-core graph of `pairs` (m, 2).

    The ids are the graph's own, not representative points: labels only need to tell
    components apart (`_first_appearance` numbers them).
    """
    core_pairs = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    # CSR by a counting sort of the rows: the graph needs no sorted columns, so none of
    # COO's conversion and duplicate summing.
    order = np.argsort(core_pairs[:, 0], kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(core_pairs[:, 0], minlength=n), out=indptr[1:])
    ones = np.ones(len(core_pairs), dtype=np.int8)
    graph = csr_matrix((ones, core_pairs[order, 1], indptr), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _core_components(
    xyz: np.ndarray, blocks: list[np.ndarray], core: np.ndarray, radius: float
) -> np.ndarray:
    """Component of each core point in the core-core graph (a representative point id,
    or the graph's component id when one block holds every pair and they are sparse).

    Core points start merged by grid cell when pairs are dense
    (`_cell_representatives`); each block's
    core-core edges are then mapped to the components found so far, and only those
    joining two different components are merged. Memory is that of one block.
    """
    n = len(xyz)
    dense = sum(len(block) for block in blocks) > _DENSE_PAIRS_PER_POINT * n
    if len(blocks) == 1 and not dense:  # all pairs at hand and few: one graph, no merging
        return _graph_components(blocks[0], core, n)
    component = _cell_representatives(xyz, core, radius) if dense else np.arange(n)
    # One gather per block: component ids, -1 for non-core ends; an edge counts when its
    # ends differ and neither is negative (sign bit clear in their OR).
    of_core = np.where(core, component, -1).astype(blocks[0].dtype)
    for block in blocks:
        ends = of_core[block]
        first, second = ends[:, 0], ends[:, 1]
        ends = ends[(first != second) & ((first | second) >= 0)]
        if ends.size:
            component = _merge(component, ends)
            of_core = np.where(core, component, -1).astype(of_core.dtype)
    return component


def dbscan(lat: Any, lon: Any, *, eps_m: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels (int64, -1 = noise) with great-circle radius `eps_m` metres.

    A point is core when at least `min_samples` points (itself included) lie within
    eps; clusters are connected components of the core-core eps graph; a border point
    joins the cluster of its nearest core neighbour. Neighbour pairs come from KD-trees
    over unit vectors with the chord of eps, which is exact on the sphere
    (poles and the antimeridian included). Time and memory are O(n log n + P) for P
    pairs within eps (8 bytes each, enumerated in blocks), as for any DBSCAN that
    materialises neighbourhoods: at ~1,000 neighbours a point, 1e5 points need ~0.4 GB.

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
    radius = _chord_for_metres(eps_m)
    blocks = list(_pair_blocks(xyz, radius))
    counts = np.ones(n, dtype=np.int64)
    for block in blocks:
        counts += np.bincount(block.ravel(), minlength=n)
    core = counts >= min_samples
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels
    component = _core_components(xyz, blocks, core, radius)
    labels[core] = component[core]
    mixed = np.concatenate([block[core[block[:, 0]] != core[block[:, 1]]] for block in blocks])
    border, anchor = _nearest_core(xyz, mixed, core)
    labels[border] = component[anchor]
    return _first_appearance(labels)
