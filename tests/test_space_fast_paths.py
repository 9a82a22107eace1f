"""The fast paths of SPACE against plain references: blocked k-means, blocked dense DBSCAN,
exact H3 de-duplication. Each reference is the straightforward computation the fast path
replaced, so a fast path that drifts from it fails here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoinfer_workflows.modules import space
from geoinfer_workflows.modules.space import _cells, _dbscan, _kmeans
from tests.test_space import brute_dbscan

M_PER_DEG = 111_195.0


def reference_plusplus(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ (2 + log k trials) over full distance rows, as before blocking."""
    n = len(X)
    trials = 2 + int(math.log(k))
    chosen = [int(rng.integers(n))]
    closest = ((X - X[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        cumulative = np.cumsum(closest)
        draws = rng.uniform(size=trials) * cumulative[-1]
        candidates = np.minimum(np.searchsorted(cumulative, draws), n - 1)
        dist = ((X[None, :, :] - X[candidates][:, None, :]) ** 2).sum(axis=2)
        dist = np.minimum(dist, closest)
        best = int(np.argmin(dist.sum(axis=1)))
        chosen.append(int(candidates[best]))
        closest = dist[best]
    return np.array(chosen)


def test_blocked_kmeans_plusplus_draws_the_same_seeds_as_full_rows() -> None:
    """More points than one block, so the blocked trial costs span several blocks."""
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(c, 1.0, (7_000, 2)) for c in (0.0, 8.0, 20.0)])
    got = space.kmeans_plusplus(X, 8, np.random.default_rng(11))
    expected = X[reference_plusplus(X - X.mean(axis=0), 8, np.random.default_rng(11))]
    np.testing.assert_array_equal(got, expected)
    assert len(X) > 2 * _kmeans._BLOCK


@pytest.mark.parametrize(("k", "dims"), [(3, 3), (8, 3), (40, 3), (8, 6), (33, 6)])
def test_blocked_assignment_is_the_first_nearest_centre(k: int, dims: int) -> None:
    """Direct differences (dims <= 4) and the BLAS expansion (6); 33 centres need 6 index
    bits in the packed minimum, 8 need 3."""
    rng = np.random.default_rng(k)
    X = rng.normal(0.0, 100.0, (20_000, dims))
    C = X[rng.choice(len(X), k, replace=False)]
    C[1] = C[0]  # a duplicated centre: the tie goes to the lower index, as argmin's
    d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(space.nearest_center(X, C), d.argmin(axis=1))


@pytest.mark.parametrize("dims", [2, 6])
def test_assignment_distances_are_the_squared_distances(dims: int) -> None:
    """The packed minimum returns the distance itself (low index bits cleared): points on
    a centre get exactly 0, the rest agree with the plain computation to ~1e-14."""
    rng = np.random.default_rng(dims)
    X = rng.normal(0.0, 50.0, (10_000, dims))
    C = X[:5].copy()
    XT = np.ascontiguousarray(X.T)
    labels, sq = _kmeans._assign(XT, np.einsum("ij,ij->j", XT, XT), C)
    expected = ((X - C[labels]) ** 2).sum(axis=1)
    np.testing.assert_array_equal(labels[:5], np.arange(5))
    assert (sq >= 0.0).all()
    np.testing.assert_allclose(sq, expected, rtol=1e-9, atol=1e-9)
    if dims <= _kmeans._DIRECT_MAX_DIMS:
        np.testing.assert_array_equal(sq[:5], 0.0)


@pytest.mark.parametrize("k", [3, 8, 9, 40])
def test_centre_update_equals_the_bincount_means_bit_for_bit(k: int) -> None:
    """Sizes by equality counts (k <= 8) or bincount, sums by add.at: the same numbers as
    bincount's in-order sums, to the last bit; an empty cluster is re-seeded."""
    rng = np.random.default_rng(k)
    XT = np.ascontiguousarray(rng.normal(0.0, 10.0, (2, 5_000)))
    labels = rng.integers(0, k - 1, XT.shape[1])  # cluster k - 1 is empty
    sq_err = rng.random(XT.shape[1])
    C = rng.normal(0.0, 10.0, (k, 2))
    got = _kmeans._update_centres(XT, labels, sq_err, C)
    relabelled = labels.copy()
    relabelled[np.argmax(sq_err)] = k - 1  # the worst-fitted point seeds the empty cluster
    counts = np.bincount(relabelled, minlength=k)
    sums = np.column_stack([np.bincount(relabelled, weights=row, minlength=k) for row in XT])
    np.testing.assert_array_equal(got, sums / counts[:, None])
    np.testing.assert_array_equal(
        _kmeans._cluster_sizes(labels, k), np.bincount(labels, minlength=k)
    )


def test_blocked_weighted_draws_equal_a_full_cumulative_search() -> None:
    """k-means++'s draw without the full cumsum: the same index as searchsorted over the
    running sum, across draw blocks, through runs of zero weight and at both ends."""
    rng = np.random.default_rng(2)
    weights = rng.exponential(1.0, 3 * _kmeans._DRAW_BLOCK + 123)
    weights[_kmeans._DRAW_BLOCK - 50 : 2 * _kmeans._DRAW_BLOCK + 70] = 0.0  # seeds' own rows
    cumulative = np.cumsum(weights)
    targets = np.concatenate([[0.0], rng.uniform(size=500) * cumulative[-1]])
    expected = np.minimum(np.searchsorted(cumulative, targets), len(weights) - 1)
    got = _kmeans._weighted_draws(weights, targets)
    np.testing.assert_array_equal(got, expected)
    assert (weights[got[1:]] > 0.0).all()  # a zero-weight row is never drawn (but at 0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kmeans_plusplus_matches_the_full_row_reference_on_several_seeds(seed: int) -> None:
    """The blocked draws and distances pick the reference's seeds, draw for draw."""
    rng = np.random.default_rng(100 + seed)
    X = np.concatenate([rng.normal(c, 2.0, (9_000, 2)) for c in (0.0, 15.0, 40.0)])
    got = space.kmeans_plusplus(X, 8, np.random.default_rng(seed))
    expected = X[reference_plusplus(X - X.mean(axis=0), 8, np.random.default_rng(seed))]
    np.testing.assert_array_equal(got, expected)


def reference_dbscan(xyz: np.ndarray, radius: float, min_samples: int) -> np.ndarray:
    """The former DBSCAN: all pairs at once, one connected-components call on the CSR."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xyz)
    pairs = cKDTree(xyz).query_pairs(radius, output_type="ndarray")
    core = 1 + np.bincount(pairs.ravel(), minlength=n) >= min_samples
    kept = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    graph = coo_matrix((np.ones(len(kept)), (kept[:, 0], kept[:, 1])), shape=(n, n))
    _, component = connected_components(graph.tocsr(), directed=False)
    labels = np.full(n, -1)
    labels[core] = component[core]
    border, anchor = _dbscan._nearest_core(xyz, pairs, core)
    labels[border] = component[anchor]
    return _dbscan._first_appearance(labels)


@pytest.mark.parametrize("dense_components", [8, 100_000])  # both merge branches
def test_dense_dbscan_in_many_blocks_matches_the_former_algorithm(
    monkeypatch: pytest.MonkeyPatch, dense_components: int
) -> None:
    """The benchmark's dense setting scaled down: ~300 neighbours a point, blobs that
    touch, noise; small groups force hundreds of blocks and cross-group merges."""
    monkeypatch.setattr(_dbscan, "_GROUP", 128)
    monkeypatch.setattr(_dbscan, "_DENSE_COMPONENTS", dense_components)
    rng = np.random.default_rng(4)
    centres = np.array([[40.0, -3.7], [40.004, -3.7], [40.03, -3.66]])
    which = rng.integers(0, 3, 3_000)
    lat = centres[which, 0] + rng.normal(0, 150 / M_PER_DEG, which.size)
    lon = centres[which, 1] + rng.normal(0, 200 / M_PER_DEG, which.size)
    lat = np.r_[lat, rng.uniform(39.98, 40.05, 300)]
    lon = np.r_[lon, rng.uniform(-3.75, -3.62, 300)]
    xyz = space.unit_xyz(lat, lon)
    radius = _dbscan._chord_for_metres(150.0)
    got = space.dbscan(lat, lon, eps_m=150.0, min_samples=100)
    np.testing.assert_array_equal(got, reference_dbscan(xyz, radius, 100))
    np.testing.assert_array_equal(got, brute_dbscan(lat, lon, 150.0, 100))
    counts = 1 + np.bincount(
        np.concatenate([b.ravel() for b in _dbscan._pair_blocks(xyz, radius)]),
        minlength=lat.size,
    )
    assert np.median(counts) > 200  # dense, as the benchmark's
    assert got.max() >= 1 and (got == -1).sum() > 50  # clusters and noise: not trivial


def test_pair_blocks_list_every_pair_once() -> None:
    rng = np.random.default_rng(2)
    xyz = space.unit_xyz(rng.uniform(10, 10.02, 2_000), rng.uniform(20, 20.02, 2_000))
    radius = _dbscan._chord_for_metres(200.0)
    blocks = list(_dbscan._pair_blocks(xyz, radius))
    from scipy.spatial import cKDTree

    expected = cKDTree(xyz).query_pairs(radius, output_type="ndarray")
    got = np.sort(np.concatenate(blocks).astype(np.int64), axis=1)
    assert {tuple(p) for p in got.tolist()} == {tuple(p) for p in expected.tolist()}
    assert len(got) == len(expected) > 10_000


def _calls(keys: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """`_per_distinct` with a compute that records how many keys it was given."""
    sizes: list[int] = []

    def compute(distinct: np.ndarray) -> np.ndarray:
        sizes.append(distinct.size)
        return distinct * 2.0

    return _cells._per_distinct(keys, compute), sizes


def test_h3_dedupe_is_decided_on_every_point_not_a_sample() -> None:
    """5,000 stations x 4 readings, station-major: a strided sample sees no repeat."""
    rng = np.random.default_rng(8)
    lat, lon = rng.uniform(35, 45, 5_000), rng.uniform(-5, 5, 5_000)
    keys = np.repeat(lat + 1j * lon, 4)
    got, sizes = _calls(keys)
    assert sizes == [5_000]
    np.testing.assert_array_equal(got, keys * 2.0)
    cells = space.h3_cells(np.repeat(lat, 4), np.repeat(lon, 4), 9)
    np.testing.assert_array_equal(cells, np.repeat(space.h3_cells(lat, lon, 9), 4))
    unique_keys = rng.uniform(0, 1, 20_000) + 1j * rng.uniform(0, 1, 20_000)
    assert _calls(unique_keys)[1] == [20_000]  # nothing repeats: one call, no grouping


def test_h3_dedupe_survives_a_hash_collision() -> None:
    """Two different points built to share a 64-bit hash still get their own results."""
    rng = np.random.default_rng(1)
    bits = np.array([40.5, -3.25]).view(np.uint64)  # arrays: uint64 products wrap quietly
    target = (bits[:1] * _cells._MIX) ^ bits[1:]
    while True:
        lat2 = np.array([rng.uniform(-80, 80)])
        lon2 = (target ^ (lat2.view(np.uint64) * _cells._MIX)).view(np.float64)
        if np.isfinite(lon2[0]):
            break
    first = complex(40.5, -3.25)
    second = complex(lat2[0], lon2[0])
    keys = np.array([first, second] * 6_000)
    assert _cells._hash64(keys[:1])[0] == _cells._hash64(keys[1:2])[0]
    got, sizes = _calls(keys)
    assert sizes == [2]
    np.testing.assert_array_equal(got, keys * 2.0)


@pytest.mark.parametrize("radius", [1e-7, 1e-3])  # int64 cell keys overflow / fit
def test_cell_representatives_group_core_points_by_cell(radius: float) -> None:
    rng = np.random.default_rng(6)
    xyz = space.unit_xyz(rng.uniform(-80, 80, 500), rng.uniform(-180, 180, 500))
    xyz = np.repeat(xyz, 3, axis=0)  # every cell holds at least three points
    core = rng.random(len(xyz)) < 0.7
    got = _dbscan._cell_representatives(xyz, core, radius)
    cells = np.floor(xyz / (radius / math.sqrt(3.0) * (1.0 - 1e-9))).astype(np.int64)
    first: dict[tuple[int, ...], int] = {}
    for i in np.flatnonzero(core):
        first.setdefault(tuple(cells[i].tolist()), int(i))
    expected = np.arange(len(xyz))
    for i in np.flatnonzero(core):
        expected[i] = first[tuple(cells[i].tolist())]
    np.testing.assert_array_equal(got, expected)
    assert (got[core] != np.flatnonzero(core)).any()  # some points were merged
