"""Case reports of four diseases over 30 days, with a population surface and a planted outbreak.

Background cases follow population (towns of log-normal size with Gaussian sprawl), so
raw counts alone would just map where people live; the planted outbreak is an excess of
one disease in the last ten days around a place that is not a town centre, which is what
rates, smoothing and hotspot statistics are expected to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.modules.space import h3_cell_centers, h3_cells
from geoinfer_workflows.synthetic.sizes import Size, check_size

DISEASES = ("influenza", "dengue", "measles", "cholera")
DISEASE_SHARE = np.array([0.45, 0.25, 0.20, 0.10])
H3_RESOLUTION = 7  # ~5 km2 cells: the scale of a district health office
CENTRE_LAT, CENTRE_LON = -1.2921, 36.8219
START_T = 1_717_200_000  # 2024-06-01T00:00:00Z
N_DAYS = 30
N_CASES: dict[Size, int] = {"seed": 150, "standard": 15_000, "large": 1_000_000}
OUTBREAK_SHARE = 0.15
OUTBREAK_DISEASE = 1
OUTBREAK_RADIUS_M = 1_500.0
OUTBREAK_DAYS = 10


@dataclass(frozen=True)
class DiseaseData:
    lat: np.ndarray
    lon: np.ndarray
    t: np.ndarray
    disease: np.ndarray  # int8 index into DISEASES
    population_cells: np.ndarray  # the study area: H3 cells (uint64, sorted) at H3_RESOLUTION
    population: np.ndarray  # residents per study-area cell
    cell_lat: np.ndarray  # centroid of each study-area cell, as a population product ships it
    cell_lon: np.ndarray
    outbreak_lat: float
    outbreak_lon: float
    outbreak_start_t: int

    def __len__(self) -> int:
        return len(self.lat)


def _towns(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_towns = 7
    lat = CENTRE_LAT + rng.uniform(-0.22, 0.22, n_towns)
    lon = CENTRE_LON + rng.uniform(-0.22, 0.22, n_towns)
    people = rng.lognormal(11.5, 0.8, n_towns)
    sprawl_deg = 0.012 * np.sqrt(people / people.mean())
    return lat, lon, people, sprawl_deg


def _population_surface(
    town_lat: np.ndarray, town_lon: np.ndarray, people: np.ndarray, sprawl: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Residents per H3 cell: a 0.005 degree grid of Gaussian town densities, rural floor."""
    axis = np.arange(-0.32, 0.32, 0.005)
    glat, glon = np.meshgrid(CENTRE_LAT + axis, CENTRE_LON + axis, indexing="ij")
    glat, glon = glat.ravel(), glon.ravel()
    d2 = (glat[:, None] - town_lat) ** 2 + (glon[:, None] - town_lon) ** 2
    weight = np.exp(-0.5 * d2 / sprawl**2) / (2 * np.pi * sprawl**2) * 0.005**2
    density = weight @ people + 40.0  # rural residents per grid point
    cells = h3_cells(glat, glon, H3_RESOLUTION)
    unique, inverse = np.unique(cells, return_inverse=True)
    return unique, np.bincount(inverse, weights=density)


def generate_disease_cases(size: Size = "standard", seed: int = 0) -> DiseaseData:
    n = N_CASES[check_size(size)]
    rng = np.random.default_rng(seed)
    town_lat, town_lon, people, sprawl = _towns(rng)
    pop_cells, population = _population_surface(town_lat, town_lon, people, sprawl)
    cell_lat, cell_lon = h3_cell_centers(pop_cells)

    n_outbreak = round(OUTBREAK_SHARE * n)
    n_background = n - n_outbreak
    town = rng.choice(len(people), size=n_background, p=people / people.sum())
    lat = town_lat[town] + rng.normal(0.0, 1.0, n_background) * sprawl[town]
    lon = town_lon[town] + rng.normal(0.0, 1.0, n_background) * sprawl[town]
    t = START_T + rng.integers(0, N_DAYS * 86_400, n_background, dtype=np.int64)
    disease = rng.choice(len(DISEASES), size=n_background, p=DISEASE_SHARE)

    # The outbreak sits 0.1 degree (~11 km) off the largest town, away from its centre.
    big = int(np.argmax(people))
    bearing = rng.uniform(0, 2 * np.pi)
    ob_lat = float(town_lat[big] + 0.1 * np.sin(bearing))
    ob_lon = float(town_lon[big] + 0.1 * np.cos(bearing))
    radius_deg = OUTBREAK_RADIUS_M / 111_195.0
    r = radius_deg * np.sqrt(rng.uniform(0, 1, n_outbreak))
    theta = rng.uniform(0, 2 * np.pi, n_outbreak)
    ob_start = START_T + (N_DAYS - OUTBREAK_DAYS) * 86_400
    lat = np.concatenate([lat, ob_lat + r * np.sin(theta)])
    lon = np.concatenate([lon, ob_lon + r * np.cos(theta) / np.cos(np.radians(ob_lat))])
    t = np.concatenate(
        [t, ob_start + rng.integers(0, OUTBREAK_DAYS * 86_400, n_outbreak, dtype=np.int64)]
    )
    disease = np.concatenate([disease, np.full(n_outbreak, OUTBREAK_DISEASE)])

    order = rng.permutation(n)  # reports arrive interleaved, not outbreak-last
    return DiseaseData(
        lat=lat[order],
        lon=lon[order],
        t=t[order],
        disease=disease[order].astype(np.int8),
        population_cells=pop_cells,
        population=population,
        cell_lat=cell_lat,
        cell_lon=cell_lon,
        outbreak_lat=ob_lat,
        outbreak_lon=ob_lon,
        outbreak_start_t=int(ob_start),
    )
