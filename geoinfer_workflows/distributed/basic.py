"""The basic demo partitioned: ingest, H3 binning and (cell x day) aggregates per row
partition on the cluster, merged exactly; the GeoJSON publication is the serial stage.

Two passes, because the day grid is global: pass one ingests and bins each partition and
returns its time range (a few numbers); the client fixes day 0 and the grid width; pass
two aggregates each partition on that grid, and a pairwise tree merges the tables. The
partitions (and their ingested rows and cells) stay on the workers between passes; only
counts and the merged table come back. Every partition is a task, never scattered data,
so a worker lost mid-run is recomputed from the task graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geoinfer_workflows.distributed.merge import merge_cell_period, tree_reduce
from geoinfer_workflows.distributed.partition import row_bounds, worker_inputs
from geoinfer_workflows.modules import space, temporal
from geoinfer_workflows.modules.ingest import IngestResult, ingest_columns
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import (
    Observations,
    observation_partition,
)
from geoinfer_workflows.workflows import basic

HUGE_ROWS = 10_000_000
PARTITION_ROWS = 250_000  # ~10 MB of columns: tens of ms of work per task, well above hand-off


@dataclass(frozen=True)
class IngestCounts:
    """What the publish stage needs from ingestion, summed over partitions."""

    rows_read: int
    accepted: int
    rejected_count: int


_COLUMNS = ("lat", "lon", "t", "value")
Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # lat, lon, t, value


def _as_columns(obs: Observations) -> Columns:
    return obs.lat, obs.lon, obs.t, obs.value


def _ingest(columns: Columns) -> IngestResult:
    return ingest_columns(*columns)


def _summary(result: IngestResult) -> tuple[int, int, int, int | None, int | None]:
    t = result.table.t
    lo, hi = (int(t.min()), int(t.max())) if t.size else (None, None)
    return result.rows_read, result.accepted, result.rejected_count, lo, hi


def _cells(result: IngestResult) -> np.ndarray:
    return space.h3_cells(result.table.lat, result.table.lon, basic.H3_RESOLUTION)


def _huge_columns(index: int, rows: int, seed: int) -> Columns:
    return _as_columns(observation_partition(index, rows, seed))


def _aggregate(
    result: IngestResult, cells: np.ndarray, t0: int, n_days: int
) -> temporal.CellPeriodTable:
    days = temporal.period_index(result.table.t, temporal.DAY_S, t0)
    return temporal.groupby_cell_period(cells, days, result.table.value, n_periods=n_days)


def partitions(
    client: Any, size: str, seed: int, rows: int = PARTITION_ROWS, huge_rows: int = HUGE_ROWS
) -> list[Any]:
    """Futures of the input's row partitions: sliced from the seeded input at the named
    sizes (so the result equals the serial run), drawn per partition at ``huge``
    (`huge_rows` readings in all)."""
    if size == "huge":
        counts = [hi - lo for lo, hi in row_bounds(huge_rows, rows)]
        return client.map(_huge_columns, range(len(counts)), counts, seed=seed)
    return worker_inputs(client, basic.make_inputs, size, seed, ("lat", "lon", "t", "value"), rows)[
        1
    ]


def ingest(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    rows = ctx["partition_rows"] or PARTITION_ROWS
    sources = partitions(client, ctx["size"], ctx["seed"], rows, ctx.get("huge_rows") or HUGE_ROWS)
    parts = client.map(_ingest, sources)
    summaries = client.gather(client.map(_summary, parts))
    starts = [s[3] for s in summaries if s[3] is not None]
    ends = [s[4] for s in summaries if s[4] is not None]
    counts = IngestCounts(*(int(sum(s[k] for s in summaries)) for k in range(3)))
    return {"ingest": counts, "ingested": parts, "t_range": (min(starts), max(ends))}


def bin_cells(ctx: Context) -> dict[str, Any]:
    from distributed import wait  # the optional extra, imported where it is used

    cells = ctx["client"].map(_cells, ctx["ingested"])
    wait(cells)  # so the stage's time is the binning, not the next stage's
    return {"cell_parts": cells}


def daily_aggregates(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    t0, t1 = ctx["t_range"]
    n_days = (t1 - t0) // temporal.DAY_S + 1
    tables = client.map(_aggregate, ctx["ingested"], ctx["cell_parts"], t0=t0, n_days=n_days)
    return {"daily": tree_reduce(client, merge_cell_period, tables).result()}


PIPELINE = Pipeline(
    "basic",
    (
        Stage("ingest", "DATA", ingest),
        Stage("bin_cells", "SPACE", bin_cells),
        Stage("daily_aggregates", "TIME", daily_aggregates),
        Stage("publish", "API", basic.publish),
    ),
)
