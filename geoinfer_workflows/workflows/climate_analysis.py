"""Climate analysis (DATA, CLIMATE, TIME, AI, SPACE, RISK, API).

Hourly station series -> QC -> daily means -> regional climatology and station anomalies
-> per-station trends (in parallel over station chunks) -> percentile extremes -> gridded
recent anomaly -> composite risk and warming hotspots -> risk summary.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from geoinfer_workflows.modules import api, climate, risk, space
from geoinfer_workflows.modules.ingest import ingest_columns
from geoinfer_workflows.modules.temporal import TrendResult
from geoinfer_workflows.orchestration.engines import map_row_blocks
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import Size, generate_climate

GRID_SHAPE = (40, 40)
RECENT_DAYS = 30
HOTSPOT_Z = 1.96
NEIGHBOURS = 8
RISK_WEIGHTS = {"trend": 0.5, "extremes": 0.25, "recent_anomaly": 0.25}
PARALLEL = "threads"  # engine for station chunks big enough to be worth a pool
# seed and standard (25, 250 stations) stay one vectorised call; large splits by station.
TREND_BLOCK_STATIONS = 256


def make_inputs(size: Size, seed: int) -> Context:
    data = generate_climate(size, seed)
    return {
        "station_lat": data.station_lat,
        "station_lon": data.station_lon,
        "elevation_m": data.elevation_m,
        "t0": data.t0,
        "temperature": data.temperature,
    }


def ingest(ctx: Context) -> dict[str, Any]:
    """Validate station metadata; the hourly matrix itself is checked by QC, value by value."""
    n = len(ctx["station_lat"])
    result = ingest_columns(
        ctx["station_lat"],
        ctx["station_lon"],
        np.full(n, ctx["t0"], dtype=np.int64),
        ctx["elevation_m"],
        station=np.arange(n),
    )
    station = result.table.extra["station"].astype(np.int64)
    return {"ingest": result, "stations": station}


def qc(ctx: Context) -> dict[str, Any]:
    values = ctx["temperature"][ctx["stations"]]
    report = climate.quality_control(values)
    return {"qc": report, "clean": climate.apply_qc(values, report)}


def daily(ctx: Context) -> dict[str, Any]:
    return {"daily": climate.daily_means(ctx["clean"])}


def anomalies(ctx: Context) -> dict[str, Any]:
    """Anomaly = station daily mean - its own offset - the regional seasonal baseline."""
    daily_t = ctx["daily"]
    offset = np.nanmean(daily_t, axis=1, keepdims=True)
    regional = np.nanmedian(daily_t - offset, axis=0, keepdims=True)
    baseline = climate.climatology(regional)
    return {"anomaly": climate.anomalies(daily_t - offset, baseline)}


def trends(ctx: Context) -> dict[str, Any]:
    """Per-station trends over station chunks, in parallel once a chunk is worth it."""
    anomaly = ctx["anomaly"]
    parts = map_row_blocks(
        lambda rows: climate.station_trends(anomaly[rows], per="decade"),
        anomaly.shape[0],
        block_rows=TREND_BLOCK_STATIONS,
        kind=PARALLEL,
    )
    fields = [f.name for f in dataclasses.fields(TrendResult)]
    merged = {name: np.concatenate([getattr(p, name) for p in parts]) for name in fields}
    return {"trend": TrendResult(**merged)}


def extremes(ctx: Context) -> dict[str, Any]:
    """Extreme days relative to the seasonal baseline: a hot summer day is not an extreme."""
    return {"extremes": climate.extremes(ctx["anomaly"])}


def grid(ctx: Context) -> dict[str, Any]:
    lat = ctx["station_lat"][ctx["stations"]]
    lon = ctx["station_lon"][ctx["stations"]]
    recent = np.nanmean(ctx["anomaly"][:, -RECENT_DAYS:], axis=1)
    glat, glon = space.grid_points(lat.min(), lat.max(), lon.min(), lon.max(), GRID_SHAPE)
    return {"recent_anomaly": recent, "anomaly_grid": space.idw(lat, lon, recent, glat, glon)}


def risk_summary(ctx: Context) -> dict[str, Any]:
    lat = ctx["station_lat"][ctx["stations"]]
    lon = ctx["station_lon"][ctx["stations"]]
    slope = ctx["trend"].slope
    score = risk.composite_risk(
        {
            "trend": slope,
            "extremes": ctx["extremes"].exceedances.astype(np.float64),
            "recent_anomaly": ctx["recent_anomaly"],
        },
        RISK_WEIGHTS,
    )
    weights = risk.knn_weights(space.local_xy_m(lat, lon), NEIGHBOURS)
    gi = risk.getis_ord_gi_star(np.nan_to_num(slope, nan=np.nanmean(slope)), weights)
    return {"risk": score, "warming_hotspot": gi.z > HOTSPOT_Z, "trend_gi_z": gi.z}


def report(ctx: Context) -> dict[str, Any]:
    stations = ctx["stations"]
    report_qc = ctx["qc"]
    collection = api.feature_collection(
        ctx["station_lat"][stations],
        ctx["station_lon"][stations],
        {
            "station": stations,
            "trend_c_per_decade": ctx["trend"].slope,
            "extreme_days": ctx["extremes"].exceedances,
            "recent_anomaly_c": ctx["recent_anomaly"],
            "risk": ctx["risk"],
            "warming_hotspot": ctx["warming_hotspot"],
        },
        metadata={
            "accepted": ctx["ingest"].accepted,
            "rejected": ctx["ingest"].rejected_count,
            "qc": {
                "range_fail": report_qc.range_fail,
                "spike_fail": report_qc.spike_fail,
                "stuck_fail": report_qc.stuck_fail,
                "missing": report_qc.missing,
            },
            "days": int(ctx["daily"].shape[1]),
            "anomaly_grid_max_c": float(np.nanmax(ctx["anomaly_grid"])),
        },
    )
    return {"report": collection}


PIPELINE = Pipeline(
    "climate_analysis",
    (
        Stage("ingest", "DATA", ingest),
        Stage("qc", "CLIMATE", qc),
        Stage("daily", "TIME", daily),
        Stage("anomalies", "CLIMATE", anomalies),
        Stage("trends", "AI", trends),
        Stage("extremes", "CLIMATE", extremes),
        Stage("grid", "SPACE", grid),
        Stage("risk", "RISK", risk_summary),
        Stage("report", "API", report),
    ),
)
