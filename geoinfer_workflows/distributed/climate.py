"""Climate analysis partitioned by station: the hourly matrix (the big input: stations x
hours) is quality-controlled and reduced to daily means per station partition on the
workers; only the daily matrix (24 times smaller) comes back, and the per-station trends
run per station partition again.

Why the middle stays central: the anomaly baseline is a median across all stations per
day, a global order statistic with no exact partial merge; on the daily matrix it is
cheap. QC counts merge by addition (exact); daily means and trends are per-station rows,
so each partition computes exactly the rows the serial path computes.

``huge`` (`huge_rows` hourly values, default 1e7): station networks of a named shape (the
largest whose values fit in `huge_rows`; `large`, 500 stations x a year, at 1e7) over
the same region and year, as many as reach `huge_rows`, each drawn and ingested by its own
task from the seed ``(seed, network)``, so no process ever holds the whole matrix: a
worker holds its networks' hourly rows, the client the stations and the daily matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from geoinfer_workflows.distributed.farming import IngestCounts
from geoinfer_workflows.distributed.partition import row_bounds, row_partitions
from geoinfer_workflows.modules import climate
from geoinfer_workflows.modules.temporal import TrendResult
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import SIZES, Size
from geoinfer_workflows.synthetic.climate import SHAPE
from geoinfer_workflows.workflows import climate_analysis as serial

PARTITION_STATIONS = 64  # ~64 x 8760 hourly values = 4.5 MB per partition at a year
HUGE_VALUES = 10_000_000
_STATION_COLUMNS = ("station_lat", "station_lon", "elevation_m")


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


def networks(size: str, seed: int, huge_rows: int = HUGE_VALUES) -> list[tuple[Size, int]]:
    """The ``(shape, seed)`` of each station network a run draws: the named size itself,
    or at ``huge`` as many networks of the largest shape within `huge_rows` values as
    reach `huge_rows`, each with its own seed drawn from ``(seed, network)``.

    Examples
    --------
    >>> from geoinfer_workflows.distributed.climate import networks
    >>> networks("standard", 3)
    [('standard', 3)]
    >>> [shape for shape, _ in networks("huge", 3)]
    ['large', 'large', 'large']
    """
    if size != "huge":
        return [(size, seed)]  # type: ignore[list-item]
    fitting = [s for s in SIZES if SHAPE[s][0] * SHAPE[s][1] <= huge_rows] or [SIZES[0]]
    shape = max(fitting, key=lambda s: SHAPE[s][0] * SHAPE[s][1])
    count = -(-huge_rows // (SHAPE[shape][0] * SHAPE[shape][1]))
    states = np.random.SeedSequence(seed).spawn(count)
    return [(shape, int(state.generate_state(1)[0])) for state in states]


def _merge_metadata(parts: list[Context]) -> Context:
    """The networks' station metadata end to end; the accepted stations renumbered."""
    offsets = np.cumsum([0] + [len(p["station_lat"]) for p in parts[:-1]])
    return {
        **{k: np.concatenate([p[k] for p in parts]) for k in _STATION_COLUMNS},
        "t0": parts[0]["t0"],
        "stations": np.concatenate(
            [p["stations"] + o for p, o in zip(parts, offsets, strict=True)]
        ),
        "ingest": IngestCounts(
            sum(p["ingest"].accepted for p in parts), sum(p["ingest"].rejected_count for p in parts)
        ),
    }


def ingest(ctx: Context) -> dict[str, Any]:
    """Generate and ingest each network on a worker; its hourly rows split by station
    partition where they were drawn."""
    client = ctx["client"]
    rows = ctx["partition_rows"] or PARTITION_STATIONS
    drawn = networks(ctx["size"], ctx["seed"], ctx.get("huge_rows") or HUGE_VALUES)
    prepared = [client.submit(_prepare, shape, seed) for shape, seed in drawn]
    metadata = client.gather(client.map(_metadata, prepared))
    partitions = [
        part
        for network, meta in zip(prepared, metadata, strict=True)
        for part in row_partitions(
            client, client.submit(_values, network), len(meta["stations"]), rows
        )
    ]
    return {**_merge_metadata(metadata), "partitions": partitions}


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
