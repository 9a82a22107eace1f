"""Getis-Ord Gi* on spatially partitioned cells with a halo (neighbour ring) exchange.

Gi* of a cell needs two things: its neighbourhood's values (local: the spatial lag) and
the mean and variance of all values (global). So the cells are cut into strips along x;
each strip's task receives its own cells plus the halo, every cell of the other strips
within the distance band of the strip (|dx| <= band is necessary for a neighbour, so the
halo is complete), and returns the lag of its own cells only. The client reduces the
global moments from per-strip sums (exact up to reassociation) and forms z the way
`risk.getis_ord_gi_star` does with row-standardised weights ("R", the workflows' choice):
z = (lag - ybar) / s, NaN for isolates, 0 where the values are constant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from geoinfer_workflows.modules import risk
from geoinfer_workflows.validation import check_int, check_positive_float


def _lags(
    coords: np.ndarray, values: np.ndarray, n_own: int, band: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row-standardised spatial lag (self included) and isolate flag of the first `n_own`."""
    W = risk.distance_band_weights(coords, band)
    isolated = risk.isolates(W)[:n_own]
    lag = risk.row_standardize(W + sparse.identity(len(coords), format="csr")) @ values
    return lag[:n_own], isolated


def halo_strips(x: np.ndarray, band: float, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(own, halo) index arrays per strip of about equal cell count along `x`.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.distributed.hotspots import halo_strips
    >>> [(own.tolist(), halo.tolist()) for own, halo in halo_strips(np.arange(6.0), 1.0, 2)]
    [([0, 1, 2], [3]), ([3, 4, 5], [2])]
    """
    order = np.argsort(x, kind="stable")
    strips = []
    for own in np.array_split(order, parts):
        if own.size == 0:
            continue
        lo, hi = x[own].min() - band, x[own].max() + band
        near = np.flatnonzero((x >= lo) & (x <= hi))
        strips.append((own, np.setdiff1d(near, own)))
    return strips


def gi_star_partitioned(
    client: Any, coords: Any, values: Any, band: float, *, parts: int = 4
) -> np.ndarray:
    """Gi* z per cell (rows of `coords`, metres) for `values` ((n,) or (n, m)), in `parts`
    strips on the cluster; equals ``risk.getis_ord_gi_star(values, W).z`` with
    ``W = risk.distance_band_weights(coords, band)``."""
    coords = np.asarray(coords, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    band = check_positive_float(band, "band")
    parts = check_int(parts, "parts", 1)
    strips = halo_strips(coords[:, 0], band, parts)
    futures = [
        client.submit(_lags, coords[np.r_[own, halo]], y[np.r_[own, halo]], own.size, band)
        for own, halo in strips
    ]
    lag, isolated = np.empty_like(y), np.empty(len(y), dtype=bool)
    for (own, _), (own_lag, own_isolated) in zip(strips, client.gather(futures), strict=True):
        lag[own], isolated[own] = own_lag, own_isolated
    n = len(y)
    ybar = sum(y[own].sum(axis=0) for own, _ in strips) / n
    var = sum(((y[own] - ybar) ** 2).sum(axis=0) for own, _ in strips) / n
    scale = np.maximum(np.abs(y).max(axis=0), np.finfo(float).tiny)
    varies = np.ptp(y, axis=0) > 1e-9 * scale
    sd = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(varies & (sd > 0), (lag - ybar) / np.where(sd > 0, sd, 1.0), 0.0)
    z[isolated] = np.nan
    return z
