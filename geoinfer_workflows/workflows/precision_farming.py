"""Precision farming (DATA, IOT, TIME, SPACE, AG, AI, API).

Soil-moisture sensor stream -> chunked per-sensor aggregation -> per-sensor drying trends
-> IDW moisture grid on the raster -> NDVI from red/NIR -> management zones (kmeans on
moisture and NDVI) -> irrigation need per zone -> irrigation plan.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geoinfer_workflows.modules import ag, api, iot, space, temporal
from geoinfer_workflows.modules.ingest import ingest_columns
from geoinfer_workflows.orchestration.cache import memoize
from geoinfer_workflows.orchestration.engines import map_row_blocks
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import Size, generate_farm
from geoinfer_workflows.synthetic.farming import READING_INTERVAL_S, READINGS_PER_SENSOR

N_ZONES = 3
MOISTURE_RANGE = (0.0, 0.6)  # volumetric water content a working probe can report
IDW_NEIGHBOURS = 8
PARALLEL = "threads"  # engine for row blocks big enough to be worth a pool
# ~40 ms of aggregation per block: `seed` and `standard` are one block, `large` several.
AGGREGATE_BLOCK_ROWS = 1 << 20


def make_inputs(size: Size, seed: int) -> Context:
    farm = generate_farm(size, seed)
    return {
        "sensor_id": farm.sensor_id,
        "lat": farm.lat,
        "lon": farm.lon,
        "t": farm.t,
        "moisture": farm.moisture,
        "sensor_lat": farm.sensor_lat,
        "sensor_lon": farm.sensor_lon,
        "red": farm.red,
        "nir": farm.nir,
        "raster_lat": farm.raster_lat,
        "raster_lon": farm.raster_lon,
    }


def ingest(ctx: Context) -> dict[str, Any]:
    result = ingest_columns(
        ctx["lat"], ctx["lon"], ctx["t"], ctx["moisture"], sensor_id=ctx["sensor_id"]
    )
    return {"ingest": result, "table": result.table}


def aggregate(ctx: Context) -> dict[str, Any]:
    """Per-sensor statistics, in row blocks merged exactly (parallel once blocks are worth
    it); out-of-range readings mark a faulty probe."""
    table = ctx["table"]
    in_range = (table.value >= MOISTURE_RANGE[0]) & (table.value <= MOISTURE_RANGE[1])
    sensor = table.extra["sensor_id"].astype(np.int64, copy=False)
    n_sensors = len(ctx["sensor_lat"])
    sid, t, value = sensor[in_range], table.t[in_range], table.value[in_range]

    def aggregate_block(rows: slice) -> iot.StreamingAggregator:
        block = iot.StreamingAggregator(n_sensors)
        block.update(sid[rows], t[rows], value[rows])
        return block

    total, *others = map_row_blocks(
        aggregate_block, int(sid.size), block_rows=AGGREGATE_BLOCK_ROWS, kind=PARALLEL
    )
    for block in others:
        total.merge(block)
    stats = total.result()
    faulty = np.bincount(sensor[~in_range], minlength=len(ctx["sensor_lat"])) > 0
    return {"sensor_stats": stats, "faulty_sensor": faulty, "out_of_range": int((~in_range).sum())}


def drying_trend(ctx: Context) -> dict[str, Any]:
    """Moisture loss per hour for each sensor, from its readings as one row of a matrix."""
    table = ctx["table"]
    n_sensors = len(ctx["sensor_lat"])
    readings = np.full((n_sensors, READINGS_PER_SENSOR), np.nan)
    slot = (table.t - table.t.min()) // READING_INTERVAL_S
    usable = (slot < READINGS_PER_SENSOR) & (table.value <= MOISTURE_RANGE[1])
    readings[table.extra["sensor_id"][usable].astype(np.int64), slot[usable]] = table.value[usable]
    return {"drying_per_h": temporal.linear_trends(readings).slope}


def moisture_grid(ctx: Context) -> dict[str, Any]:
    stats = ctx["sensor_stats"]
    good = np.isfinite(stats.mean) & ~ctx["faulty_sensor"]
    grid = memoize(
        "precision_farming.moisture_grid/1",
        space.idw,
        ctx["sensor_lat"][good],
        ctx["sensor_lon"][good],
        stats.mean[good],
        ctx["raster_lat"],
        ctx["raster_lon"],
        k=IDW_NEIGHBOURS,
    )
    return {"moisture_grid": grid}


def vegetation(ctx: Context) -> dict[str, Any]:
    return {"ndvi": ag.ndvi(ctx["red"], ctx["nir"])}


def zones(ctx: Context) -> dict[str, Any]:
    moisture, ndvi = ctx["moisture_grid"].ravel(), ctx["ndvi"].ravel()
    valid = np.isfinite(moisture) & np.isfinite(ndvi)
    labels = np.full(moisture.size, -1, dtype=np.int64)
    labels[valid] = ag.management_zones(
        ag.zone_features(moisture[valid], ndvi[valid]), N_ZONES, seed=0
    )
    return {"zones": labels.reshape(ctx["ndvi"].shape)}


def irrigation(ctx: Context) -> dict[str, Any]:
    labels = ctx["zones"].ravel()
    valid = labels >= 0
    zone = labels[valid]
    pixels = np.bincount(zone, minlength=N_ZONES)
    mean_moisture = (
        np.bincount(zone, weights=ctx["moisture_grid"].ravel()[valid], minlength=N_ZONES) / pixels
    )
    mean_ndvi = np.bincount(zone, weights=ctx["ndvi"].ravel()[valid], minlength=N_ZONES) / pixels
    return {
        "zone_pixels": pixels,
        "zone_moisture": mean_moisture,
        "zone_ndvi": mean_ndvi,
        "zone_irrigation_mm": ag.irrigation_need_mm(mean_moisture),
    }


def plan(ctx: Context) -> dict[str, Any]:
    labels = ctx["zones"]
    valid = labels >= 0
    flat = labels[valid]
    counts = ctx["zone_pixels"]
    centre_lat = np.bincount(flat, weights=ctx["raster_lat"][valid], minlength=N_ZONES) / counts
    centre_lon = np.bincount(flat, weights=ctx["raster_lon"][valid], minlength=N_ZONES) / counts
    stats = ctx["sensor_stats"]
    collection = api.feature_collection(
        centre_lat,
        centre_lon,
        {
            "zone": np.arange(N_ZONES),
            "area_fraction": counts / counts.sum(),
            "mean_moisture": ctx["zone_moisture"],
            "mean_ndvi": ctx["zone_ndvi"],
            "irrigation_mm": ctx["zone_irrigation_mm"],
        },
        metadata={
            "accepted": ctx["ingest"].accepted,
            "rejected": ctx["ingest"].rejected_count,
            "sensors": len(ctx["sensor_lat"]),
            "faulty_sensors": int(ctx["faulty_sensor"].sum()),
            "silent_sensors": int((stats.count == 0).sum()),
            "median_drying_per_day": float(np.nanmedian(ctx["drying_per_h"]) * 24),
        },
    )
    return {"report": collection}


PIPELINE = Pipeline(
    "precision_farming",
    (
        Stage("ingest", "DATA", ingest),
        Stage("aggregate", "IOT", aggregate),
        Stage("drying_trend", "TIME", drying_trend),
        Stage("moisture_grid", "SPACE", moisture_grid),
        Stage("vegetation", "AG", vegetation),
        Stage("zones", "AI", zones),
        Stage("irrigation", "AG", irrigation),
        Stage("plan", "API", plan),
    ),
)
