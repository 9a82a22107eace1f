"""Precision farming partitioned by row of the sensor stream: ingest, per-sensor IoT
aggregation and the drying-trend readings matrix per partition, merged on the cluster;
the raster stages (IDW grid, NDVI, k-means zones, irrigation, plan) are the serial ones
on data the size of the field, not of the stream.

Merges: aggregators by `StreamingAggregator.merge` (counts, extremes, latest exactly;
moments to ~1e-12), fault counts by addition, readings matrices by "the later partition
wins where it has a reading" (the serial fancy assignment's last-write-wins, since the
tree merges neighbours in row order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geoinfer_workflows.distributed.merge import tree_reduce
from geoinfer_workflows.distributed.partition import worker_inputs
from geoinfer_workflows.distributed.streams import merge_aggregators
from geoinfer_workflows.modules import iot, temporal
from geoinfer_workflows.modules.ingest import IngestResult, ingest_columns
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic.farming import READING_INTERVAL_S, READINGS_PER_SENSOR
from geoinfer_workflows.workflows import precision_farming as serial

PARTITION_ROWS = 250_000
_STREAM = ("sensor_id", "lat", "lon", "t", "moisture")


@dataclass(frozen=True)
class IngestCounts:
    """What the plan stage needs from ingestion, summed over partitions."""

    accepted: int
    rejected_count: int


def _ingest(columns: tuple[np.ndarray, ...]) -> IngestResult:
    sensor_id, lat, lon, t, moisture = columns
    return ingest_columns(lat, lon, t, moisture, sensor_id=sensor_id)


def _summary(result: IngestResult) -> tuple[int, int, int | None]:
    t = result.table.t
    return result.accepted, result.rejected_count, int(t.min()) if t.size else None


def _aggregate(result: IngestResult, n_sensors: int) -> tuple[Any, np.ndarray, int]:
    table = result.table
    low, high = serial.MOISTURE_RANGE
    in_range = (table.value >= low) & (table.value <= high)
    sensor = table.extra["sensor_id"].astype(np.int64)
    aggregator = iot.StreamingAggregator(n_sensors)
    aggregator.update(sensor[in_range], table.t[in_range], table.value[in_range])
    return aggregator, np.bincount(sensor[~in_range], minlength=n_sensors), int((~in_range).sum())


def _merge_aggregates(
    a: tuple[Any, np.ndarray, int], b: tuple[Any, np.ndarray, int]
) -> tuple[Any, np.ndarray, int]:
    return merge_aggregators(a[0], b[0]), a[1] + b[1], a[2] + b[2]


def _readings(result: IngestResult, n_sensors: int, t0: int) -> np.ndarray:
    table = result.table
    readings = np.full((n_sensors, READINGS_PER_SENSOR), np.nan)
    slot = (table.t - t0) // READING_INTERVAL_S
    usable = (slot < READINGS_PER_SENSOR) & (table.value <= serial.MOISTURE_RANGE[1])
    readings[table.extra["sensor_id"][usable].astype(np.int64), slot[usable]] = table.value[usable]
    return readings


def _merge_readings(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(later), earlier, later)


def ingest(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    rows = ctx["partition_rows"] or PARTITION_ROWS
    field, stream = worker_inputs(
        client, serial.make_inputs, ctx["size"], ctx["seed"], _STREAM, rows
    )
    parts = client.map(_ingest, stream)
    summaries = client.gather(client.map(_summary, parts))
    starts = [s[2] for s in summaries if s[2] is not None]
    counts = IngestCounts(*(int(sum(s[k] for s in summaries)) for k in range(2)))
    return {**field, "ingest": counts, "ingested": parts, "t0": min(starts)}


def aggregate(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    folded = client.map(_aggregate, ctx["ingested"], n_sensors=len(ctx["sensor_lat"]))
    total, faulty, out_of_range = tree_reduce(client, _merge_aggregates, folded).result()
    return {
        "sensor_stats": total.result(),
        "faulty_sensor": faulty > 0,
        "out_of_range": out_of_range,
    }


def drying_trend(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    partial = client.map(_readings, ctx["ingested"], n_sensors=len(ctx["sensor_lat"]), t0=ctx["t0"])
    readings = tree_reduce(client, _merge_readings, partial).result()
    return {"drying_per_h": temporal.linear_trends(readings).slope}


PIPELINE = Pipeline(
    "precision_farming",
    (
        Stage("ingest", "DATA", ingest),
        Stage("aggregate", "IOT", aggregate),
        Stage("drying_trend", "TIME", drying_trend),
        Stage("moisture_grid", "SPACE", serial.moisture_grid),
        Stage("vegetation", "AG", serial.vegetation),
        Stage("zones", "AI", serial.zones),
        Stage("irrigation", "AG", serial.irrigation),
        Stage("plan", "API", serial.plan),
    ),
)
