"""Interpolation onto grids: regular grid centres and inverse-distance weighting."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.space._geometry import _coords, _metres_for_chord, unit_xyz
from geoinfer_workflows.validation import as_float_array, check_int, check_positive_float


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
    rows = check_int(rows, "grid rows", 1)
    cols = check_int(cols, "grid cols", 1)
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

    Parameters
    ----------
    lat, lon : array_like
        Sample positions, degrees, same shape, finite.
    values : array_like
        One value per sample (same shape as `lat`); NaN samples are ignored.
    grid_lat, grid_lon : array_like
        Target positions, degrees, same shape (e.g. from `grid_points`).
    k : int
        Nearest samples used per target (>= 1; fewer if there are fewer samples).
    power : float
        Exponent of the inverse distance (> 0).

    Returns
    -------
    numpy.ndarray
        float64 estimates shaped like `grid_lat`.

    Examples
    --------
    Two samples one degree apart on the equator; targets on, between and near them:

    >>> from geoinfer_workflows.modules import space
    >>> est = space.idw([0.0, 0.0], [0.0, 1.0], [10.0, 20.0], [0.0, 0.0, 0.0], [0.0, 0.5, 0.25])
    >>> est.round(6).tolist()
    [10.0, 15.0, 11.0]
    """
    lat, lon = _coords(lat, lon, "samples")
    values = as_float_array(values, "values")
    if values.shape != lat.shape:
        raise ParameterError(f"values shape {values.shape} differs from samples {lat.shape}")
    grid_lat, grid_lon = _coords(grid_lat, grid_lon, "grid")
    k = check_int(k, "k", 1)
    power = check_positive_float(power, "power")
    usable = np.isfinite(values.ravel())
    if not usable.any():
        raise ParameterError("idw needs at least one sample with a finite value")
    sample_values = values.ravel()[usable]
    # Sliding-midpoint splits (balanced_tree=False): a third of the build time and no
    # slower queries on layouts as even as sensor grids. The neighbours are the same; only
    # samples at exactly equal distances could come back in another order.
    tree = cKDTree(unit_xyz(lat.ravel()[usable], lon.ravel()[usable]), balanced_tree=False)
    chord, idx = tree.query(unit_xyz(grid_lat, grid_lon), k=min(k, sample_values.size))
    chord = chord.reshape(grid_lat.size, -1)  # k = 1 gives 1-D results
    idx = idx.reshape(grid_lat.size, -1)
    dist = _metres_for_chord(chord)
    on_sample = dist[:, 0] == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = (dist[:, :1] / dist) ** power
    if on_sample.any():  # targets on a sample take it (the mean of coincident ones)
        weights[on_sample] = dist[on_sample] == 0.0
    estimate = (weights * sample_values[idx]).sum(axis=1) / weights.sum(axis=1)
    return estimate.reshape(grid_lat.shape)
