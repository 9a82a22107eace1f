"""Geometry on the sphere: great-circle distance, unit vectors, local metric projection.

Coordinates are degrees (lat, lon). Chord distances between unit vectors (`unit_xyz`)
order points exactly as great-circle distance does, which is what lets the KD-tree
searches of dbscan and idw work on the sphere with no pole or antimeridian special case.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import as_float_array

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius R1 = (2a + b) / 3, metres


def _coords(lat: Any, lon: Any, what: str = "lat/lon") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 coordinate arrays of equal shape: finite, |lat| <= 90."""
    lat = as_float_array(lat, f"{what} latitudes")
    lon = as_float_array(lon, f"{what} longitudes")
    if lat.shape != lon.shape:
        raise ParameterError(
            f"{what}: latitude and longitude arrays differ in shape {lat.shape} vs {lon.shape}"
        )
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ParameterError(f"{what}: coordinates must be finite (drop or impute NaN/inf rows)")
    if lat.size and np.abs(lat).max() > 90.0:
        raise ParameterError(f"{what}: latitudes must lie in [-90, 90] degrees")
    return lat, lon


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (broadcasting).

    The haversine form stays accurate for tiny separations, where the spherical law of
    cosines loses everything to rounding; clipping `a` keeps antipodes at exactly pi R.

    Parameters
    ----------
    lat1, lon1, lat2, lon2 : float or array_like
        Degrees. The four broadcast against each other: pairs of points, or one point
        against many.

    Returns
    -------
    numpy.ndarray
        Metres (float64), in the broadcast shape (0-d for four scalars).

    Examples
    --------
    One degree of longitude on the equator; London and Paris to Madrid:

    >>> from geoinfer_workflows.modules import space
    >>> round(float(space.haversine_m(0.0, 0.0, 0.0, 1.0)))
    111195
    >>> space.haversine_m([51.5074, 48.8566], [-0.1278, 2.3522], 40.4168, -3.7038).round(-3)
    array([1263000., 1053000.])
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
    lat = as_float_array(lat, "latitudes").ravel()
    lon = as_float_array(lon, "longitudes").ravel()
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
