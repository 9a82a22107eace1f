"""Hourly temperature at weather stations: diurnal and seasonal cycles, a planted warming
cluster, a planted heatwave, and the faults station QC exists for (spikes, stuck sensors,
gaps, impossible values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from geoinfer_workflows.synthetic.sizes import Size, check_size

REGION_LAT, REGION_LON = 48.0, 11.0  # Bavaria
START_T = 1_704_067_200  # 2024-01-01T00:00:00Z
SHAPE: dict[Size, tuple[int, int]] = {
    "seed": (25, 720),
    "standard": (250, 7_200),
    "large": (500, 8_760),
}
WARMING_C_PER_DAY = 0.01  # planted extra warming of the urban cluster (3.65 C/yr)
HEATWAVE_C = 6.0


@dataclass(frozen=True)
class ClimateData:
    station_lat: np.ndarray
    station_lon: np.ndarray
    elevation_m: np.ndarray
    t0: int  # epoch seconds of column 0
    temperature: np.ndarray  # (n_stations, n_hours) float64, NaN = gap
    warming_stations: np.ndarray  # bool per station (ground truth)
    heatwave_stations: np.ndarray  # bool per station (ground truth)
    heatwave_days: tuple[int, int]  # [first, last) day index of the heatwave

    @property
    def n_stations(self) -> int:
        return self.temperature.shape[0]

    def __len__(self) -> int:
        return self.temperature.size


def generate_climate(size: Size = "standard", seed: int = 0) -> ClimateData:
    n_st, n_h = SHAPE[check_size(size)]
    rng = np.random.default_rng(seed)
    lat = REGION_LAT + rng.uniform(-1.5, 1.5, n_st)
    lon = REGION_LON + rng.uniform(-2.0, 2.0, n_st)
    elevation = rng.gamma(2.0, 250.0, n_st)

    hours = np.arange(n_h)
    day = hours / 24.0
    seasonal = -10.0 * np.cos(2 * np.pi * (day + 10.0) / 365.25)  # coldest mid-January
    diurnal = 4.0 * np.sin(2 * np.pi * ((hours % 24) - 9.0) / 24.0)  # warmest mid-afternoon
    base = 9.0 - 0.0065 * elevation  # lapse rate
    temperature = base[:, None] + seasonal + diurnal + rng.normal(0.0, 1.0, (n_st, n_h))

    # Weather: a regional AR(1) anomaly every station shares plus a weaker local one,
    # day by day, so neighbours co-vary as real stations do.
    n_days_all = n_h // 24 + 1
    regional = lfilter([1.0], [1.0, -0.8], rng.normal(0.0, 1.2, n_days_all))
    local = lfilter([1.0], [1.0, -0.5], rng.normal(0.0, 0.6, (n_st, n_days_all)), axis=1)
    temperature += np.repeat(regional + local, 24, axis=1)[:, :n_h]

    warming = np.hypot(lat - (REGION_LAT + 0.7), lon - (REGION_LON + 1.0)) < 0.6
    temperature[warming] += WARMING_C_PER_DAY * day

    n_days = n_h // 24
    hw_first = int(n_days * 0.6)
    hw_days = (hw_first, min(n_days, hw_first + 5))
    heatwave = np.hypot(lat - (REGION_LAT - 0.8), lon - (REGION_LON - 1.0)) < 0.8
    temperature[np.ix_(heatwave, np.arange(hw_days[0] * 24, hw_days[1] * 24))] += HEATWAVE_C

    _plant_faults(temperature, rng)
    return ClimateData(
        station_lat=lat,
        station_lon=lon,
        elevation_m=elevation,
        t0=START_T,
        temperature=temperature,
        warming_stations=warming,
        heatwave_stations=heatwave,
        heatwave_days=hw_days,
    )


def _plant_faults(temperature: np.ndarray, rng: np.random.Generator) -> None:
    """Gaps, single-hour spikes, stuck runs and impossible values, each about 0.1-1% of data."""
    n_st, n_h = temperature.shape
    size = temperature.size
    flat = temperature.reshape(-1)
    flat[rng.choice(size, size // 100, replace=False)] = np.nan
    spikes = rng.choice(size, size // 1000 + 1, replace=False)
    flat[spikes] += rng.choice([-1.0, 1.0], spikes.size) * rng.uniform(15.0, 25.0, spikes.size)
    flat[rng.choice(size, size // 2000 + 1, replace=False)] = 99.9  # sentinel from a logger
    for station in rng.choice(n_st, max(1, n_st // 20), replace=False):
        start = int(rng.integers(0, n_h - 12))
        temperature[station, start : start + 12] = temperature[station, start]
