"""Climate analysis partitioned by station: the hourly matrix (the big input: stations x
hours) is quality-controlled and reduced to daily means per station partition on the
workers; only the daily matrix (24 times smaller) comes back, and the per-station trends
run per station partition again.

Why the middle stays central: the anomaly baseline is a median across all stations per
day, a global order statistic with no exact partial merge; on the daily matrix it is
cheap. QC counts merge by addition (exact); daily means and trends are per-station rows,
so each partition computes exactly the rows the serial path computes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from geoinfer_workflows.distributed.partition import row_bounds, row_partitions
from geoinfer_workflows.modules import climate
from geoinfer_workflows.modules.temporal import TrendResult
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import Size
from geoinfer_workflows.workflows import climate_analysis as serial

PARTITION_STATIONS = 64  # ~64 x 8760 hourly values = 4.5 MB per partition at a year


@dataclass(frozen=True)
class QCCounts:
    """The QC report's counts summed over station partitions (what the report publishes)."""

    range_fail: int
    spike_fail: int
    stuck_fail: int
    missing: int


def _qc_daily(part: tuple[np.ndarray, ...]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    (values,) = part
    report = climate.quality_control(values)
    counts = (report.range_fail, report.spike_fail, report.stuck_fail, report.missing)
    return counts, climate.daily_means(climate.apply_qc(values, report))


def _trends(anomaly: np.ndarray) -> TrendResult:
    return climate.station_trends(anomaly, per="decade")


def _prepare(size: Size, seed: int) -> tuple[Context, tuple[np.ndarray]]:
    """On a worker: the seeded input, its station metadata ingested; the accepted stations'
    hourly rows apart (they stay on the cluster, the rest goes to the client)."""
    inputs = serial.make_inputs(size, seed)
    produced = serial.ingest(inputs)
    values = inputs.pop("temperature")[produced["stations"]]
    return {**inputs, **produced}, (values,)


def _metadata(prepared: tuple[Context, tuple[np.ndarray]]) -> Context:
    return prepared[0]


def _values(prepared: tuple[Context, tuple[np.ndarray]]) -> tuple[np.ndarray]:
    return prepared[1]


def ingest(ctx: Context) -> dict[str, Any]:
    """Generate and ingest on a worker; the hourly rows split by station partition."""
    client = ctx["client"]
    prepared = client.submit(_prepare, ctx["size"], ctx["seed"])
    metadata = client.submit(_metadata, prepared).result()
    values = client.submit(_values, prepared)
    rows = ctx["partition_rows"] or PARTITION_STATIONS
    n_rows = len(metadata["stations"])
    return {**metadata, "partitions": row_partitions(client, values, n_rows, rows)}


def qc_daily(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    parts = client.gather(client.map(_qc_daily, ctx["partitions"]))
    qc = QCCounts(*(int(sum(counts[k] for counts, _ in parts)) for k in range(4)))
    return {"qc": qc, "daily": np.concatenate([daily for _, daily in parts])}


def trends(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    anomaly = ctx["anomaly"]
    blocks = row_bounds(anomaly.shape[0], ctx["partition_rows"] or PARTITION_STATIONS)
    parts = client.gather([client.submit(_trends, anomaly[lo:hi]) for lo, hi in blocks])
    merged = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(TrendResult)
    }
    return {"trend": TrendResult(**merged)}


PIPELINE = Pipeline(
    "climate_analysis",
    (
        Stage("ingest", "DATA", ingest),
        Stage("qc_daily", "CLIMATE", qc_daily),
        Stage("anomalies", "CLIMATE", serial.anomalies),
        Stage("trends", "AI", trends),
        Stage("extremes", "CLIMATE", serial.extremes),
        Stage("grid", "SPACE", serial.grid),
        Stage("risk", "RISK", serial.risk_summary),
        Stage("report", "API", serial.report),
    ),
)
