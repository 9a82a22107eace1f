"""RISK: weights, Gi*, local Moran, composite risk, CUSUM and EARS C2.

Hotspot statistics are checked four ways: against esda's published doctest output,
against a dense loop implementation of esda's formulas, against the exact moments of
the randomisation null by full enumeration of all n! permutations, and against planted
hotspots. Alert rules are checked against loop implementations and planted steps.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse
from scipy.stats import norm

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules import risk

# esda G_Local docstring (esda/getisord.py): six points, DistanceBand(threshold=15).
ESDA_POINTS = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)], float)
ESDA_Y = np.array([2, 3, 3.2, 5, 8, 7])
ESDA_ZS_STAR_B = [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331]
ESDA_ZS_STAR_R = [-0.62488094, -0.09144599, 0.41150696, -0.09144599, 0.24690418, 1.28024388]


def _grid(side: int) -> np.ndarray:
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    return np.column_stack([ii.ravel(), jj.ravel()]).astype(float)


# --------------------------------------------------------------------------- weights


def test_knn_weights_are_the_k_nearest_without_self():
    rng = np.random.default_rng(0)
    xy = rng.uniform(size=(200, 2))
    k = 6
    W = risk.knn_weights(xy, k)
    assert isinstance(W, sparse.csr_matrix)
    assert np.all(np.diff(W.indptr) == k)
    assert np.all(W.diagonal() == 0)
    assert np.all(W.data == 1.0)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    brute = np.argsort(d, axis=1)[:, :k]
    for i in range(len(xy)):
        assert set(W.indices[W.indptr[i] : W.indptr[i + 1]]) == set(brute[i])


def test_knn_weights_3d_and_coincident_points():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(50, 3))
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)  # unit vectors
    W = risk.knn_weights(xyz, 4)
    assert np.all(np.diff(W.indptr) == 4) and np.all(W.diagonal() == 0)
    stacked = np.zeros((10, 2))  # ten copies of one point, more than k + 1
    Wd = risk.knn_weights(stacked, 3)
    assert np.all(np.diff(Wd.indptr) == 3) and np.all(Wd.diagonal() == 0)


@pytest.mark.parametrize("k", [0, -1, 10, 2.5, True])
def test_knn_weights_bad_k(k):
    with pytest.raises(ParameterError, match="k"):
        risk.knn_weights(np.random.default_rng(0).uniform(size=(10, 2)), k)


def test_weights_reject_bad_coords():
    with pytest.raises(ParameterError, match="shape"):
        risk.knn_weights(np.zeros((5, 4)), 2)
    with pytest.raises(ParameterError, match="finite"):
        risk.distance_band_weights(np.array([[0.0, np.nan], [1.0, 1.0]]), 1.0)
    with pytest.raises(ParameterError, match="threshold"):
        risk.distance_band_weights(np.zeros((3, 2)), 0.0)


def test_distance_band_is_symmetric_bruteforce_and_flags_isolates():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 10, size=(120, 2))
    W = risk.distance_band_weights(xy, 1.0)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    brute = (d <= 1.0) & ~np.eye(120, dtype=bool)
    assert np.array_equal(W.toarray() != 0, brute)
    assert (W != W.T).nnz == 0
    assert np.all(W.diagonal() == 0)
    isolated = risk.isolates(W)
    assert isolated.any()
    assert np.array_equal(isolated, ~brute.any(axis=1))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_weights_are_built_as_scipy_builds_them(seed):
    """The band weights and Gi*'s self-weighted matrix are assembled directly in CSR;
    they must be the very matrices scipy's COO conversion and `W + diags` give (same
    index dtype, order and bits), so every statistic on them is unchanged."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 10, size=(150, 2))
    W = risk.distance_band_weights(xy, 1.2)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    rows, cols = np.nonzero((d <= 1.2) & ~np.eye(150, dtype=bool))
    expected = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(150, 150))
    weighted = risk.check_weights(W.multiply(rng.uniform(0.5, 2.0, W.shape)).tocsr(), 150)
    self_weight = np.where(weighted.getnnz(axis=1) > 0, weighted.max(axis=1).toarray().ravel(), 1)
    for got, want in (
        (W, expected),
        (risk._with_self_weight(W), (W + sparse.eye(150, format="csr")).tocsr()),
        (risk._with_self_weight(weighted), (weighted + sparse.diags(self_weight)).tocsr()),
    ):
        assert got.has_canonical_format and want.has_canonical_format
        for part in ("indptr", "indices", "data"):
            assert getattr(got, part).dtype == getattr(want, part).dtype, part
            assert np.array_equal(getattr(got, part), getattr(want, part)), part


def test_row_standardize_rows_sum_to_one_isolates_zero_input_untouched():
    W = risk.distance_band_weights(ESDA_POINTS, 12.0)  # point 2 is 14.1 from its nearest
    before = W.toarray().copy()
    R = risk.row_standardize(W)
    sums = np.asarray(R.sum(axis=1)).ravel()
    iso = risk.isolates(W)
    assert np.flatnonzero(iso).tolist() == [2]
    assert np.allclose(sums[~iso], 1.0) and np.all(sums[iso] == 0)
    assert np.array_equal(W.toarray(), before)


def test_no_function_modifies_the_callers_weights():
    rng = np.random.default_rng(14)
    xy = rng.uniform(size=(30, 2))
    W = risk.knn_weights(xy, 4).multiply(rng.uniform(0.5, 2.0, (30, 30))).tocsr()
    W = (W + sparse.diags(np.full(30, 0.5))).tocsr()  # weighted, with a diagonal
    snapshot = (W.data.copy(), W.indices.copy(), W.indptr.copy())
    y = rng.gamma(2.0, size=30)
    risk.row_standardize(W)
    risk.isolates(W)
    risk.getis_ord_gi_star(y, W, transform="R")
    risk.getis_ord_gi_star(y, W, transform="B")
    risk.local_moran(y, W, permutations=9)
    for before, after in zip(snapshot, (W.data, W.indices, W.indptr), strict=True):
        assert np.array_equal(before, after)


def test_check_weights_rejects_negative_and_wrong_shape():
    with pytest.raises(ParameterError, match="non-negative"):
        risk.check_weights(sparse.csr_matrix(np.array([[0, -1.0], [1.0, 0]])), 2)
    with pytest.raises(ParameterError, match="shape"):
        risk.check_weights(sparse.eye(3), 4)


# --------------------------------------------------------------------------- Gi*


def _gi_star_bruteforce(y: np.ndarray, dense_w: np.ndarray, transform: str) -> np.ndarray:
    """esda G_Local(star=True).calc with loops, on a dense binary W (diagonal set to 1)."""
    n = len(y)
    w = dense_w.astype(float).copy()
    for i in range(n):
        w[i, i] = 1.0
    if transform == "R":
        w = np.array([[w[i, j] / sum(w[i]) for j in range(n)] for i in range(n)])
    z = np.empty(n)
    mean = sum(y) / n
    var = sum(v * v for v in y) / n - mean**2
    for i in range(n):
        gs = sum(w[i, j] * y[j] for j in range(n)) / sum(y)
        card = sum(w[i])
        egs = card / n
        vgs = card * (n - card) / (n - 1) / n**2 * var / mean**2
        z[i] = (gs - egs) / np.sqrt(vgs)
    return z


@pytest.mark.parametrize(("transform", "published"), [("B", ESDA_ZS_STAR_B), ("R", ESDA_ZS_STAR_R)])
def test_gi_star_reproduces_esda_published_example(transform, published):
    W = risk.distance_band_weights(ESDA_POINTS, 15.0)
    res = risk.getis_ord_gi_star(ESDA_Y, W, transform=transform)
    assert np.allclose(res.z, published, atol=5e-9)
    assert np.allclose(res.p, 2 * norm.sf(np.abs(res.z)))


@pytest.mark.parametrize("transform", ["R", "B"])
def test_gi_star_equals_dense_loop_of_esda_formulas(transform):
    rng = np.random.default_rng(3)
    xy = rng.uniform(size=(40, 2))
    y = rng.gamma(2.0, 3.0, size=40)
    W = risk.knn_weights(xy, 5)
    res = risk.getis_ord_gi_star(y, W, transform=transform)
    expected = _gi_star_bruteforce(y, W.toarray(), transform)
    assert np.allclose(res.z, expected, rtol=1e-10, atol=1e-12)
    lag = (W.toarray() + np.eye(40)) @ y
    if transform == "R":
        lag = lag / 6
    assert np.allclose(res.gi, lag / y.sum(), rtol=1e-12)


def test_gi_star_binary_moments_are_the_exact_permutation_moments():
    # Total randomisation: every assignment of the values to the 7 sites. Gs moments by
    # enumeration of all 5040 permutations must equal esda's EGs and VGs, so the z built
    # from them is the right one.
    rng = np.random.default_rng(4)
    y = rng.gamma(2.0, size=7)
    W = risk.knn_weights(rng.uniform(size=(7, 2)), 3)
    ws = W.toarray() + np.eye(7)
    perms = np.array(list(itertools.permutations(range(7))))
    gs = (y[perms] @ ws.T) / y.sum()
    res = risk.getis_ord_gi_star(y, W, transform="B")
    z_exact = (gs[0] - gs.mean(axis=0)) / gs.std(axis=0)  # perms[0] is the identity
    assert np.allclose(res.z, z_exact, rtol=1e-10)


def test_gi_star_finds_a_planted_hotspot_and_not_the_background():
    side = 40
    xy = _grid(side)
    rng = np.random.default_rng(5)
    y = rng.poisson(5.0, size=side * side).astype(float)
    i, j = xy[:, 0], xy[:, 1]
    block = (i >= 15) & (i < 21) & (j >= 20) & (j < 26)  # 6 x 6 planted block
    y[block] = rng.poisson(30.0, size=block.sum())
    core = (i >= 16) & (i < 20) & (j >= 21) & (j < 25)
    near = (i >= 13) & (i < 23) & (j >= 18) & (j < 28)  # within 2 cells of the block
    W = risk.knn_weights(xy, 8)  # queen neighbourhood on the grid
    for transform in ("R", "B"):
        res = risk.getis_ord_gi_star(y, W, transform=transform)
        assert np.all(res.z[core] > 1.96), transform
        assert np.mean(res.z[~near] > 1.96) < 0.05, transform
        assert np.all(res.p[core] < 0.05)


def test_gi_star_z_is_shift_invariant_so_signed_values_work():
    rng = np.random.default_rng(6)
    y = rng.gamma(3.0, size=60)
    W = risk.knn_weights(rng.uniform(size=(60, 2)), 6)
    base = risk.getis_ord_gi_star(y, W).z
    assert np.allclose(risk.getis_ord_gi_star(y - y.mean(), W).z, base, atol=1e-10)
    assert np.allclose(risk.getis_ord_gi_star(y + 1e3, W).z, base, atol=1e-9)


def test_gi_star_isolates_constant_values_and_parameter_errors():
    W = risk.distance_band_weights(ESDA_POINTS, 12.0)
    res = risk.getis_ord_gi_star(ESDA_Y, W)
    assert np.array_equal(res.isolated, risk.isolates(W))
    assert np.all(np.isnan(res.z[res.isolated])) and np.all(np.isnan(res.p[res.isolated]))
    assert np.all(np.isfinite(res.z[~res.isolated]))
    flat = risk.getis_ord_gi_star(np.full(6, 4.0), risk.knn_weights(ESDA_POINTS, 2))
    assert np.all(flat.z == 0) and np.all(flat.p == 1)
    with pytest.raises(ParameterError, match="shape"):
        risk.getis_ord_gi_star(ESDA_Y[:5], risk.knn_weights(ESDA_POINTS, 2))
    with pytest.raises(ParameterError, match="transform"):
        risk.getis_ord_gi_star(ESDA_Y, risk.knn_weights(ESDA_POINTS, 2), transform="D")
    with pytest.raises(ParameterError, match="finite"):
        risk.getis_ord_gi_star(np.r_[ESDA_Y[:5], np.nan], risk.knn_weights(ESDA_POINTS, 2))


# --------------------------------------------------------------------------- local Moran


def _local_moran_bruteforce(y: np.ndarray, dense_w: np.ndarray):
    """esda Moran_Local (Is, q) and Anselin/Sokal total-randomisation z, with loops."""
    n = len(y)
    w = np.array([row / row.sum() if row.sum() else row for row in dense_w.astype(float)])
    z = (y - y.mean()) / y.std()
    m2 = sum(v * v for v in z) / n
    b2 = (sum(v**4 for v in z) / n) / m2**2
    Is, zs, q = np.empty(n), np.empty(n), np.empty(n, dtype=int)
    for i in range(n):
        lag = sum(w[i, j] * z[j] for j in range(n))
        Is[i] = (n - 1) * z[i] * lag / sum(v * v for v in z)
        q[i] = {(True, True): 1, (False, True): 2, (False, False): 3, (True, False): 4}[
            (bool(z[i] > 0), bool(lag > 0))
        ]
        wi = sum(w[i])
        wi2 = sum(v * v for v in w[i])
        wikh2 = sum(
            w[i, k] * w[i, h] for k in range(n) for h in range(n) if k != i and h != i and h != k
        )
        e = -wi / (n - 1)
        v = wi2 * (n - b2) / (n - 1) + wikh2 * (2 * b2 - n) / ((n - 1) * (n - 2))
        v -= wi**2 / (n - 1) ** 2
        zs[i] = (z[i] * lag / m2 - e) / np.sqrt(v)
    return Is, zs, q


def test_local_moran_equals_dense_loop_of_the_formulas():
    rng = np.random.default_rng(7)
    xy = rng.uniform(size=(30, 2))
    y = rng.lognormal(size=30)
    W = risk.distance_band_weights(xy, 0.35)
    assert not risk.isolates(W).any()
    res = risk.local_moran(y, W)
    Is, zs, q = _local_moran_bruteforce(y, W.toarray())
    assert np.allclose(res.Is, Is, rtol=1e-10, atol=1e-12)
    assert np.allclose(res.z, zs, rtol=1e-10, atol=1e-12)
    assert np.array_equal(res.quadrant, q)
    assert np.allclose(res.p, 2 * norm.sf(np.abs(res.z)))


def test_local_moran_moments_are_the_exact_total_randomisation_moments():
    # Anselin's I_i = z_i lag_i / m2 over all 7! assignments of the values to sites.
    rng = np.random.default_rng(8)
    n = 7
    y = rng.gamma(1.5, size=n)
    W = risk.knn_weights(rng.uniform(size=(n, 2)), 3)
    w = risk.row_standardize(W).toarray()
    z = (y - y.mean()) / y.std()
    perms = np.array(list(itertools.permutations(range(n))))
    zp = z[perms]
    anselin = zp * (zp @ w.T) / np.mean(z * z)
    z_exact = (anselin[0] - anselin.mean(axis=0)) / anselin.std(axis=0)
    assert np.allclose(risk.local_moran(y, W).z, z_exact, rtol=1e-10)


def test_local_moran_quadrants_on_a_constructed_map():
    xy = _grid(10)
    i = xy[:, 0]
    y = np.where(i < 5, 10.0, 0.0)  # top half high, bottom half low
    cold_spot_in_hot = 2 * 10 + 4  # a low cell surrounded by high ones
    hot_spot_in_cold = 7 * 10 + 5  # a high cell surrounded by low ones
    y[cold_spot_in_hot] = 0.0
    y[hot_spot_in_cold] = 10.0
    res = risk.local_moran(y, risk.knn_weights(xy, 8))
    assert res.quadrant[0] == 1  # HH corner of the high half
    assert res.quadrant[99] == 3  # LL corner of the low half
    assert res.quadrant[cold_spot_in_hot] == 2  # LH
    assert res.quadrant[hot_spot_in_cold] == 4  # HL
    assert res.z[0] > 1.96 and res.z[99] > 1.96  # both clusters significant


def _simulated_lags_loop(W_other: sparse.csr_matrix, z: np.ndarray, ids: np.ndarray):
    """esda crand's _prepare_univariate for each site in turn."""
    n = len(z)
    out = np.zeros((ids.shape[0], n))
    for i in range(n):
        weights_i = W_other.data[W_other.indptr[i] : W_other.indptr[i + 1]]
        z_no_i = np.delete(z, i)
        zrand = z_no_i[ids[:, : len(weights_i)]]
        out[:, i] = zrand @ weights_i
    return out


def test_permutation_engine_matches_esda_site_by_site_construction():
    rng = np.random.default_rng(9)
    n, perms = 25, 60
    xy = rng.uniform(size=(n, 2))
    y = rng.normal(size=n)
    W = risk.row_standardize(risk.distance_band_weights(xy, 0.3))  # varying cardinality
    z = (y - y.mean()) / y.std()
    k_max = int(np.diff(W.indptr).max())
    ids = risk._draw_neighbour_ids(np.random.default_rng(1), perms, k_max, n - 1)
    assert np.allclose(risk._simulated_lags(W, z, ids), _simulated_lags_loop(W, z, ids))

    # The whole p_sim path, re-derived from the same seeded draws (one block at this n).
    res = risk.local_moran(y, W, permutations=perms, seed=1)
    sims = (n - 1) / np.sum(z * z) * z * _simulated_lags_loop(W, z, ids)
    larger = (sims >= res.Is).sum(axis=0)
    larger = np.minimum(larger, perms - larger)
    p_expected = (larger + 1.0) / (perms + 1.0)
    iso = res.isolated
    assert np.allclose(res.p[~iso], p_expected[~iso])
    assert np.all(np.isnan(res.p[iso]))


@pytest.mark.parametrize(("k_max", "n_other"), [(8, 10_000), (8, 12), (3, 3)])
def test_neighbour_draws_are_distinct_and_in_range(k_max, n_other):
    ids = risk._draw_neighbour_ids(np.random.default_rng(0), 500, k_max, n_other)
    assert ids.shape == (500, k_max)
    assert ids.min() >= 0 and ids.max() < n_other
    srt = np.sort(ids, axis=1)
    assert not np.any(srt[:, 1:] == srt[:, :-1])
    counts = np.bincount(ids.ravel(), minlength=n_other)  # roughly uniform use of ids
    if n_other <= 12:
        assert counts.min() > 0.5 * counts.mean()


def test_local_moran_permutation_p_values_seeded_and_informative():
    side = 20
    xy = _grid(side)
    rng = np.random.default_rng(10)
    y = rng.normal(size=side * side)
    y[:60] += 4.0  # a planted high cluster along the first three rows
    W = risk.knn_weights(xy, 8)
    a = risk.local_moran(y, W, permutations=199, seed=3)
    b = risk.local_moran(y, W, permutations=199, seed=3)
    c = risk.local_moran(y, W, permutations=199, seed=4)
    assert np.array_equal(a.p, b.p) and not np.array_equal(a.p, c.p)
    assert np.all((a.p >= 1 / 200) & (a.p <= 0.5 + 1 / 200))
    inner = np.arange(side + 1, 2 * side - 1)  # second row: its whole neighbourhood is high
    assert np.mean(a.p[inner] <= 0.01) > 0.9
    noise = risk.local_moran(rng.normal(size=side * side), W, permutations=199, seed=5)
    # esda's directed p takes the more extreme tail, so under the null it falls below
    # 0.05 about 10% of the time (it is half a two-sided p).
    assert 0.04 < np.mean(noise.p < 0.05) < 0.17


def test_local_moran_isolates_constant_values_and_parameter_errors():
    W = risk.distance_band_weights(ESDA_POINTS, 12.0)
    res = risk.local_moran(ESDA_Y, W, permutations=19)
    assert np.all(np.isnan(res.z[res.isolated])) and np.all(np.isnan(res.p[res.isolated]))
    assert np.all(res.Is[res.isolated] == 0)
    flat = risk.local_moran(np.ones(6), risk.knn_weights(ESDA_POINTS, 2))
    assert np.all(flat.Is == 0) and np.all(flat.p == 1)
    with pytest.raises(ParameterError, match="permutations"):
        risk.local_moran(ESDA_Y, W, permutations=-1)
    with pytest.raises(ParameterError, match="at least 3"):
        risk.local_moran(ESDA_Y[:2], sparse.csr_matrix((2, 2)))


# --------------------------------------------------------------------------- composite risk


def test_composite_risk_in_unit_interval_and_monotone_in_each_component():
    rng = np.random.default_rng(11)
    comps = {"a": rng.normal(size=50), "b": rng.exponential(size=50), "c": rng.uniform(size=50)}
    weights = {"a": 2.0, "b": 1.0, "c": 0.5}
    score = risk.composite_risk(comps, weights)
    assert np.all((score >= 0) & (score <= 1))
    for name in comps:
        for delta in (0.1, 10.0):  # inside the range and past the maximum
            bumped = dict(comps)
            bumped[name] = comps[name].copy()
            bumped[name][7] += delta
            assert risk.composite_risk(bumped, weights)[7] >= score[7]
    ones = {k: np.where(np.arange(50) == 3, v.max(), v) for k, v in comps.items()}
    assert risk.composite_risk(ones, weights)[3] == pytest.approx(1.0)


def test_composite_risk_formula_constant_component_and_nan_rows():
    x = np.array([0.0, 5.0, 10.0, np.nan])
    y = np.array([3.0, 1.0, np.nan, np.nan])
    const = np.full(4, 7.0)
    score = risk.composite_risk({"x": x, "y": y, "c": const}, {"x": 3.0, "y": 1.0, "c": 1.0})
    # x -> [0, .5, 1]; y -> [1, 0]; constant -> 0 with its weight kept.
    assert score[0] == pytest.approx((3 * 0 + 1 * 1 + 0) / 5)
    assert score[1] == pytest.approx((3 * 0.5 + 0 + 0) / 5)
    assert score[2] == pytest.approx((3 * 1.0 + 0) / 4)  # y missing: weights renormalised
    assert score[3] == pytest.approx(0.0)  # only the constant component is present


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"a": 1.0}, "exactly the components"),
        ({"a": 1.0, "b": -1.0}, "non-negative"),
        ({"a": 0.0, "b": 0.0}, "not all 0"),
        ({"a": 1.0, "b": float("nan")}, "finite"),
    ],
)
def test_composite_risk_validates_weights(weights, match):
    with pytest.raises(ParameterError, match=match):
        risk.composite_risk({"a": np.ones(3), "b": np.arange(3.0)}, weights)


def test_composite_risk_rejects_mismatched_shapes():
    with pytest.raises(ParameterError, match="shape"):
        risk.composite_risk({"a": np.ones(3), "b": np.ones(4)}, {"a": 1.0, "b": 1.0})


# --------------------------------------------------------------------------- alerts


def _cusum_loop(x: np.ndarray, k: float, h: float, n_base: int, min_std: float) -> np.ndarray:
    out = np.zeros(x.shape, dtype=bool)
    for s in range(x.shape[0]):
        base = x[s, :n_base]
        mean, sd = base.mean(), max(base.std(ddof=1), min_std)
        acc = 0.0
        for t in range(n_base, x.shape[1]):
            acc = max(0.0, acc + (x[s, t] - mean) / sd - k)
            out[s, t] = acc > h
    return out


def _ears_loop(x: np.ndarray, baseline: int, lag: int, thr: float, min_std: float):
    out = np.zeros(x.shape, dtype=bool)
    for s in range(x.shape[0]):
        for t in range(baseline + lag, x.shape[1]):
            window = x[s, t - lag - baseline : t - lag]
            sd = max(window.std(ddof=1), min_std)
            out[s, t] = (x[s, t] - window.mean()) / sd > thr
    return out


def test_cusum_equals_loop_and_fires_after_a_planted_step():
    rng = np.random.default_rng(12)
    n_series, n_periods, step_at = 1000, 60, 40
    x = rng.normal(20.0, 2.0, size=(n_series, n_periods))
    stepped = np.arange(n_series) < 500
    x[stepped, step_at:] += 6.0  # a 3-sigma rise
    alerts = risk.cusum_alerts(x, baseline=20, min_std=0.1)
    assert np.array_equal(alerts, _cusum_loop(x, 0.5, 4.0, 20, 0.1))
    assert not alerts[:, :20].any()
    first = np.argmax(alerts[stepped, step_at:], axis=1)
    assert alerts[stepped, step_at:].any(axis=1).all()
    assert np.median(first) <= 2 and first.max() <= 6  # detected within days of the step
    assert alerts[stepped, step_at + 6 :].mean() > 0.95
    # In control this one-sided chart alarms once per ~336 periods with known parameters
    # (Siegmund), more often with a 20-period estimated baseline: about 11% of series in
    # 40 periods with known parameters, about 20% here. A two-sided or unstandardised
    # chart would be far above these bounds.
    calm = alerts[~stepped, 20:]
    assert calm.any(axis=1).mean() < 0.3
    assert calm.mean() < 0.06


def test_cusum_baseline_slice_nan_periods_and_flat_baselines():
    x = np.zeros((3, 12))
    x[0, 8:] = 5.0  # flat zero baseline, then 5 events a period
    x[1, 9] = np.nan  # a missing period neither alarms nor resets
    x[1, 4:] = [0, 0, 0, 0, 9, np.nan, 9, 0]
    x[2, :] = np.nan  # no baseline at all: never alarms
    x[:2, :4] = [[1, 0, 1, 0], [0, 1, 0, 1]]
    alerts = risk.cusum_alerts(x, baseline=slice(0, 8), min_std=1.0)
    assert not alerts[:, :8].any()
    assert alerts[0, 8]  # z = (5 - 0.25) / 1 > h after one period at min_std = 1
    assert not alerts[1, 9] and alerts[1, 10]
    assert not alerts[2].any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baseline": 1}, "baseline"),
        ({"baseline": 100}, "baseline"),
        ({"baseline": slice(0, 10, 2)}, "contiguous"),
        ({"k": -1.0}, "k must"),
        ({"h": float("nan")}, "h must"),
        ({"min_std": 0.0}, "min_std"),
    ],
)
def test_cusum_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        risk.cusum_alerts(np.ones((2, 20)), **kwargs)


def test_alerts_need_2d_series():
    with pytest.raises(ParameterError, match="2-D"):
        risk.cusum_alerts(np.ones(20))
    with pytest.raises(ParameterError, match="2-D"):
        risk.ears_c2(np.ones(20))


def test_ears_c2_equals_loop_and_flags_a_planted_spike():
    rng = np.random.default_rng(13)
    x = rng.poisson(20.0, size=(300, 40)).astype(float)
    x[:100, 30] += 40.0  # a one-period outbreak in a third of the series
    alerts = risk.ears_c2(x)
    assert np.array_equal(alerts, _ears_loop(x, 7, 2, 3.0, 1.0))
    assert not alerts[:, :9].any()  # no full baseline before period 9
    assert alerts[:100, 30].mean() > 0.95
    quiet = np.ones(x.shape, dtype=bool)
    quiet[:100, 30:33] = False  # the spike sits in later baselines for a while
    assert alerts[quiet].mean() < 0.03  # ~1.3%: C2 over a 7-value sample sd is heavy-tailed


def test_ears_c2_short_series_nan_and_parameter_errors():
    assert not risk.ears_c2(np.ones((4, 9))).any()  # shorter than baseline + lag + 1
    x = np.full((2, 15), 3.0)
    x[0, 12] = 10.0  # (10 - 3) / max(0, 1) = 7 > 3 over a flat baseline
    x[1, 5] = np.nan
    x[1, 12] = 10.0
    alerts = risk.ears_c2(x)
    assert alerts[0, 12] and alerts[1, 12] and alerts.sum() == 2
    for kwargs in ({"baseline": 1}, {"lag": -1}, {"threshold": np.inf}, {"min_std": -1}):
        with pytest.raises(ParameterError):
            risk.ears_c2(x, **kwargs)
