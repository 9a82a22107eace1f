"""Disease surveillance (DATA, SPACE, TIME, HEALTH, BAYES, RISK, AI, API).

Case reports + a population surface -> H3 cell counts per disease -> rates and
empirical-Bayes smoothed rates -> Getis-Ord Gi* hotspots -> DBSCAN clusters of recent cases
-> EARS-C2 alerts on daily counts -> an alert report (GeoJSON of hotspot cells).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules import api, bayes, health, risk, space, temporal
from geoinfer_workflows.modules.ingest import ingest_columns
from geoinfer_workflows.orchestration.cache import memoize
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import Size, generate_disease_cases
from geoinfer_workflows.synthetic.disease import DISEASES, H3_RESOLUTION, N_DAYS, START_T

HOTSPOT_Z = 1.96  # two-sided 5% under the normal approximation esda reports
# First-ring contiguity: the second ring starts at sqrt(3) x the spacing (~1.73).
NEIGHBOUR_BAND_M = 1.5 * space.h3_cell_spacing_m(H3_RESOLUTION)
RECENT_DAYS = 14
CLUSTER_MIN_SAMPLES = 5
SEED_SIZE_CASES = 150
SEED_SIZE_EPS_M = 1_000.0


def make_inputs(size: Size, seed: int) -> Context:
    data = generate_disease_cases(size, seed)
    return {
        "lat": data.lat,
        "lon": data.lon,
        "t": data.t,
        "disease": data.disease,
        "population_cells": data.population_cells,
        "population": data.population,
        "cell_lat": data.cell_lat,
        "cell_lon": data.cell_lon,
    }


def ingest(ctx: Context) -> dict[str, Any]:
    cases = np.ones(len(ctx["lat"]))
    result = ingest_columns(ctx["lat"], ctx["lon"], ctx["t"], cases, disease=ctx["disease"])
    return {"ingest": result, "table": result.table}


def bin_cells(ctx: Context) -> dict[str, Any]:
    """Cases to H3 cells, matched to the study area (the population surface's cells)."""
    table = ctx["table"]
    area = ctx["population_cells"]
    case_cells = memoize(
        "disease.case_cells/1", space.h3_cells, table.lat, table.lon, H3_RESOLUTION
    )
    slot = np.searchsorted(area, case_cells).clip(max=area.size - 1)
    inside = area[slot] == case_cells
    return {"case_cell": np.where(inside, slot, -1)}


def daily_counts(ctx: Context) -> dict[str, Any]:
    """Cases per (cell, disease, day) for the cases inside the study area."""
    table = ctx["table"]
    inside = ctx["case_cell"] >= 0
    days = temporal.period_index(table.t, temporal.DAY_S)
    n_days = int(days.max()) + 1
    n_cells, n_dis = ctx["population_cells"].size, len(DISEASES)
    key = ctx["case_cell"][inside] * n_dis + table.extra["disease"][inside].astype(np.int64)
    flat = key * n_days + days[inside]
    counts = np.bincount(flat, minlength=n_cells * n_dis * n_days)
    return {
        "counts": counts.reshape(n_cells, n_dis, n_days),
        "outside_area": int((~inside).sum()),
    }


def rates(ctx: Context) -> dict[str, Any]:
    totals = ctx["counts"].sum(axis=2)  # (cells, diseases)
    population = ctx["population"]
    expected = np.stack(
        [health.expected_counts(totals[:, d], population) for d in range(totals.shape[1])],
        axis=1,
    )
    return {
        "totals": totals,
        "raw_rate": health.rates(totals, population[:, None]),
        "sir": health.standardized_ratio(totals, expected),
    }


def smooth(ctx: Context) -> dict[str, Any]:
    totals, population = ctx["totals"], ctx["population"]
    smoothed = np.stack(
        [bayes.eb_global(totals[:, d], population) for d in range(totals.shape[1])], axis=1
    )
    return {"smoothed_rate": smoothed}


def hotspots(ctx: Context) -> dict[str, Any]:
    coords = space.local_xy_m(ctx["cell_lat"], ctx["cell_lon"])
    weights = memoize("disease.gi_weights/1", risk.distance_band_weights, coords, NEIGHBOUR_BAND_M)
    z = risk.getis_ord_gi_star(ctx["smoothed_rate"], weights).z  # one column per disease
    return {"gi_z": z, "hotspot": z > HOTSPOT_Z}


def case_clusters(ctx: Context) -> dict[str, Any]:
    """DBSCAN of recent cases; eps shrinks with case density so min_samples keeps its meaning."""
    table = ctx["table"]
    recent = table.t >= table.t.max() - RECENT_DAYS * temporal.DAY_S
    eps_m = SEED_SIZE_EPS_M * np.sqrt(SEED_SIZE_CASES / max(len(table), SEED_SIZE_CASES))
    labels = space.dbscan(
        table.lat[recent], table.lon[recent], eps_m=eps_m, min_samples=CLUSTER_MIN_SAMPLES
    )
    members = labels >= 0
    sizes = np.bincount(labels[members])
    centroid_lat = np.bincount(labels[members], weights=table.lat[recent][members]) / sizes
    centroid_lon = np.bincount(labels[members], weights=table.lon[recent][members]) / sizes
    return {"clusters": {"size": sizes, "lat": centroid_lat, "lon": centroid_lon, "eps_m": eps_m}}


def alerts(ctx: Context) -> dict[str, Any]:
    """EARS-C2 per (cell, disease) daily series; a series with no case cannot alert, so
    only the active ones are scored (a few percent of the study area at seed size)."""
    counts = ctx["counts"]
    n_cells, n_dis, n_days = counts.shape
    series = counts.reshape(n_cells * n_dis, n_days)
    active = np.flatnonzero(series.any(axis=1))
    flags = np.zeros(series.shape, dtype=bool)
    flags[active] = risk.ears_c2(series[active].astype(np.float64))
    return {"alerts": flags.reshape(n_cells, n_dis, n_days)}


def report(ctx: Context) -> dict[str, Any]:
    cell, disease = np.nonzero(ctx["hotspot"])
    recent_alerts = ctx["alerts"][:, :, -RECENT_DAYS:].any(axis=2)
    clusters = ctx["clusters"]
    order = np.argsort(clusters["size"])[::-1]
    collection = api.feature_collection(
        ctx["cell_lat"][cell],
        ctx["cell_lon"][cell],
        {
            "cell": ctx["population_cells"][cell],
            "disease": np.array(DISEASES)[disease],
            "gi_z": ctx["gi_z"][cell, disease],
            "cases": ctx["totals"][cell, disease],
            "smoothed_rate_per_100k": ctx["smoothed_rate"][cell, disease] * 1e5,
            "alert": recent_alerts[cell, disease],
        },
        metadata={
            "accepted": ctx["ingest"].accepted,
            "rejected": ctx["ingest"].rejected_count,
            "outside_study_area": ctx["outside_area"],
            "hotspot_cells": int(cell.size),
            "alerting_cells": int(recent_alerts.any(axis=1).sum()),
            "clusters": [
                {
                    "cases": int(clusters["size"][i]),
                    "lat": float(clusters["lat"][i]),
                    "lon": float(clusters["lon"][i]),
                }
                for i in order[:10]
            ],
        },
    )
    return {"report": collection}


PIPELINE = Pipeline(
    "disease_surveillance",
    (
        Stage("ingest", "DATA", ingest),
        Stage("bin_cells", "SPACE", bin_cells),
        Stage("daily_counts", "TIME", daily_counts),
        Stage("rates", "HEALTH", rates),
        Stage("smooth", "BAYES", smooth),
        Stage("hotspots", "RISK", hotspots),
        Stage("case_clusters", "AI", case_clusters),
        Stage("alerts", "RISK", alerts),
        Stage("report", "API", report),
    ),
)


# -- Cases from a spatial store (optional) ----------------------------------------------
# The pipeline above never touches a store: `make_inputs` is what `run_workflow` and the
# benchmarks use. `make_inputs_from_store` builds the same context with the cases read
# back from a store (geoinfer_workflows.store: SQLite, PostGIS, or any object with
# `write(IngestResult)` and `time_window(t0, t1)` returning a PointTable whose
# `extra["disease"]` holds disease names); `store_cases` fills a store with the seeded
# cases. The store's rows come back in its own order; every stage's result is the same.


def store_cases(store: Any, size: Size = "standard", seed: int = 0) -> int:
    """Ingest the seeded cases of `size` (disease codes as names) into `store`; returns
    the number of rows the store did not have yet (a second call adds none)."""
    data = generate_disease_cases(size, seed)
    names = np.asarray(DISEASES)[data.disease]
    result = ingest_columns(data.lat, data.lon, data.t, np.ones(len(data)), disease=names)
    return store.write(result)


def make_inputs_from_store(
    store: Any,
    size: Size = "standard",
    seed: int = 0,
    *,
    t0: int = START_T,
    t1: int = START_T + N_DAYS * 86_400,
) -> Context:
    """`make_inputs`, the cases read from `store` (those with t0 <= t < t1; the study
    period by default): the study area and population still come from the seeded
    generator. Cases of a disease the workflow does not know are an error."""
    data = generate_disease_cases(size, seed)
    table = store.time_window(t0, t1)
    names = np.asarray(table.extra["disease"], dtype=str)
    known = np.asarray(DISEASES)
    order = np.argsort(known)
    slot = np.searchsorted(known, names, sorter=order).clip(max=known.size - 1)
    code = order[slot]
    unknown = known[code] != names
    if unknown.any():
        raise ParameterError(
            f"the store holds cases of diseases this workflow does not know: "
            f"{sorted(set(names[unknown].tolist()))}; known: {list(DISEASES)}"
        )
    return {
        "lat": table.lat,
        "lon": table.lon,
        "t": table.t,
        "disease": code.astype(np.int8),
        "population_cells": data.population_cells,
        "population": data.population,
        "cell_lat": data.cell_lat,
        "cell_lon": data.cell_lon,
    }
