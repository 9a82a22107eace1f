"""BAYES: empirical-Bayes smoothing of rates (global and spatially local shrinkage).

A raw rate from a cell of 40 people jumps between 0 and 2,500 per 100,000 on one case;
mapped as is, the smallest populations dominate every hotspot map. Empirical Bayes treats
each cell's true rate as drawn from a prior whose mean and variance are estimated from
the data (Marshall 1991, method of moments) and shrinks each raw rate towards the prior
mean in proportion to how little population backs it. Definitions follow PySAL esda's
`Empirical_Bayes` and `Spatial_Empirical_Bayes` (esda/smoothing.py).

Rates are per person (cases / population); multiply by 1e5 to compare with
`health.rates`. Counts may be 1-D (one value per cell) or 2-D (cell x week, each week
smoothed as its own cross-section) with a population per cell or per cell-week.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.health import align_population
from geoinfer_workflows.modules.risk import check_weights

__all__ = ["eb_global", "eb_local"]


def _validated(counts: np.ndarray, population: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e, b = align_population(counts, population)
    bad = (b == 0) & (e > 0)
    if bad.any():
        raise ParameterError(
            f"{int(bad.sum())} cell(s) have cases but zero population, so no rate exists; "
            "give those cells their population (or drop them) before smoothing"
        )
    if np.any(b.sum(axis=0) <= 0):
        raise ParameterError("total population is zero (in at least one week): nothing to smooth")
    return e, b


def _raw_rate(e: np.ndarray, b: np.ndarray) -> np.ndarray:
    """e / b, with 0 where b == 0 (such a cell then carries no weight, see _shrink)."""
    return np.divide(e, b, out=np.zeros_like(e), where=b > 0)


def _shrink(
    rate: np.ndarray, b: np.ndarray, prior_mean: np.ndarray, prior_var: np.ndarray
) -> np.ndarray:
    """Posterior-mean rate m + w (r - m), w = a / (a + m / b): Marshall's shrinkage weight.

    w -> 1 for large populations (trust the data), -> 0 for tiny ones (trust the prior),
    and is exactly 0 without population or without prior variance (a = 0, or a = m = 0).
    """
    prior_mean = np.broadcast_to(prior_mean, b.shape)
    sampling_var = np.divide(prior_mean, b, out=np.full(b.shape, np.inf), where=b > 0)
    den = prior_var + sampling_var
    weight = np.divide(prior_var, den, out=np.zeros_like(den), where=(den > 0) & (prior_var > 0))
    return prior_mean + weight * (rate - prior_mean)


def eb_global(counts: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Global empirical-Bayes rates (esda `Empirical_Bayes`, Marshall 1991).

    Prior mean m = sum(e) / sum(b); prior variance
    a = sum(b_i (r_i - m)^2) / sum(b_i) - m / mean(b_i), clipped at 0 (esda leaves it
    negative, which would give weights outside [0, 1]); smoothed r_i = m + w_i (r_i - m)
    with w_i = a / (a + m / b_i). Cells without population get the prior mean (their
    posterior without data) and do not count in mean(b_i). For 2-D input every week
    (column) has its own prior.

    Parameters
    ----------
    counts : array_like, shape (n_cells,) or (n_cells, n_weeks)
        Case counts e (finite, non-negative).
    population : array_like
        People at risk b, per cell or per cell-week (as `health.align_population`); a cell
        with cases must have population.

    Returns
    -------
    numpy.ndarray
        Rates per person shrunk towards the study area's rate, float64, of the counts'
        shape.

    Examples
    --------
    The two cells of 200 people move most of the way to the study-area rate (255 per
    100,000), the two of 20,000 people barely move:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import bayes
    >>> counts, population = np.array([0, 3, 40, 60]), np.array([200, 200, 20_000, 20_000])
    >>> (counts / population * 1e5).round(1).tolist()
    [0.0, 1500.0, 200.0, 300.0]
    >>> (bayes.eb_global(counts, population) * 1e5).round(1).tolist()
    [239.9, 328.2, 207.6, 293.8]
    """
    e, b = _validated(counts, population)
    rate = _raw_rate(e, b)
    b_sum = b.sum(axis=0)
    m = e.sum(axis=0) / b_sum
    n_populated = np.count_nonzero(b > 0, axis=0)
    spread = (b * (rate - m) ** 2).sum(axis=0) / b_sum
    a = np.maximum(spread - m / (b_sum / n_populated), 0.0)
    return _shrink(rate, b, m, a)


def eb_local(
    counts: np.ndarray,
    population: np.ndarray,
    W: sparse.spmatrix | sparse.sparray | np.ndarray,
) -> np.ndarray:
    """Spatial empirical-Bayes rates (esda `Spatial_Empirical_Bayes`).

    Each cell's prior comes from its neighbourhood N_i = neighbours in W (binary: only
    which cells are linked matters, as in esda's Spatial_Rate) plus the cell itself:
    m_i = sum_N e / sum_N b; a_i = sum_N b_j (r_j - m_i)^2 / sum_N b - m_i / (sum_N b / |N_i|),
    clipped at 0; then the same shrinkage as `eb_global` towards m_i. All sums are one
    sparse product or one pass over W's non-zeros (the squared deviations are summed
    per non-zero, not by expanding the square, so no cancellation). A neighbourhood
    without population falls back on the global rate with no prior variance.

    Parameters
    ----------
    counts : array_like, shape (n_cells,) or (n_cells, n_weeks)
        Case counts e (finite, non-negative).
    population : array_like
        People at risk b, per cell or per cell-week (as `health.align_population`).
    W : sparse matrix or array_like, shape (n_cells, n_cells)
        Spatial weights (`risk.distance_band_weights`, `risk.knn_weights`); only which
        cells are linked is used.

    Returns
    -------
    numpy.ndarray
        Rates per person shrunk towards each cell's neighbourhood rate, float64, of the
        counts' shape.

    Examples
    --------
    Four cells in a row: the small cell 1 (1,500 per 100,000 on 3 cases) shrinks towards
    its neighbourhood, which its populous neighbour 2 dominates:

    >>> import numpy as np
    >>> from scipy import sparse
    >>> from geoinfer_workflows.modules import bayes
    >>> W = sparse.csr_matrix((np.ones(6), ([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2])), shape=(4, 4))
    >>> counts, population = np.array([0, 3, 40, 60]), np.array([200, 200, 20_000, 20_000])
    >>> (bayes.eb_local(counts, population, W) * 1e5).round(1).tolist()
    [500.0, 359.5, 207.5, 275.0]
    """
    e, b = _validated(counts, population)
    n = e.shape[0]
    linked = check_weights(W, n)
    A = sparse.csr_matrix((np.ones(linked.nnz), linked.indices, linked.indptr), shape=(n, n))
    A = (A + sparse.identity(n, format="csr")).tocsr()
    A.data[:] = 1.0  # the sum made an existing self-link 2: it must count once
    rate = _raw_rate(e, b)
    B = A @ b
    global_rate = e.sum(axis=0) / b.sum(axis=0)
    m = np.divide(A @ e, B, out=np.broadcast_to(global_rate, e.shape).copy(), where=B > 0)
    rows = np.repeat(np.arange(n), np.diff(A.indptr))
    cols = A.indices
    sq_dev = b[cols] * (rate[cols] - m[rows]) ** 2
    spread = np.add.reduceat(sq_dev, A.indptr[:-1], axis=0)  # every row holds its self-link
    size = np.diff(A.indptr).astype(np.float64)
    if e.ndim == 2:
        size = size[:, None]
    mean_b = B / size
    a = np.divide(spread, B, out=np.zeros_like(B), where=B > 0) - np.divide(
        m, mean_b, out=np.zeros_like(B), where=B > 0
    )
    return _shrink(rate, b, m, np.maximum(a, 0.0))
