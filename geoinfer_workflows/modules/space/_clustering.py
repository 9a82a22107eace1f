"""The single entry `cluster`: (n, 2) lat/lon points through kmeans, dbscan or hierarchical."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.space._dbscan import dbscan
from geoinfer_workflows.modules.space._geometry import _coords, local_xy_m
from geoinfer_workflows.modules.space._hierarchical import hierarchical
from geoinfer_workflows.modules.space._kmeans import kmeans
from geoinfer_workflows.validation import as_float_array, check_options


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

    Parameters
    ----------
    points : array_like, shape (n, 2)
        [lat, lon] degrees, finite.
    algorithm : {"kmeans", "dbscan", "hierarchical"}
        Which clustering.
    **params
        That algorithm's parameters, defaults: kmeans ``k=8, n_init=3, max_iter=100,
        tol=1e-4, seed=0``; dbscan ``eps_m=500.0, min_samples=5``; hierarchical
        ``n_clusters=8, method="ward", max_exact=4000, seed=0``. Other names are refused.

    Returns
    -------
    ClusterResult
        int64 `labels` (-1 = noise), `n_clusters` (noise excluded), the `algorithm`, and
        `inertia` in square metres for kmeans (None otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import space
    >>> pts = np.array([[40.0, -3.0], [40.001, -3.0], [40.0, -3.001], [41.0, -2.0], [41.001, -2.0]])
    >>> found = space.cluster(pts, "dbscan", eps_m=500.0, min_samples=2)
    >>> found.labels.tolist(), found.n_clusters
    ([0, 0, 0, 1, 1], 2)
    >>> space.cluster(pts, "kmeans", k=2).n_clusters
    2
    """
    check_options(algorithm, "clustering algorithm", _ALGORITHMS)
    unknown = sorted(set(params) - set(_ALGORITHM_PARAMS[algorithm]))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)} for {algorithm}; "
            f"valid: {', '.join(_ALGORITHM_PARAMS[algorithm])}"
        )
    pts = as_float_array(points, "points")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ParameterError(f"points must be an (n, 2) array of [lat, lon], got {pts.shape}")
    lat, lon = _coords(pts[:, 0], pts[:, 1], "points")
    labels, inertia = _ALGORITHMS[algorithm](lat, lon, **params)
    n_clusters = int(np.unique(labels[labels >= 0]).size)
    return ClusterResult(labels=labels, n_clusters=n_clusters, algorithm=algorithm, inertia=inertia)
