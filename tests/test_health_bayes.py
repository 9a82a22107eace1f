"""HEALTH and BAYES: counts, rates, expected counts and empirical-Bayes smoothing.

Every result is checked against an independent brute-force computation (plain loops over
cells, written from the published formulas) or against structure planted in the data.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import sparse

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules import bayes, health, risk
from geoinfer_workflows.modules.temporal import WEEK_S

T0 = 1_700_000_000


# --------------------------------------------------------------------------- HEALTH


def _reports(seed: int = 0, n: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cells = rng.choice(np.array([11, 42, 7, 99, 1000], dtype=np.uint64), size=n)
    t = T0 + rng.integers(0, 10 * WEEK_S, size=n, dtype=np.int64)
    return cells, t


def test_cell_week_counts_matches_a_dictionary_count():
    cells, t = _reports()
    out = health.cell_week_counts(cells, t)
    assert out.week0 == int(t.min())
    expected = Counter(zip(cells.tolist(), ((t - t.min()) // WEEK_S).tolist(), strict=True))
    assert out.counts.dtype == np.int64
    assert out.counts.sum() == len(cells)
    for (cell, week), count in expected.items():
        row = int(np.searchsorted(out.cells, cell))
        assert out.cells[row] == cell
        assert out.counts[row, week] == count
    assert np.array_equal(out.totals, out.counts.sum(axis=1))


def test_cell_week_counts_explicit_grid_pads_weeks_and_accepts_datetime64():
    cells, t = _reports(seed=1)
    t0 = T0 - 3 * WEEK_S
    out = health.cell_week_counts(cells, t, t0=t0, n_weeks=20)
    assert out.week0 == t0
    assert out.counts.shape == (5, 20)
    assert out.counts[:, :3].sum() == 0  # weeks before the first report
    assert out.counts[:, 13:].sum() == 0  # trailing weeks without reports stay visible
    as_dt = health.cell_week_counts(cells, t.astype("datetime64[s]"), t0=t0, n_weeks=20)
    assert np.array_equal(as_dt.counts, out.counts)


def test_cell_week_counts_rejects_caller_mistakes():
    cells, t = _reports()
    with pytest.raises(ParameterError, match="precedes t0"):
        health.cell_week_counts(cells, t, t0=int(t.min()) + 1)
    with pytest.raises(ParameterError, match="n_weeks"):
        health.cell_week_counts(cells, t, n_weeks=3)
    with pytest.raises(ParameterError, match="same length"):
        health.cell_week_counts(cells[:-1], t)
    with pytest.raises(ParameterError, match="epoch seconds"):
        health.cell_week_counts(cells, t.astype(np.float64))


def test_rates_per_population_with_nan_for_zero_population():
    counts = np.array([0, 3, 10, 2])
    population = np.array([1000.0, 30_000.0, 0.0, 200.0])
    r = health.rates(counts, population)  # warnings are errors: no divide warning
    assert np.isnan(r[2])
    assert np.allclose(r[[0, 1, 3]], [0.0, 10.0, 1000.0])
    assert np.allclose(health.rates(counts, population, per=1.0)[[1]], [1e-4])


def test_rates_2d_reuses_a_per_cell_population_as_vector_or_column():
    rng = np.random.default_rng(2)
    counts = rng.poisson(3, size=(6, 4))
    population = rng.uniform(500, 5000, size=6)
    brute = np.array([[counts[i, w] / population[i] * 1e5 for w in range(4)] for i in range(6)])
    assert np.allclose(health.rates(counts, population), brute, rtol=1e-14)
    assert np.allclose(health.rates(counts, population[:, None]), brute, rtol=1e-14)


@pytest.mark.parametrize(
    ("counts", "population", "match"),
    [
        (np.array([1, 2]), np.array([10.0, -1.0]), "non-negative"),
        (np.array([1, -2]), np.array([10.0, 1.0]), "non-negative"),
        (np.array([1, 2]), np.array([10.0, 1.0, 3.0]), "does not match"),
        (np.array([1, 2]), np.array([10.0, np.nan]), "finite"),
        (np.ones((2, 3)), np.ones(3), "does not match"),
    ],
)
def test_rates_reject_bad_inputs(counts, population, match):
    with pytest.raises(ParameterError, match=match):
        health.rates(counts, population)


def test_expected_counts_1d_indirect_standardisation():
    counts = np.array([5, 0, 12, 3])
    population = np.array([1000.0, 500.0, 2500.0, 1000.0])
    overall = counts.sum() / population.sum()
    expected = health.expected_counts(counts, population)
    assert np.allclose(expected, [p * overall for p in population], rtol=1e-14)
    assert np.isclose(expected.sum(), counts.sum())
    sir = health.standardized_ratio(counts, expected)
    assert np.isclose((sir * expected).sum() / expected.sum(), 1.0)  # study area SIR is 1


def test_expected_counts_2d_uses_each_weeks_own_rate():
    rng = np.random.default_rng(3)
    counts = rng.poisson(4, size=(8, 5)) * np.arange(1, 6)  # an epidemic wave over weeks
    population = rng.uniform(100, 1000, size=8)
    expected = health.expected_counts(counts, population)
    for w in range(5):
        week_rate = counts[:, w].sum() / population.sum()
        assert np.allclose(expected[:, w], population * week_rate, rtol=1e-14)
    assert np.allclose(expected.sum(axis=0), counts.sum(axis=0))


def test_expected_counts_zero_total_population_is_a_parameter_error():
    with pytest.raises(ParameterError, match="total population is zero"):
        health.expected_counts(np.array([0, 0]), np.array([0.0, 0.0]))


def test_standardized_ratio_nan_where_nothing_expected_and_shapes_checked():
    sir = health.standardized_ratio(np.array([2.0, 0.0, 1.0]), np.array([1.0, 0.0, 4.0]))
    assert sir[0] == 2.0 and np.isnan(sir[1]) and sir[2] == 0.25
    with pytest.raises(ParameterError, match="differs"):
        health.standardized_ratio(np.ones(3), np.ones(4))


# --------------------------------------------------------------------------- BAYES


def _eb_global_bruteforce(e: np.ndarray, b: np.ndarray) -> np.ndarray:
    """esda Empirical_Bayes written out per cell (with the variance clipped at 0)."""
    n = len(e)
    m = sum(e) / sum(b)
    r = [e[i] / b[i] for i in range(n)]
    left = sum(b[i] * (r[i] - m) ** 2 for i in range(n)) / sum(b)
    a = max(left - m / (sum(b) / n), 0.0)
    return np.array([m + a / (a + m / b[i]) * (r[i] - m) for i in range(n)])


def _eb_local_bruteforce(e: np.ndarray, b: np.ndarray, dense_w: np.ndarray) -> np.ndarray:
    """esda Spatial_Empirical_Bayes written out neighbourhood by neighbourhood."""
    n = len(e)
    rate = e / b
    out = np.empty(n)
    for i in range(n):
        ngh = [j for j in range(n) if dense_w[i, j] != 0 and j != i] + [i]
        m = sum(e[j] for j in ngh) / sum(b[j] for j in ngh)
        bi = sum(b[j] for j in ngh)
        left = sum((rate[j] - m) ** 2 * b[j] for j in ngh) / bi
        a = max(left - m / (bi / len(ngh)), 0.0)
        weight = a / (a + m / b[i]) if a > 0 else 0.0  # a = m = 0: nothing to shrink
        out[i] = m + (rate[i] - m) * weight
    return out


def _overdispersed(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Cells whose true rates vary (gamma prior) and whose populations span 3 decades."""
    rng = np.random.default_rng(seed)
    population = np.exp(rng.uniform(np.log(50), np.log(50_000), n))
    true_rate = rng.gamma(4.0, 1e-3 / 4.0, n)
    return rng.poisson(true_rate * population).astype(np.int64), population


def test_eb_global_equals_bruteforce():
    e, b = _overdispersed(0)
    assert np.allclose(bayes.eb_global(e, b), _eb_global_bruteforce(e, b), rtol=1e-12, atol=0)


def test_eb_global_shrinks_small_populations_most_and_keeps_the_global_rate():
    e, b = _overdispersed(1)
    raw = e / b
    m = e.sum() / b.sum()
    eb = bayes.eb_global(e, b)
    moved = raw != m
    factor = (eb[moved] - m) / (raw[moved] - m)  # 1 = kept raw, 0 = fully shrunk
    order = np.argsort(b[moved])
    assert np.all((factor >= 0) & (factor <= 1))
    assert np.all(np.diff(factor[order]) >= -1e-12)  # more population, less shrinkage
    assert factor[order][:10].mean() < 0.2 < 0.8 < factor[order][-10:].mean()
    assert np.isclose((eb * b).sum() / b.sum(), m, rtol=0.05)
    assert np.var(eb) < np.var(raw)  # the small-population noise is what goes


def test_eb_global_without_extra_variation_returns_the_global_rate():
    b = np.array([100.0, 1000.0, 400.0, 2500.0])
    e = b * 0.01  # every cell has exactly the global rate: prior variance clips to 0
    assert np.allclose(bayes.eb_global(e, b), 0.01, rtol=1e-14)


def test_eb_global_2d_smooths_each_week_separately_and_handles_empty_cells():
    e, b = _overdispersed(2, n=50)
    e2 = np.stack([e, e[::-1], np.zeros_like(e)], axis=1)
    eb = bayes.eb_global(e2, b)
    assert np.allclose(eb[:, 0], _eb_global_bruteforce(e, b), rtol=1e-12)
    assert np.allclose(eb[:, 1], _eb_global_bruteforce(e[::-1], b), rtol=1e-12)
    assert np.all(eb[:, 2] == 0.0)  # a week without cases
    b0 = b.copy()
    b0[3] = 0.0
    e0 = e.copy()
    e0[3] = 0
    smoothed = bayes.eb_global(e0, b0)
    assert np.isclose(smoothed[3], e0.sum() / b0.sum())  # no data: the prior mean


def test_eb_parameter_errors():
    with pytest.raises(ParameterError, match="zero population"):
        bayes.eb_global(np.array([1, 2]), np.array([0.0, 10.0]))
    with pytest.raises(ParameterError, match="non-negative"):
        bayes.eb_global(np.array([1, 2]), np.array([-5.0, 10.0]))
    with pytest.raises(ParameterError, match="does not match"):
        bayes.eb_global(np.array([1, 2]), np.array([5.0, 10.0, 1.0]))
    with pytest.raises(ParameterError, match="shape"):
        bayes.eb_local(np.array([1, 2, 3]), np.ones(3), sparse.eye(4, format="csr"))


@pytest.mark.parametrize("kind", ["knn", "band", "weighted_with_diagonal"])
def test_eb_local_equals_bruteforce_per_neighbourhood(kind):
    rng = np.random.default_rng(4)
    e, b = _overdispersed(4, n=80)
    xy = rng.uniform(0, 10, (80, 2))
    if kind == "knn":
        W = risk.knn_weights(xy, 5)  # asymmetric
    elif kind == "band":
        W = risk.distance_band_weights(xy, 1.2)  # with some isolates
        assert risk.isolates(W).any()
    else:
        W = risk.knn_weights(xy, 4).multiply(rng.uniform(0.1, 3, (80, 80))).tocsr()
        W = (W + sparse.diags(rng.uniform(0.5, 2, 80))).tocsr()
    expected = _eb_local_bruteforce(e.astype(float), b, W.toarray())
    assert np.allclose(bayes.eb_local(e, b, W), expected, rtol=1e-12, atol=0)


def test_eb_local_without_neighbours_keeps_raw_rates_and_2d_matches_columns():
    e, b = _overdispersed(5, n=40)
    empty = sparse.csr_matrix((40, 40))
    assert np.allclose(bayes.eb_local(e, b, empty), e / b, rtol=1e-14)
    W = risk.knn_weights(np.random.default_rng(5).uniform(size=(40, 2)), 4)
    e2 = np.stack([e, np.roll(e, 3)], axis=1)
    both = bayes.eb_local(e2, b, W)
    assert np.allclose(both[:, 0], bayes.eb_local(e, b, W), rtol=1e-14)
    assert np.allclose(both[:, 1], bayes.eb_local(np.roll(e, 3), b, W), rtol=1e-14)


def test_eb_local_shrinks_towards_the_neighbourhood_not_the_globe():
    # Two regions with very different true rates: local EB keeps them apart, global EB
    # pulls both towards the overall mean.
    rng = np.random.default_rng(6)
    n = 200
    xy = np.column_stack(
        [np.r_[rng.uniform(0, 1, n // 2), rng.uniform(5, 6, n // 2)], rng.uniform(0, 1, n)]
    )
    b = rng.uniform(100, 400, n)
    true = np.r_[np.full(n // 2, 1e-3), np.full(n // 2, 1e-2)]
    e = rng.poisson(true * b)
    W = risk.knn_weights(xy, 8)
    local, global_ = bayes.eb_local(e, b, W), bayes.eb_global(e, b)
    err_local = np.abs(local - true).mean()
    err_global = np.abs(global_ - true).mean()
    assert err_local < 0.6 * err_global
