"""Point observations around one city, the input of the basic integration demo.

Air-quality style readings (PM2.5, ug/m3) from sensors clustered in neighbourhoods: a
downtown gradient, a rush-hour diurnal cycle and log-normal noise, so daily aggregates per
cell have real structure to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.synthetic.sizes import Size, check_size

CITY_LAT, CITY_LON = 37.7749, -122.4194
START_T = 1_717_200_000  # 2024-06-01T00:00:00Z, a fixed epoch so runs are comparable
N_POINTS: dict[Size, int] = {"seed": 50, "standard": 5_000, "large": 1_000_000}
N_DAYS = 7


@dataclass(frozen=True)
class Observations:
    lat: np.ndarray
    lon: np.ndarray
    t: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.lat)


def generate_observations(size: Size = "standard", seed: int = 0) -> Observations:
    """Readings scattered around neighbourhood centres within ~12 km of the city centre."""
    return observations_of_length(N_POINTS[check_size(size)], seed)


def observations_of_length(n: int, seed: int = 0) -> Observations:
    """The same process at any length, for benchmarks that sweep the number of rows."""
    rng = np.random.default_rng(seed)
    hood_lat, hood_lon = _neighbourhoods(rng)
    return _readings(rng, hood_lat, hood_lon, n)


def _neighbourhoods(rng: np.random.Generator, n_hoods: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Neighbourhood centres around the city centre (drawn first, so a seed fixes them)."""
    return CITY_LAT + rng.normal(0.0, 0.05, n_hoods), CITY_LON + rng.normal(0.0, 0.06, n_hoods)


def _readings(
    rng: np.random.Generator, hood_lat: np.ndarray, hood_lon: np.ndarray, n: int
) -> Observations:
    """`n` readings around the given neighbourhood centres."""
    hood = rng.integers(0, hood_lat.size, n)
    lat = hood_lat[hood] + rng.normal(0.0, 0.008, n)
    lon = hood_lon[hood] + rng.normal(0.0, 0.010, n)
    t = START_T + rng.integers(0, N_DAYS * 86_400, n, dtype=np.int64)
    hour = (t % 86_400) / 3_600.0
    rush = np.exp(-0.5 * ((hour - 8.0) / 1.5) ** 2) + np.exp(-0.5 * ((hour - 18.0) / 2.0) ** 2)
    downtown_km = np.hypot(lat - CITY_LAT, (lon - CITY_LON) * 0.79) * 111.0
    base = 8.0 + 14.0 * np.exp(-downtown_km / 6.0)
    value = base * (1.0 + 0.6 * rush) * rng.lognormal(0.0, 0.25, n)
    return Observations(lat=lat, lon=lon, t=t, value=value)


def observation_partition(index: int, rows: int, seed: int = 0) -> Observations:
    """Partition `index` (`rows` readings) of an observation stream of any total length.

    Why: a `huge` input (1e7-1e8 readings) never exists whole in one process; each worker
    draws its own partition. The neighbourhoods come from `seed` alone (one city for every
    partition), the readings from the stream ``(seed, index)``, so a partition is the same
    whichever worker draws it or however often it is recomputed.

    Examples
    --------
    >>> from geoinfer_workflows.synthetic import observation_partition
    >>> a, b = observation_partition(3, 1_000, seed=1), observation_partition(3, 1_000, seed=1)
    >>> len(a), bool((a.value == b.value).all())
    (1000, True)
    """
    hood_lat, hood_lon = _neighbourhoods(np.random.default_rng(seed))
    return _readings(np.random.default_rng([seed, index]), hood_lat, hood_lon, rows)
