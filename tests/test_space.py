"""SPACE module: checked against known distances, h3's scalar API, planted structure and
independent brute-force computations (haversine matrices, textbook DBSCAN, plain IDW)."""

from __future__ import annotations

import math
import tracemalloc
import types
import warnings

import h3
import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules import space
from geoinfer_workflows.modules.space import (
    EARTH_RADIUS_M,
    ClusterResult,
    KMeansResult,
    cluster,
    dbscan,
    grid_points,
    h3_cell_centers,
    h3_cells,
    haversine_m,
    hierarchical,
    idw,
    kmeans,
    kmeans_plusplus,
    lloyd,
    local_xy_m,
    unit_xyz,
)
from geoinfer_workflows.modules.space._hierarchical import _ward_flat

M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0


def test_package_exports_the_public_names_of_the_former_module() -> None:
    """The split into space/_*.py keeps `space.NAME` (benchmarks import it at old commits)."""
    public = {
        "EARTH_RADIUS_M", "ClusterResult", "KMeansResult", "cluster", "dbscan", "grid_points",
        "h3_cell_centers", "h3_cell_spacing_m", "h3_cells", "haversine_m", "hierarchical",
        "idw", "kmeans", "kmeans_plusplus", "lloyd", "local_xy_m", "nearest_center", "unit_xyz",
    }  # fmt: skip
    assert set(space.__all__) == public
    for name in public:  # a function, never the submodule that holds it
        assert not isinstance(getattr(space, name), types.ModuleType), name


# ------------------------------------------------------------------------------ helpers


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Hubert-Arabie ARI from the contingency table (noise -1 counts as one more label)."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1.0)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1.0) / 2.0).sum())

    together = pairs(table)
    rows, cols = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / pairs(np.array([float(len(a))]))
    return (together - expected) / (0.5 * (rows + cols) - expected)


def planted_blobs(
    rng: np.random.Generator,
    centres: list[tuple[float, float]],
    n_per: int,
    sigma_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, truth) of isotropic gaussian blobs of `sigma_m` metres around `centres`."""
    c = np.asarray(centres, dtype=float)
    truth = np.repeat(np.arange(len(c)), n_per)
    lat = c[truth, 0] + rng.normal(0.0, sigma_m / M_PER_DEG, truth.size)
    lon = c[truth, 1] + rng.normal(0.0, 1.0, truth.size) * sigma_m / (
        M_PER_DEG * np.cos(np.radians(c[truth, 0]))
    )
    return lat, lon, truth


# Five centres 20-60 km apart around Lyon; blobs of ~1 km are far apart at that scale.
CENTRES = [(45.75, 4.85), (45.95, 4.60), (45.55, 5.15), (46.05, 5.05), (45.50, 4.55)]


def brute_dbscan(lat: np.ndarray, lon: np.ndarray, eps_m: float, min_samples: int) -> np.ndarray:
    """Textbook DBSCAN over a full haversine matrix, border -> nearest core (ties: lowest)."""
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    near = d <= eps_m
    core = near.sum(axis=1) >= min_samples
    labels = np.full(lat.size, -1)
    next_label = 0
    for start in range(lat.size):  # breadth-first expansion over core points, in index order
        if not core[start] or labels[start] >= 0:
            continue
        labels[start] = next_label
        frontier = [start]
        while frontier:
            p = frontier.pop()
            for q in np.flatnonzero(near[p] & core):
                if labels[q] < 0:
                    labels[q] = next_label
                    frontier.append(q)
        next_label += 1
    for p in np.flatnonzero(~core):
        neighbours = np.flatnonzero(near[p] & core)
        if neighbours.size:
            labels[p] = labels[neighbours[np.argmin(d[p, neighbours])]]
    return labels


def brute_idw(
    lat: np.ndarray,
    lon: np.ndarray,
    values: np.ndarray,
    glat: np.ndarray,
    glon: np.ndarray,
    k: int,
    power: float,
) -> np.ndarray:
    d = haversine_m(glat.ravel()[:, None], glon.ravel()[:, None], lat[None, :], lon[None, :])
    out = np.empty(d.shape[0])
    for i, row in enumerate(d):
        nearest = np.argsort(row)[:k]
        w = 1.0 / row[nearest] ** power
        out[i] = (w * values[nearest]).sum() / w.sum()
    return out.reshape(glat.shape)


def test_ari_helper_detects_agreement_and_disagreement() -> None:
    truth = np.repeat(np.arange(4), 50)
    assert adjusted_rand_index(truth, truth) == pytest.approx(1.0)
    assert adjusted_rand_index(truth, (truth + 1) % 4 * 7) == pytest.approx(1.0)
    shuffled = np.random.default_rng(0).permutation(truth)
    assert abs(adjusted_rand_index(truth, shuffled)) < 0.05
    assert adjusted_rand_index(truth, np.where(truth == 3, 2, truth)) < 0.9


# ----------------------------------------------------------------------------- geometry


def test_haversine_known_distances() -> None:
    assert haversine_m(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343_500, abs=500)
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m(90.0, 0.0, -90.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m(10.0, 20.0, 11.0, 20.0) == pytest.approx(M_PER_DEG, rel=1e-12)
    assert haversine_m(0.0, 179.5, 0.0, -179.5) == pytest.approx(M_PER_DEG, rel=1e-12)
    assert haversine_m(33.3, -44.4, 33.3, -44.4) == 0.0


def test_haversine_symmetric_broadcasting_and_matches_chord() -> None:
    rng = np.random.default_rng(1)
    lat1, lat2 = rng.uniform(-90, 90, (2, 500))
    lon1, lon2 = rng.uniform(-180, 180, (2, 500))
    d = haversine_m(lat1, lon1, lat2, lon2)
    np.testing.assert_array_equal(d, haversine_m(lat2, lon2, lat1, lon1))
    chord = np.linalg.norm(unit_xyz(lat1, lon1) - unit_xyz(lat2, lon2), axis=1)
    np.testing.assert_allclose(d, 2 * EARTH_RADIUS_M * np.arcsin(chord / 2), rtol=1e-9)
    assert haversine_m(lat1[:3, None], lon1[:3, None], lat2[:4], lon2[:4]).shape == (3, 4)


def test_unit_xyz_on_the_unit_sphere() -> None:
    xyz = unit_xyz([90.0, 0.0, 0.0, -30.0], [0.0, 0.0, 90.0, 123.0])
    np.testing.assert_allclose(np.linalg.norm(xyz, axis=1), 1.0)
    np.testing.assert_allclose(xyz[:3], [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-15)


def test_local_xy_matches_haversine_within_the_documented_error() -> None:
    rng = np.random.default_rng(2)
    for half_extent_deg in (0.05, 0.3):  # ~5.5 km (a city) and ~33 km around Paris
        lat = 48.85 + rng.uniform(-half_extent_deg, half_extent_deg, 400)
        lon = 2.35 + rng.uniform(-1.5 * half_extent_deg, 1.5 * half_extent_deg, 400)
        xy = local_xy_m(lat, lon)
        planar = np.linalg.norm(xy[:200] - xy[200:], axis=1)
        exact = haversine_m(lat[:200], lon[:200], lat[200:], lon[200:])
        bound = math.tan(math.radians(48.85)) * math.radians(half_extent_deg)  # docstring
        relative = np.abs(planar / exact - 1.0)
        assert relative.max() <= 1.05 * bound
        assert relative.max() >= 0.2 * bound  # the bound is a real description, not slack
    assert 1.05 * math.tan(math.radians(48.85)) * math.radians(0.05) < 1.1e-3
    xy = local_xy_m([-16.0, -16.0], [179.9, -179.9])  # Fiji: 0.2 deg of longitude apart
    assert abs(xy[1, 0] - xy[0, 0]) == pytest.approx(haversine_m(-16, 179.9, -16, -179.9))


# ---------------------------------------------------------------------------------- H3


@pytest.mark.parametrize("resolution", [0, 4, 9, 15])
def test_h3_cells_equal_h3_scalar_api(resolution: int) -> None:
    rng = np.random.default_rng(resolution)
    lat = rng.uniform(-90, 90, 300)
    lon = rng.uniform(-180, 180, 300)
    expected = [
        h3.str_to_int(h3.latlng_to_cell(a, b, resolution)) for a, b in zip(lat, lon, strict=True)
    ]
    cells = h3_cells(lat, lon, resolution)
    assert cells.dtype == np.uint64
    np.testing.assert_array_equal(cells, np.array(expected, dtype=np.uint64))
    np.testing.assert_array_equal(h3_cells(*h3_cell_centers(cells), resolution), cells)
    clat, clon = h3_cell_centers(cells)
    np.testing.assert_allclose(
        np.column_stack((clat, clon)), [h3.cell_to_latlng(h3.int_to_str(c)) for c in expected]
    )


def test_h3_deduplicated_path_and_shapes() -> None:
    rng = np.random.default_rng(3)
    stations_lat = rng.uniform(40, 41, 50)
    stations_lon = rng.uniform(-74, -73, 50)
    pick = rng.integers(0, 50, (200, 100))  # 20_000 readings from 50 stations: deduplicated
    cells = h3_cells(stations_lat[pick], stations_lon[pick], 8)
    assert cells.shape == (200, 100)
    per_station = [
        h3.str_to_int(h3.latlng_to_cell(a, b, 8))
        for a, b in zip(stations_lat, stations_lon, strict=True)
    ]
    np.testing.assert_array_equal(cells, np.array(per_station, dtype=np.uint64)[pick])
    clat, clon = h3_cell_centers(cells)
    assert clat.shape == (200, 100)
    np.testing.assert_array_equal(h3_cells(clat, clon, 8), cells)
    assert h3_cells(np.empty(0), np.empty(0), 5).shape == (0,)


@pytest.mark.parametrize(
    ("lat", "lon", "res"),
    [([1.0], [2.0], 16), ([1.0], [2.0], -1), ([1.0], [2.0], 2.5), ([np.nan], [0.0], 5),
     ([95.0], [0.0], 5), ([1.0, 2.0], [1.0], 5)],
)  # fmt: skip
def test_h3_cells_rejects_bad_input(lat: list, lon: list, res: object) -> None:
    with pytest.raises(ParameterError):
        h3_cells(lat, lon, res)


def test_h3_cell_centers_rejects_invalid_ids() -> None:
    with pytest.raises(ParameterError, match="H3"):
        h3_cell_centers(np.array([0, 12345], dtype=np.uint64))
    with pytest.raises(ParameterError):
        h3_cell_centers(np.array([1.5]))


# ------------------------------------------------------------------------------ k-means


def test_kmeans_recovers_planted_blobs() -> None:
    lat, lon, truth = planted_blobs(np.random.default_rng(4), CENTRES, 300, 2_000.0)
    result = cluster(np.column_stack((lat, lon)), "kmeans", k=5)
    assert isinstance(result, ClusterResult)
    assert (result.algorithm, result.n_clusters) == ("kmeans", 5)
    assert adjusted_rand_index(result.labels, truth) >= 0.95
    X = local_xy_m(lat, lon)
    fit = kmeans(X, 5, seed=1)
    sse = ((X - fit.centers[fit.labels]) ** 2).sum()
    assert fit.inertia == pytest.approx(sse, rel=1e-9)
    assert result.inertia == pytest.approx(kmeans(X, 5).inertia, rel=1e-12)


def test_kmeans_matches_lloyd_from_its_own_seeds_and_beats_random_starts() -> None:
    rng = np.random.default_rng(5)
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(3)), axis=-1).reshape(-1, 2)
    centres = grid * 30_000.0 + rng.uniform(-3_000, 3_000, (12, 2))  # 12 separated blobs
    X = np.repeat(centres, 150, axis=0) + rng.normal(0, 3_000.0, (1800, 2))
    seeds = kmeans_plusplus(X, 12, np.random.default_rng(7))
    assert seeds.shape == (12, 2)
    assert (seeds[:, None, :] == X[None, :, :]).all(axis=2).any(axis=1).all()  # data points
    from_seeds = lloyd(X, seeds)
    single = kmeans(X, 12, n_init=1, seed=7)
    np.testing.assert_array_equal(single.labels, from_seeds.labels)
    assert single.inertia == from_seeds.inertia
    best = kmeans(X, 12, n_init=4, seed=7)
    assert best.inertia <= from_seeds.inertia
    random_starts = [
        lloyd(X, X[np.random.default_rng(s).choice(len(X), 12, replace=False)]).inertia
        for s in range(6)
    ]
    assert best.inertia <= min(random_starts) * (1 + 1e-12)
    assert max(random_starts) > 1.2 * best.inertia  # random starts do get stuck here


def test_kmeans_plusplus_samples_in_proportion_to_squared_distance() -> None:
    """One far point carries ~all the D^2 mass: k-means++ must pick it, uniform would not."""
    X = np.vstack([np.random.default_rng(0).normal(size=(5_000, 2)), [[1e4, 1e4]]])
    for seed in range(20):
        seeds = kmeans_plusplus(X, 2, np.random.default_rng(seed))
        assert (seeds == X[-1]).all(axis=1).any()


def test_kmeans_is_deterministic_for_a_seed() -> None:
    X = np.random.default_rng(6).normal(size=(2000, 3))
    a, b = kmeans(X, 7, seed=11), kmeans(X, 7, seed=11)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centers, b.centers)
    assert (a.inertia, a.n_iter) == (b.inertia, b.n_iter)


@pytest.mark.parametrize(("n", "k"), [(150_000, 8), (20_000, 100)])
def test_lloyd_assignment_is_nearest_centre(n: int, k: int) -> None:
    """Chunked dense path (n > one chunk) and KD-tree path (k > 64) against brute force."""
    rng = np.random.default_rng(n + k)
    X = rng.normal(size=(n, 2)) * 1e4 + 3e5  # offset: exercises the internal centring
    fit = lloyd(X, X[:k], max_iter=3, tol=0.0)
    brute = ((X[:, None, :] - fit.centers[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(fit.labels, brute.argmin(axis=1))
    assert fit.inertia == pytest.approx(brute.min(axis=1).sum(), rel=1e-9)
    assert isinstance(fit, KMeansResult)


def test_lloyd_converged_centres_are_member_means_and_empty_clusters_reseed() -> None:
    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(20, 1, (200, 2))])
    fit = lloyd(X, np.array([[0.0, 0.0], [20.0, 20.0], [1e6, 1e6]]), tol=0.0)
    assert np.bincount(fit.labels, minlength=3).min() > 0  # far centre was re-seeded
    means = np.array([X[fit.labels == j].mean(axis=0) for j in range(3)])
    np.testing.assert_allclose(fit.centers, means, atol=1e-9)
    again = lloyd(X, np.array([[0.0, 0.0], [20.0, 20.0], [1e6, 1e6]]), tol=0.0)
    np.testing.assert_array_equal(fit.labels, again.labels)


def test_kmeans_rejects_bad_parameters() -> None:
    X = np.zeros((5, 2))
    for bad in ({"k": 0}, {"k": 6}, {"k": 2, "n_init": 0}, {"k": 2, "tol": -1.0}):
        with pytest.raises(ParameterError):
            kmeans(X, **bad)
    with pytest.raises(ParameterError):
        kmeans(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(ParameterError):
        lloyd(X, np.zeros((2, 3)))
    assert kmeans(X, 3).inertia == 0.0  # identical points: any partition is optimal


# ------------------------------------------------------------------------------- DBSCAN


def test_dbscan_finds_planted_clusters_and_noise() -> None:
    rng = np.random.default_rng(9)
    lat, lon, truth = planted_blobs(rng, CENTRES, 400, 300.0)
    noise_lat = rng.uniform(45.4, 46.1, 250)
    noise_lon = rng.uniform(4.5, 5.2, 250)
    labels = dbscan(np.r_[lat, noise_lat], np.r_[lon, noise_lon], eps_m=150.0, min_samples=5)
    assert labels.dtype == np.int64
    assert labels.max() + 1 == len(CENTRES)
    assert adjusted_rand_index(labels[: truth.size], truth) >= 0.95
    assert (labels[truth.size :] == -1).mean() >= 0.95
    firsts = [np.flatnonzero(labels == j)[0] for j in range(labels.max() + 1)]
    assert firsts == sorted(firsts)  # numbered in order of first appearance
    result = cluster(np.column_stack((lat, lon)), "dbscan", eps_m=150.0, min_samples=5)
    assert (result.n_clusters, result.inertia) == (len(CENTRES), None)


@pytest.mark.parametrize(
    ("lat1", "lon1", "lat2", "lon2"),
    [(0.0, 179.9996, 0.0, -179.9996),  # across the antimeridian at the equator
     (89.9995, 0.0, 89.9995, 180.0),  # across the north pole
     (-89.999, 10.0, -89.999, 75.0),  # near the south pole, far apart in longitude
     (64.0, -179.9995, 64.0005, 179.9998)],
)  # fmt: skip
def test_dbscan_eps_is_great_circle_metres(lat1: float, lon1: float, lat2: float, lon2: float):
    d = float(haversine_m(lat1, lon1, lat2, lon2))
    assert 10.0 < d < 500.0
    lat, lon = [lat1, lat2], [lon1, lon2]
    np.testing.assert_array_equal(dbscan(lat, lon, eps_m=1.05 * d, min_samples=2), [0, 0])
    np.testing.assert_array_equal(dbscan(lat, lon, eps_m=0.95 * d, min_samples=2), [-1, -1])


def test_dbscan_90_vs_110_metres_across_lon_180() -> None:
    for gap_m, expected in ((90.0, [0, 0]), (110.0, [-1, -1])):
        half = gap_m / 2 / M_PER_DEG
        lat, lon = [0.0, 0.0], [180.0 - half, -180.0 + half]
        assert float(haversine_m(*lat[:1], *lon[:1], *lat[1:], *lon[1:])) == pytest.approx(gap_m)
        np.testing.assert_array_equal(dbscan(lat, lon, eps_m=100.0, min_samples=2), expected)


def test_dbscan_matches_brute_force() -> None:
    rng = np.random.default_rng(10)
    lat, lon, _ = planted_blobs(rng, [(52.0, 13.0), (52.01, 13.02), (51.99, 13.04)], 60, 300.0)
    lat = np.r_[lat, rng.uniform(51.95, 52.05, 40)]
    lon = np.r_[lon, rng.uniform(12.95, 13.1, 40)]
    order = rng.permutation(lat.size)
    lat, lon = lat[order], lon[order]
    expected = brute_dbscan(lat, lon, 250.0, 6)
    got = dbscan(lat, lon, eps_m=250.0, min_samples=6)
    np.testing.assert_array_equal(got, expected)
    near = haversine_m(lat[:, None], lon[:, None], lat, lon) <= 250.0
    border = (near.sum(axis=1) < 6) & (expected >= 0)
    assert border.sum() >= 3 and (expected == -1).sum() >= 3  # the case is not trivial


def test_dbscan_border_point_joins_its_nearest_core_neighbour() -> None:
    """P sits 80 m from cluster A's end and 60 m from B's: it joins B, not the first one."""
    a = -(80.0 + 24.0 * np.arange(8)) / M_PER_DEG  # cores every 24 m along the equator
    b = (60.0 + 24.0 * np.arange(8)) / M_PER_DEG
    lon = np.r_[a, b, 0.0]
    labels = dbscan(np.zeros(lon.size), lon, eps_m=100.0, min_samples=5)
    np.testing.assert_array_equal(labels, [0] * 8 + [1] * 8 + [1])
    np.testing.assert_array_equal(labels, brute_dbscan(np.zeros(lon.size), lon, 100.0, 5))


def test_dbscan_edge_cases_and_errors() -> None:
    lat, lon = [0.0, 0.0, 10.0], [0.0, 0.0, 10.0]
    np.testing.assert_array_equal(dbscan(lat, lon, eps_m=1.0, min_samples=1), [0, 0, 1])
    np.testing.assert_array_equal(dbscan(lat, lon, eps_m=1.0, min_samples=3), [-1, -1, -1])
    assert dbscan([], [], eps_m=1.0, min_samples=2).shape == (0,)
    for bad in ({"eps_m": 0.0, "min_samples": 2}, {"eps_m": 5.0, "min_samples": 0}):
        with pytest.raises(ParameterError):
            dbscan(lat, lon, **bad)


# ------------------------------------------------------------------------- hierarchical


@pytest.mark.parametrize("method", ["ward", "average", "complete", "single"])
def test_hierarchical_exact_path(method: str) -> None:
    lat, lon, truth = planted_blobs(np.random.default_rng(11), CENTRES, 200, 1_500.0)
    X = local_xy_m(lat, lon)
    labels = hierarchical(X, 5, method=method)
    assert adjusted_rand_index(labels, truth) >= 0.95
    scipy_labels = fcluster(linkage(X, method=method), 5, criterion="maxclust")
    assert adjusted_rand_index(labels, scipy_labels) == pytest.approx(1.0)
    result = cluster(np.column_stack((lat, lon)), "hierarchical", n_clusters=5, method=method)
    np.testing.assert_array_equal(result.labels, labels)


@pytest.mark.parametrize("method", ["ward", "average", "complete", "single"])
def test_hierarchical_bounded_path_recovers_blobs(method: str) -> None:
    lat, lon, truth = planted_blobs(np.random.default_rng(12), CENTRES, 4_000, 1_500.0)
    labels = hierarchical(local_xy_m(lat, lon), 5, method=method, max_exact=2_000)
    assert labels.shape == (20_000,)
    assert np.unique(labels).size == 5
    assert adjusted_rand_index(labels, truth) >= 0.95


def test_weighted_ward_equals_ward_on_replicated_points() -> None:
    """Ward from micro-clusters with member counts == scipy Ward on the expanded points."""
    rng = np.random.default_rng(13)
    centres = rng.normal(size=(60, 2)) * np.array([3.0, 1.0])
    counts = rng.integers(1, 5, 60)
    replicated = np.repeat(centres, counts, axis=0)
    owner = np.repeat(np.arange(60), counts)
    for n_clusters in (2, 5, 11):
        ours = _ward_flat(centres, counts, n_clusters)
        scipy_labels = fcluster(linkage(replicated, "ward"), n_clusters, criterion="maxclust")
        assert np.unique(ours).size == n_clusters
        assert adjusted_rand_index(ours[owner], scipy_labels) == pytest.approx(1.0)
    unit = _ward_flat(centres, np.ones(60), 7)
    scipy_unit = fcluster(linkage(centres, "ward"), 7, criterion="maxclust")
    assert adjusted_rand_index(unit, scipy_unit) == pytest.approx(1.0)


def test_hierarchical_bounded_path_never_allocates_n_squared() -> None:
    n = 30_000
    X = np.random.default_rng(14).normal(size=(n, 2))
    tracemalloc.start()
    try:
        labels = hierarchical(X, 6, max_exact=2_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.unique(labels).size == 6
    assert peak < n * n * 8 / 100  # n x n float64 would be 7.2 GB; the path stays in MBs


def test_hierarchical_is_deterministic_and_validates() -> None:
    X = np.random.default_rng(15).normal(size=(3_000, 2))
    np.testing.assert_array_equal(
        hierarchical(X, 4, max_exact=500, seed=3), hierarchical(X, 4, max_exact=500, seed=3)
    )
    with pytest.raises(ParameterError, match="valid: ward"):
        hierarchical(X, 4, method="centroid")
    with pytest.raises(ParameterError):
        hierarchical(X, 0)
    with pytest.raises(ParameterError):
        hierarchical(X, 10, max_exact=5)


# ----------------------------------------------------------------------- single entry


def test_cluster_rejects_unknown_algorithm_and_parameters() -> None:
    pts = np.column_stack(planted_blobs(np.random.default_rng(16), CENTRES, 20, 500.0)[:2])
    with pytest.raises(ParameterError, match=r"valid: kmeans, dbscan, hierarchical"):
        cluster(pts, algorithm="spectral")
    with pytest.raises(ParameterError, match="eps_m"):
        cluster(pts, algorithm="dbscan", eps=100.0)
    with pytest.raises(ParameterError, match="lat, lon"):
        cluster(pts[:, :1], algorithm="kmeans")
    result = cluster(pts)  # the guide's call: default algorithm and parameters
    assert result.n_clusters == 8 and result.labels.shape == (100,)


# ------------------------------------------------------------------------ interpolation


def test_grid_points_are_cell_centres() -> None:
    glat, glon = grid_points(10.0, 12.0, 20.0, 23.0, (4, 3))
    assert glat.shape == glon.shape == (4, 3)
    np.testing.assert_allclose(glat[:, 0], [10.25, 10.75, 11.25, 11.75])
    np.testing.assert_allclose(glon[0], [20.5, 21.5, 22.5])
    for bad in ((12.0, 10.0, 20.0, 23.0, (2, 2)), (10.0, 12.0, 20.0, 23.0, (0, 2))):
        with pytest.raises(ParameterError):
            grid_points(*bad)


def test_idw_is_exact_at_samples_and_matches_brute_force() -> None:
    rng = np.random.default_rng(17)
    lat = rng.uniform(44.0, 45.0, 60)
    lon = rng.uniform(6.0, 7.5, 60)
    values = rng.normal(20.0, 5.0, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(idw(lat, lon, values, lat, lon), values)
    glat, glon = grid_points(44.0, 45.0, 6.0, 7.5, (5, 7))
    for k, power in ((8, 2.0), (3, 1.5), (60, 3.0)):
        got = idw(lat, lon, values, glat, glon, k=k, power=power)
        assert got.shape == (5, 7)
        np.testing.assert_allclose(got, brute_idw(lat, lon, values, glat, glon, k, power))
    nearest = idw(lat, lon, values, glat, glon, k=1)
    np.testing.assert_allclose(nearest, brute_idw(lat, lon, values, glat, glon, 1, 2.0))


def test_idw_ignores_nan_samples_and_validates() -> None:
    rng = np.random.default_rng(18)
    lat, lon = rng.uniform(0, 1, 40), rng.uniform(0, 1, 40)
    values = rng.normal(size=40)
    holes = values.copy()
    holes[::4] = np.nan
    keep = np.isfinite(holes)
    glat, glon = grid_points(0.0, 1.0, 0.0, 1.0, (6, 6))
    np.testing.assert_allclose(
        idw(lat, lon, holes, glat, glon, k=5),
        idw(lat[keep], lon[keep], values[keep], glat, glon, k=5),
    )
    with pytest.raises(ParameterError):
        idw(lat, lon, np.full(40, np.nan), glat, glon)
    with pytest.raises(ParameterError):
        idw(lat, lon, values[:-1], glat, glon)
    with pytest.raises(ParameterError):
        idw(lat, lon, values, glat, glon, power=0.0)


def test_h3_spacing_band_joins_exactly_the_first_ring():
    import h3

    from geoinfer_workflows.modules.space import h3_cell_spacing_m

    centre = h3.latlng_to_cell(-1.29, 36.82, 7)
    ring1 = set(h3.grid_ring(centre, 1))
    ring2 = set(h3.grid_ring(centre, 2))
    lat0, lon0 = h3.cell_to_latlng(centre)
    band = 1.5 * h3_cell_spacing_m(7)
    for cell in ring1 | ring2:
        lat, lon = h3.cell_to_latlng(cell)
        assert (haversine_m(lat0, lon0, lat, lon) <= band) == (cell in ring1)
