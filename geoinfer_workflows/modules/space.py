"""SPACE: distances, cells, clustering and interpolation for points on the sphere.

Coordinates are degrees (lat, lon). Anything that needs a metric works on the sphere
directly (haversine, or chord distances between unit vectors in a KD-tree, which order
points exactly as great-circle distance does) unless a docstring says it projects.
Hot paths are vectorised numpy/scipy; the only per-point Python calls left are into the
`h3` library, which has no array entry point (see `h3_cells`).
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import h3
import numpy as np
from h3.api import basic_int as _h3
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geoinfer_workflows.errors import ParameterError

__all__ = [
    "EARTH_RADIUS_M",
    "ClusterResult",
    "KMeansResult",
    "cluster",
    "dbscan",
    "grid_points",
    "h3_cell_centers",
    "h3_cell_spacing_m",
    "h3_cells",
    "haversine_m",
    "hierarchical",
    "idw",
    "kmeans",
    "kmeans_plusplus",
    "lloyd",
    "local_xy_m",
    "nearest_center",
    "unit_xyz",
]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius R1 = (2a + b) / 3, metres

_H3_MAX_RESOLUTION = 15
# De-duplicating coordinates costs a sort (~0.1 us/point) and saves an h3 call
# (~0.45 us/point) per duplicate, so it pays only when duplicates are common, e.g. fixed
# stations reporting many times. A strided sample decides without sorting everything.
_DEDUPE_MIN_SIZE = 8192
_DEDUPE_SAMPLE = 4096
_DEDUPE_MAX_DISTINCT_FRACTION = 0.5

# Distance blocks of at most this many entries (4 MiB of float64) keep the n x k
# assignment matrix cache-sized and the memory bounded whatever n is.
_CHUNK_ENTRIES = 1 << 19
# Above this many centres (in few dimensions) a KD-tree over the centres assigns points
# faster than the dense n x k distance matrix (measured crossover ~64-256 for d = 2).
_TREE_MIN_CENTRES = 64
_TREE_MAX_DIMS = 8
# Lloyd passes that polish the random-sample micro-clusters of the bounded hierarchical
# path: the first passes remove most of the within-cluster error, later ones little.
_MICRO_LLOYD_ITER = 5

_LINKAGE_METHODS = ("ward", "average", "complete", "single")


# --------------------------------------------------------------------------- validation


def _int_param(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    """An integer parameter (numpy ints welcome, bools not) inside [minimum, maximum]."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ParameterError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ParameterError(f"{name} must be >= {minimum}{upper}, got {number}")
    return number


def _positive_float(value: Any, name: str) -> float:
    """A finite, strictly positive real parameter."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0.0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _tolerance(value: Any) -> float:
    """A finite, non-negative convergence tolerance."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number >= 0.0):
        raise ParameterError(f"tol must be a finite number >= 0, got {value!r}")
    return number


def _float_array(values: Any, name: str) -> np.ndarray:
    """`values` as float64, or a ParameterError naming the argument when it is not numeric."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be numeric array-like") from None


def _coords(lat: Any, lon: Any, what: str = "lat/lon") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 coordinate arrays of equal shape: finite, |lat| <= 90."""
    lat = _float_array(lat, f"{what} latitudes")
    lon = _float_array(lon, f"{what} longitudes")
    if lat.shape != lon.shape:
        raise ParameterError(
            f"{what}: latitude and longitude arrays differ in shape {lat.shape} vs {lon.shape}"
        )
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ParameterError(f"{what}: coordinates must be finite (drop or impute NaN/inf rows)")
    if lat.size and np.abs(lat).max() > 90.0:
        raise ParameterError(f"{what}: latitudes must lie in [-90, 90] degrees")
    return lat, lon


def _matrix(X: Any, name: str = "X") -> np.ndarray:
    """A finite (n, d) float64 feature matrix with at least one row and column."""
    X = _float_array(X, name)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(f"{name} must be a non-empty (n, d) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ParameterError(f"{name} must be finite (drop or impute NaN/inf rows)")
    return X


# ----------------------------------------------------------------------------- geometry


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (broadcasting).

    The haversine form stays accurate for tiny separations, where the spherical law of
    cosines loses everything to rounding; clipping `a` keeps antipodes at exactly pi R.
    """
    phi1 = np.radians(lat1)
    phi2 = np.radians(lat2)
    half_dphi = 0.5 * (phi2 - phi1)
    half_dlam = 0.5 * np.radians(np.subtract(lon2, lon1))
    a = np.sin(half_dphi) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(half_dlam) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


def unit_xyz(lat: Any, lon: Any) -> np.ndarray:
    """(n, 3) unit vectors of the points, flattened.

    Euclidean (chord) distance between unit vectors is 2 sin(d / 2R) for great-circle
    distance d: monotone in d, so a KD-tree on these vectors answers great-circle radius
    and nearest-neighbour queries exactly, with no pole or antimeridian special cases.
    """
    lat = _float_array(lat, "latitudes").ravel()
    lon = _float_array(lon, "longitudes").ravel()
    if lat.shape != lon.shape:
        raise ParameterError(f"lat and lon differ in size: {lat.size} vs {lon.size}")
    phi = np.radians(lat)
    lam = np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def _chord_for_metres(distance_m: float) -> float:
    """Chord length on the unit sphere of a great-circle distance (capped at antipodes)."""
    return 2.0 * math.sin(min(distance_m / (2.0 * EARTH_RADIUS_M), math.pi / 2.0))


def _metres_for_chord(chord: np.ndarray) -> np.ndarray:
    """Great-circle metres of unit-sphere chord lengths (inverse of `_chord_for_metres`)."""
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(0.5 * chord, 1.0))


def local_xy_m(
    lat: Any, lon: Any, lat0: float | None = None, lon0: float | None = None
) -> np.ndarray:
    """(n, 2) east/north metres in an equirectangular projection about (lat0, lon0).

    Euclidean algorithms (kmeans, Ward, spatial weights) need planar coordinates; this
    projection is the cheapest that keeps metres. Defaults centre it on the data: mean
    latitude and circular-mean longitude, so data straddling the antimeridian stays
    contiguous. North-south distances are exact; the east-west scale is exact on lat0
    and off by cos(lat)/cos(lat0) ~ 1 - tan(lat0) (lat - lat0) elsewhere. At mid-latitudes
    that is ~0.2% for data within 10 km (north-south) of the centre, a city, and ~1%
    within 50 km; for larger regions, near the poles or for continental extents use
    `haversine_m`/`unit_xyz`.
    """
    lat, lon = _coords(lat, lon)
    lat = lat.ravel()
    lon = lon.ravel()
    if lat.size == 0:
        return np.empty((0, 2))
    if lat0 is None:
        lat0 = float(lat.mean())
    if lon0 is None:
        lam = np.radians(lon)
        lon0 = math.degrees(math.atan2(np.sin(lam).mean(), np.cos(lam).mean()))
    dlon = (lon - lon0 + 180.0) % 360.0 - 180.0
    east = EARTH_RADIUS_M * math.cos(math.radians(lat0)) * np.radians(dlon)
    north = EARTH_RADIUS_M * np.radians(lat - lat0)
    return np.column_stack((east, north))


# ---------------------------------------------------------------------------------- H3


def _duplicates_common(keys: np.ndarray) -> bool:
    """Whether a strided sample of `keys` is at most half distinct (cheap, no full sort)."""
    step = max(1, keys.size // _DEDUPE_SAMPLE)
    sample = keys[::step]
    return np.unique(sample).size <= _DEDUPE_MAX_DISTINCT_FRACTION * sample.size


def _per_distinct(keys: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`compute(keys)`, evaluated once per distinct key when duplicates make that cheaper."""
    if keys.size >= _DEDUPE_MIN_SIZE and _duplicates_common(keys):
        distinct, inverse = np.unique(keys, return_inverse=True)
        return compute(distinct)[inverse]
    return compute(keys)


def _latlng_to_cells(packed: np.ndarray, resolution: int) -> np.ndarray:
    """H3 ids of points packed as complex lat + i*lon, one C call per point.

    h3 >= 4 exposes only scalar functions (its numpy APIs wrap the same scalar call), so
    the cheapest loop is `map` over Python floats feeding `np.fromiter` directly.
    """
    to_cell = _h3.latlng_to_cell
    cells = map(to_cell, packed.real.tolist(), packed.imag.tolist(), repeat(resolution))
    return np.fromiter(cells, dtype=np.uint64, count=packed.size)


def h3_cells(lat: Any, lon: Any, resolution: int) -> np.ndarray:
    """H3 cell id (uint64, same shape as `lat`) of each point at `resolution` (0..15).

    Hexagonal cells have one distance to every neighbour and near-equal areas, which is
    what per-cell rates and hotspot statistics want from a binning. Cost is one h3 C call
    (~0.5 us) per point, or per distinct point when coordinates repeat a lot.
    """
    resolution = _int_param(resolution, "resolution", 0, _H3_MAX_RESOLUTION)
    lat, lon = _coords(lat, lon)
    packed = np.empty(lat.size, dtype=np.complex128)  # exact: one sortable key per point
    packed.real = lat.ravel()
    packed.imag = lon.ravel()
    cells = _per_distinct(packed, lambda keys: _latlng_to_cells(keys, resolution))
    return cells.reshape(lat.shape)


def _cells_to_latlng(cells: np.ndarray) -> np.ndarray:
    """(m, 2) centre lat/lon of H3 ids, one C call per id."""
    try:
        centres = map(_h3.cell_to_latlng, cells.tolist())
        return np.fromiter(centres, dtype=np.dtype((np.float64, 2)), count=cells.size)
    except h3.H3BaseException as exc:
        raise ParameterError(f"not a valid H3 cell id among the input: {exc}") from None


def h3_cell_spacing_m(resolution: int) -> float:
    """Mean centre-to-centre distance of neighbouring H3 cells (sqrt(3) x the mean edge).

    A distance band of ~1.5x this joins each cell to its first ring and nothing further:
    contiguity weights on an H3 grid without a per-cell grid_disk call.
    """
    if not 0 <= int(resolution) <= _H3_MAX_RESOLUTION:
        raise ParameterError(f"H3 resolution must be in [0, 15], got {resolution!r}")
    return float(np.sqrt(3.0) * h3.average_hexagon_edge_length(int(resolution), unit="m"))


def h3_cell_centers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) degrees of the centre of each H3 cell, arrays shaped like `cells`."""
    cells = np.asarray(cells)
    if cells.dtype.kind not in "iu":
        raise ParameterError(f"H3 cell ids must be an integer array, got dtype {cells.dtype}")
    flat = cells.ravel().astype(np.uint64)
    centres = _per_distinct(flat, _cells_to_latlng)
    return centres[:, 0].reshape(cells.shape), centres[:, 1].reshape(cells.shape)


# ------------------------------------------------------------------------------ k-means


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
    X = _float_array(X, "X")
    C = _float_array(centers, "centers")
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
    X = _matrix(X)
    k = _int_param(k, "k", 1, len(X))
    Xc, _, x_sq = _centred(X)
    return X[_plusplus_indices(Xc, x_sq, k, rng)]


def lloyd(X: Any, centers: Any, *, max_iter: int = 100, tol: float = 1e-4) -> KMeansResult:
    """Lloyd's k-means iterations from the given centres.

    `tol` is relative to the mean per-feature variance of X (as in scikit-learn), so the
    stopping rule does not depend on the units of the features.
    """
    X = _matrix(X)
    centers = _matrix(centers, "centers")
    if centers.shape[1] != X.shape[1]:
        raise ParameterError(
            f"centers have {centers.shape[1]} features but X has {X.shape[1]}; pass (k, d)"
        )
    max_iter = _int_param(max_iter, "max_iter", 1)
    tol = _tolerance(tol)
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
    """
    X = _matrix(X)
    k = _int_param(k, "k", 1, len(X))
    n_init = _int_param(n_init, "n_init", 1)
    max_iter = _int_param(max_iter, "max_iter", 1)
    tol = _tolerance(tol)
    Xc, mean, x_sq = _centred(X)
    tol_abs = _absolute_tol(Xc, tol)
    rng = np.random.default_rng(seed)
    runs = (
        _lloyd(Xc, x_sq, Xc[_plusplus_indices(Xc, x_sq, k, rng)], max_iter, tol_abs)
        for _ in range(n_init)
    )
    best = min(runs, key=lambda run: run.inertia)  # first of equals: deterministic
    return KMeansResult(best.labels, best.centers + mean, best.inertia, best.n_iter)


# ------------------------------------------------------------------------------- DBSCAN


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
    """
    eps_m = _positive_float(eps_m, "eps_m")
    min_samples = _int_param(min_samples, "min_samples", 1)
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


# ------------------------------------------------------------------------- hierarchical


def _micro_clusters(
    X: np.ndarray, m: int, seed: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point -> micro-cluster, centres, member counts) for m micro-clusters of X.

    Seeds are a random sample of points, so micro-clusters are denser where the data is
    (similar member counts); a few KD-tree Lloyd passes make them compact. O(n + m)
    memory, O(n log m) time per pass.
    """
    Xc, mean, x_sq = _centred(X)
    rng = np.random.default_rng(seed)
    seeds = Xc[np.sort(rng.choice(len(X), size=m, replace=False))]
    run = _lloyd(Xc, x_sq, seeds, _MICRO_LLOYD_ITER, _absolute_tol(Xc, 1e-4))
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
    """
    X = _matrix(X)
    if method not in _LINKAGE_METHODS:
        raise ParameterError(
            f"unknown linkage method {method!r}; valid: {', '.join(_LINKAGE_METHODS)}"
        )
    n = len(X)
    n_clusters = _int_param(n_clusters, "n_clusters", 1, n)
    max_exact = _int_param(max_exact, "max_exact", max(2, n_clusters))
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


# ----------------------------------------------------------------------- single entry


@dataclass(frozen=True)
class ClusterResult:
    """Labels of one clustering (-1 = noise) and the number of clusters, noise excluded."""

    labels: np.ndarray
    n_clusters: int
    algorithm: str
    inertia: float | None


def _run_kmeans(
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    k: int = 8,
    n_init: int = 3,
    max_iter: int = 100,
    tol: float = 1e-4,
    seed: int | None = 0,
) -> tuple[np.ndarray, float | None]:
    result = kmeans(local_xy_m(lat, lon), k, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed)
    return result.labels.astype(np.int64), result.inertia


def _run_dbscan(
    lat: np.ndarray, lon: np.ndarray, *, eps_m: float = 500.0, min_samples: int = 5
) -> tuple[np.ndarray, float | None]:
    return dbscan(lat, lon, eps_m=eps_m, min_samples=min_samples), None


def _run_hierarchical(
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    n_clusters: int = 8,
    method: str = "ward",
    max_exact: int = 4000,
    seed: int | None = 0,
) -> tuple[np.ndarray, float | None]:
    labels = hierarchical(
        local_xy_m(lat, lon), n_clusters, method=method, max_exact=max_exact, seed=seed
    )
    return labels, None


_ALGORITHMS: dict[str, Callable[..., tuple[np.ndarray, float | None]]] = {
    "kmeans": _run_kmeans,
    "dbscan": _run_dbscan,
    "hierarchical": _run_hierarchical,
}
_ALGORITHM_PARAMS = {
    name: tuple(inspect.signature(run).parameters)[2:] for name, run in _ALGORITHMS.items()
}


def cluster(points: Any, algorithm: str = "kmeans", **params: Any) -> ClusterResult:
    """Cluster (n, 2) [lat, lon] degree points with one of kmeans, dbscan, hierarchical.

    kmeans and hierarchical work in local metres (`local_xy_m`), so k-means inertia is in
    square metres; dbscan works on the sphere with `eps_m` metres.
    """
    if algorithm not in _ALGORITHMS:
        raise ParameterError(
            f"unknown clustering algorithm {algorithm!r}; valid: {', '.join(_ALGORITHMS)}"
        )
    unknown = sorted(set(params) - set(_ALGORITHM_PARAMS[algorithm]))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)} for {algorithm}; "
            f"valid: {', '.join(_ALGORITHM_PARAMS[algorithm])}"
        )
    pts = _float_array(points, "points")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ParameterError(f"points must be an (n, 2) array of [lat, lon], got {pts.shape}")
    lat, lon = _coords(pts[:, 0], pts[:, 1], "points")
    labels, inertia = _ALGORITHMS[algorithm](lat, lon, **params)
    n_clusters = int(np.unique(labels[labels >= 0]).size)
    return ClusterResult(labels=labels, n_clusters=n_clusters, algorithm=algorithm, inertia=inertia)


# ------------------------------------------------------------------------ interpolation


def grid_points(
    lat_min: float, lat_max: float, lon_min: float, lon_max: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of the cell centres of a regular `shape` = (rows, cols) grid.

    Row 0 is the southernmost row, column 0 the westernmost: centres (not edges) so each
    value stands for its whole cell.
    """
    try:
        rows, cols = shape
    except (TypeError, ValueError):
        raise ParameterError(f"shape must be (rows, cols), got {shape!r}") from None
    rows = _int_param(rows, "grid rows", 1)
    cols = _int_param(cols, "grid cols", 1)
    bounds = np.array([lat_min, lat_max, lon_min, lon_max], dtype=np.float64)
    if not np.isfinite(bounds).all() or lat_min >= lat_max or lon_min >= lon_max:
        raise ParameterError(
            "grid bounds must be finite with lat_min < lat_max and lon_min < lon_max, got "
            f"lat [{lat_min}, {lat_max}], lon [{lon_min}, {lon_max}]"
        )
    if lat_min < -90.0 or lat_max > 90.0:
        raise ParameterError(f"grid latitudes must lie in [-90, 90], got [{lat_min}, {lat_max}]")
    lat_step = (lat_max - lat_min) / rows
    lon_step = (lon_max - lon_min) / cols
    lats = lat_min + lat_step * (np.arange(rows) + 0.5)
    lons = lon_min + lon_step * (np.arange(cols) + 0.5)
    return np.meshgrid(lats, lons, indexing="ij")


def idw(
    lat: Any,
    lon: Any,
    values: Any,
    grid_lat: Any,
    grid_lon: Any,
    *,
    k: int = 8,
    power: float = 2.0,
) -> np.ndarray:
    """Inverse-distance-weighted value at each target from its k nearest samples.

    Great-circle distances (kNN by chord on unit vectors, exact on the sphere). A target
    on a sample takes that sample's value (the mean if several samples coincide there).
    Samples with NaN values are ignored. Weights are scaled by the nearest distance,
    (d_min / d)^power, so large powers cannot overflow. Result has the targets' shape.
    """
    lat, lon = _coords(lat, lon, "samples")
    values = _float_array(values, "values")
    if values.shape != lat.shape:
        raise ParameterError(f"values shape {values.shape} differs from samples {lat.shape}")
    grid_lat, grid_lon = _coords(grid_lat, grid_lon, "grid")
    k = _int_param(k, "k", 1)
    power = _positive_float(power, "power")
    usable = np.isfinite(values.ravel())
    if not usable.any():
        raise ParameterError("idw needs at least one sample with a finite value")
    sample_values = values.ravel()[usable]
    tree = cKDTree(unit_xyz(lat.ravel()[usable], lon.ravel()[usable]))
    chord, idx = tree.query(unit_xyz(grid_lat, grid_lon), k=min(k, sample_values.size))
    chord = chord.reshape(grid_lat.size, -1)  # k = 1 gives 1-D results
    idx = idx.reshape(grid_lat.size, -1)
    dist = _metres_for_chord(chord)
    on_sample = dist[:, :1] == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(on_sample, dist == 0.0, (dist[:, :1] / dist) ** power)
    estimate = (weights * sample_values[idx]).sum(axis=1) / weights.sum(axis=1)
    return estimate.reshape(grid_lat.shape)
