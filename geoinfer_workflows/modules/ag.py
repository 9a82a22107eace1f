"""AG: vegetation indices, management zones and irrigation need for precision farming.

Band rasters and sensor grids are plain numpy arrays of any shape; every function is an
elementwise expression or one clustering call, so a 1e6-pixel field costs a few passes.
"""

from __future__ import annotations

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.space import kmeans, nearest_center
from geoinfer_workflows.validation import (
    as_real_array,
    check_int,
    check_non_negative_float,
    check_positive_float,
    check_real,
)

__all__ = ["irrigation_need_mm", "management_zones", "ndvi", "savi", "zone_features"]


def _band(x: np.ndarray, name: str) -> np.ndarray:
    """Reflectance band as float64: integer digital numbers would wrap on subtraction."""
    return as_real_array(x, name).astype(np.float64, copy=False)


def _normalised_ratio(num: np.ndarray, den: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """num / den clipped to [-1, 1] where `valid`, NaN elsewhere, without float warnings."""
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=valid)
    return np.clip(out, -1.0, 1.0, out=out)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Normalised difference vegetation index (nir - red) / (nir + red), in [-1, 1].

    NaN where a band is not finite or the reflectances sum to zero or less (no signal, or
    a nonsensical pixel). Atmospherically corrected reflectances can be slightly negative
    over dark targets, which pushes the ratio past +-1: it is clipped back, because the
    index is bounded by definition.

    Parameters
    ----------
    red, nir : array_like
        Red and near-infrared reflectances, same shape.

    Returns
    -------
    numpy.ndarray
        float64 NDVI of that shape.

    Examples
    --------
    Vigorous canopy, bare soil, and a pixel with no signal:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import ag
    >>> ag.ndvi(np.array([0.1, 0.05, 0.0]), np.array([0.5, 0.05, 0.0])).round(3).tolist()
    [0.667, 0.0, nan]
    """
    r, n = _band(red, "red"), _band(nir, "nir")
    total = n + r
    valid = np.isfinite(r) & np.isfinite(n) & (total > 0)
    return _normalised_ratio(n - r, total, valid)


def savi(red: np.ndarray, nir: np.ndarray, L: float = 0.5) -> np.ndarray:
    """Soil-adjusted vegetation index (1 + L)(nir - red) / (nir + red + L), in [-1, 1].

    The soil term L damps the soil-brightness signal that dominates NDVI over sparse
    canopies (L=0.5 is Huete's intermediate-cover value; L=0 gives NDVI). Same NaN and
    clipping rules as `ndvi`.

    Parameters
    ----------
    red, nir : array_like
        Red and near-infrared reflectances, same shape.
    L : float
        Soil adjustment (>= 0).

    Returns
    -------
    numpy.ndarray
        float64 SAVI of that shape.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import ag
    >>> red, nir = np.array([0.1]), np.array([0.5])
    >>> ag.savi(red, nir).round(3).tolist(), ag.savi(red, nir, L=0.0).round(3).tolist()
    ([0.545], [0.667])
    """
    check_non_negative_float(L, "L", note="a soil factor, usually 0..1")
    r, n = _band(red, "red"), _band(nir, "nir")
    total = n + r + L
    valid = np.isfinite(r) & np.isfinite(n) & (total > 0)
    return _normalised_ratio((1.0 + L) * (n - r), total, valid)


def zone_features(*columns: np.ndarray) -> np.ndarray:
    """(n, d) matrix of z-scored columns, so each feature weighs equally in k-means.

    Columns of any shape are flattened (a soil-moisture grid and an NDVI raster of the
    same grid line up pixel by pixel). Means and deviations come from each column's finite
    values; non-finite entries stay NaN, and `management_zones` leaves those rows
    unlabelled. A constant column carries no information and becomes all zeros.

    Parameters
    ----------
    *columns : array_like
        One array per feature, all of the same size.

    Returns
    -------
    numpy.ndarray
        float64, shape (size, number of columns).

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import ag
    >>> features = ag.zone_features(np.array([0.1, 0.2, 0.3]), np.array([0.5, np.nan, 0.7]))
    >>> features.round(3).tolist()
    [[-1.225, -1.0], [-0.0, nan], [1.225, 1.0]]
    """
    if not columns:
        raise ParameterError("zone_features needs at least one feature column")
    flat = [_band(c, f"column {i}").ravel() for i, c in enumerate(columns)]
    sizes = {c.size for c in flat}
    if len(sizes) != 1:
        raise ParameterError(f"feature columns must have the same number of values, got {sizes}")
    out = np.empty((flat[0].size, len(flat)))
    for j, column in enumerate(flat):  # a loop over features (d ~ 2-5), not rows
        out[:, j] = _zscore(column)
    return out


def _zscore(column: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the finite values; NaN where x is not finite, 0 if constant."""
    finite = np.isfinite(column)
    n = np.count_nonzero(finite)
    if n == 0:
        return np.full(column.shape, np.nan)
    values = column if n == column.size else column[finite]
    mean = values.mean()
    std = values.std()
    z = (column - mean) / std if std > 0 else np.zeros(column.shape)
    if n < column.size:
        z[~finite] = np.nan
    return z


def management_zones(
    features: np.ndarray, n_zones: int, *, seed: int = 0, fit_rows: int = 20_000
) -> np.ndarray:
    """Zone label per row (k-means on the features), -1 for rows with missing features.

    Centres are fitted on at most `fit_rows` rows drawn without replacement (seeded), then
    every row is labelled by its nearest centre: a few zones in two or three features are
    pinned down by 20,000 pixels, and the full raster costs one assignment pass instead of
    n_init x iterations of them.

    Zones are renumbered by the mean of the first feature (zone 0 lowest), so with soil
    moisture first, zone 0 is the driest, and labels are stable across seeds and runs
    instead of following k-means' arbitrary cluster order.

    Parameters
    ----------
    features : array_like, shape (n, d)
        Feature rows, e.g. from `zone_features`; rows with a NaN are not labelled.
    n_zones : int
        Number of zones (>= 1).
    seed : int
        Seed of the row sample and of k-means.
    fit_rows : int
        At most this many rows fit the centres (>= 1).

    Returns
    -------
    numpy.ndarray
        int64 zone per row, -1 where a feature is missing.

    Examples
    --------
    A dry, sparse pair of pixels, a wet, green pair, and a pixel without moisture:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import ag
    >>> moisture = np.array([0.10, 0.12, 0.30, 0.32, np.nan])
    >>> greenness = np.array([0.20, 0.22, 0.80, 0.82, 0.50])
    >>> ag.management_zones(ag.zone_features(moisture, greenness), 2).tolist()
    [0, 0, 1, 1, -1]
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ParameterError(f"features must be an (n, d) matrix, got shape {x.shape}")
    # Column by column: a row-wise all() over a few features is a short reduction per row,
    # ~10x slower than d whole-column passes on a raster's 1e5+ rows.
    complete = np.isfinite(x[:, 0])
    for j in range(1, x.shape[1]):
        complete &= np.isfinite(x[:, j])
    n_ok = int(np.count_nonzero(complete))
    n_zones = check_int(n_zones, "n_zones", 1, n_ok, note="up to the complete feature rows")
    fit_rows = check_int(fit_rows, "fit_rows", n_zones, note="at least n_zones")
    rows = x if n_ok == len(x) else x[complete]  # only read below: no copy when all complete
    if n_ok > fit_rows:
        sample = np.sort(np.random.default_rng(seed).choice(n_ok, fit_rows, replace=False))
        centers = kmeans(rows[sample], n_zones, seed=seed).centers
        zone = nearest_center(rows, centers)
    else:
        fit = kmeans(rows, n_zones, seed=seed)
        centers, zone = fit.centers, fit.labels
    rank = np.empty(n_zones, dtype=np.int64)
    rank[np.argsort(np.asarray(centers)[:, 0], kind="stable")] = np.arange(n_zones)
    labels = np.full(x.shape[0], -1, dtype=np.int64)
    labels[complete] = rank[np.asarray(zone)]
    return labels


def irrigation_need_mm(
    soil_moisture: np.ndarray,
    *,
    field_capacity: float = 0.32,
    wilting_point: float = 0.12,
    root_depth_mm: float = 300.0,
    mad: float = 0.5,
) -> np.ndarray:
    """Water (mm) to bring the root zone back to field capacity, FAO-56 style.

    Total available water TAW = (FC - WP) * root depth; depletion Dr = (FC - theta) * root
    depth. Irrigation is triggered only once Dr exceeds the management-allowed depletion
    MAD * TAW (before that the crop is not stressed and watering wastes water), and then
    refills the whole deficit Dr. Wetter than field capacity needs nothing; a missing
    reading (NaN) gives NaN, so a dead sensor is not mistaken for a wet field.

    Parameters
    ----------
    soil_moisture : array_like
        Volumetric water content theta (m3/m3); NaN for a missing reading.
    field_capacity, wilting_point : float
        FC and WP (m3/m3), 0 <= WP < FC.
    root_depth_mm : float
        Depth of the root zone (> 0).
    mad : float
        Management-allowed depletion, a fraction of TAW in [0, 1].

    Returns
    -------
    numpy.ndarray
        float64 millimetres of water, of the input's shape.

    Examples
    --------
    With the defaults TAW is 60 mm and irrigation starts past 30 mm of depletion: 0.30
    (6 mm depleted) needs nothing, 0.20 (36 mm) needs all 36 mm:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import ag
    >>> ag.irrigation_need_mm(np.array([0.30, 0.20, 0.35, np.nan])).round(6).tolist()
    [0.0, 36.0, 0.0, nan]
    """
    _check_soil_parameters(field_capacity, wilting_point, root_depth_mm, mad)
    theta = _band(soil_moisture, "soil_moisture")
    taw = (field_capacity - wilting_point) * root_depth_mm
    depletion = (field_capacity - theta) * root_depth_mm
    need = np.where(depletion > mad * taw, depletion, 0.0)
    return np.where(np.isnan(theta), np.nan, need)


def _check_soil_parameters(fc: float, wp: float, root_depth_mm: float, mad: float) -> None:
    """Volumetric water contents are fractions with WP < FC; depth and MAD must be sane.

    Validation only: the values are used as given (their float conversions are not kept).
    """
    fraction = "a volumetric water fraction"
    wilting = check_real(wp, "wilting_point", 0.0, 1.0, note=fraction)
    capacity = check_real(fc, "field_capacity", 0.0, 1.0, note=fraction)
    if not wilting < capacity:
        raise ParameterError(
            f"need wilting_point < field_capacity, got wilting_point={wp}, field_capacity={fc}"
        )
    check_positive_float(root_depth_mm, "root_depth_mm")
    check_real(mad, "mad", 0.0, 1.0, note="a fraction of TAW")
