"""Soil-moisture sensors on a regular field grid and a red/NIR raster of the same field.

The field has a planted sandy (dry) patch: sensors there drain faster and read lower, and
the crop there is less vigorous, so NDVI is lower too. Sensors drop readings (NaN) and a
few are faulty, as real ones do. Management zones and the irrigation plan should single the
patch out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.synthetic.sizes import Size, check_size

FIELD_LAT, FIELD_LON = 41.5868, -93.6250  # Iowa, corn belt
SENSOR_SPACING_M = 50.0
READINGS_PER_SENSOR = 10
READING_INTERVAL_S = 3_600
START_T = 1_719_792_000  # 2024-07-01T00:00:00Z
GRID_SIDE: dict[Size, int] = {"seed": 20, "standard": 200, "large": 320}
PIXEL_M = 30.0  # Landsat-class multispectral pixels
DROPOUT_RATE = 0.03
M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class FarmData:
    sensor_id: np.ndarray  # int64, one row per reading
    lat: np.ndarray
    lon: np.ndarray
    t: np.ndarray
    moisture: np.ndarray  # volumetric water content (m3/m3); NaN = dropout
    sensor_lat: np.ndarray  # per sensor
    sensor_lon: np.ndarray
    red: np.ndarray  # raster reflectance, shape (side, side)
    nir: np.ndarray
    raster_lat: np.ndarray  # pixel-centre coordinates, shape (side, side)
    raster_lon: np.ndarray
    dry_patch_mask: np.ndarray  # bool raster: where the sandy patch is (ground truth)

    @property
    def n_sensors(self) -> int:
        return len(self.sensor_lat)

    def __len__(self) -> int:
        return len(self.sensor_id)


def _field_axes(side_m: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude of n evenly spaced centres across a square field of side_m metres."""
    offsets = (np.arange(n) + 0.5) * (side_m / n) - side_m / 2
    lat = FIELD_LAT + offsets / M_PER_DEG_LAT
    lon = FIELD_LON + offsets / (M_PER_DEG_LAT * np.cos(np.radians(FIELD_LAT)))
    return lat, lon


def _sandiness(lat: np.ndarray, lon: np.ndarray, side_m: float) -> np.ndarray:
    """0..1 sand fraction: a Gaussian patch a quarter of the field across, north-east of centre."""
    y = (lat - FIELD_LAT) * M_PER_DEG_LAT / side_m
    x = (lon - FIELD_LON) * M_PER_DEG_LAT * np.cos(np.radians(FIELD_LAT)) / side_m
    return np.exp(-0.5 * ((x - 0.2) ** 2 + (y - 0.2) ** 2) / 0.1**2)


def generate_farm(size: Size = "standard", seed: int = 0) -> FarmData:
    side = GRID_SIDE[check_size(size)]
    rng = np.random.default_rng(seed)
    side_m = side * SENSOR_SPACING_M
    axis_lat, axis_lon = _field_axes(side_m, side)
    slat, slon = (a.ravel() for a in np.meshgrid(axis_lat, axis_lon, indexing="ij"))
    n_sensors = slat.size

    sand = _sandiness(slat, slon, side_m)
    start = 0.30 - 0.12 * sand + rng.normal(0.0, 0.01, n_sensors)
    drain_per_h = 0.0015 + 0.004 * sand
    hours = np.arange(READINGS_PER_SENSOR)
    moisture = (
        start[:, None]
        - drain_per_h[:, None] * hours
        + rng.normal(0.0, 0.006, (n_sensors, READINGS_PER_SENSOR))
    )
    moisture[rng.random(moisture.shape) < DROPOUT_RATE] = np.nan
    faulty = rng.choice(n_sensors, size=max(1, n_sensors // 200), replace=False)
    moisture[faulty] = rng.uniform(0.9, 1.5, (faulty.size, READINGS_PER_SENSOR))

    rside = round(side_m / PIXEL_M)
    r_lat, r_lon = _field_axes(side_m, rside)
    glat, glon = np.meshgrid(r_lat, r_lon, indexing="ij")
    patch = _sandiness(glat, glon, side_m)
    vigour = np.clip(0.85 - 0.45 * patch + rng.normal(0.0, 0.03, glat.shape), 0.05, 0.95)
    red = np.clip(0.12 - 0.08 * vigour + rng.normal(0.0, 0.005, glat.shape), 0.005, 1.0)
    nir = np.clip(0.20 + 0.35 * vigour + rng.normal(0.0, 0.01, glat.shape), 0.005, 1.0)
    cloud = rng.random(glat.shape) < 0.01
    red[cloud] = np.nan
    nir[cloud] = np.nan

    return FarmData(
        sensor_id=np.repeat(np.arange(n_sensors, dtype=np.int64), READINGS_PER_SENSOR),
        lat=np.repeat(slat, READINGS_PER_SENSOR),
        lon=np.repeat(slon, READINGS_PER_SENSOR),
        t=np.tile(START_T + hours * READING_INTERVAL_S, n_sensors).astype(np.int64),
        moisture=moisture.ravel(),
        sensor_lat=slat,
        sensor_lon=slon,
        red=red,
        nir=nir,
        raster_lat=glat,
        raster_lon=glon,
        dry_patch_mask=patch > 0.5,
    )
