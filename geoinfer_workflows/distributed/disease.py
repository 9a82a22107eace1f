"""Disease surveillance partitioned by case row: ingest, H3 binning and the (cell, disease,
day) counts per partition, added on the cluster (integers: exact); Gi* hotspots on the
cells with a halo exchange (`hotspots.gi_star_partitioned`); rates, smoothing, alerts and
the report are the serial stages on cell-sized data.

DBSCAN stays serial, on the recent cases gathered in row order (the serial input, so the
same clusters): a density cluster chains across any partition border, and the exact
partitioned method (an eps-wide halo per partition and a union-find merge of the border
clusters) pays only once the recent cases outgrow one machine, which they do not here
(14 days of cases, a small share of the stream).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geoinfer_workflows.distributed.farming import IngestCounts
from geoinfer_workflows.distributed.hotspots import gi_star_partitioned
from geoinfer_workflows.distributed.merge import tree_reduce
from geoinfer_workflows.distributed.partition import worker_inputs
from geoinfer_workflows.modules import space, temporal
from geoinfer_workflows.modules.ingest import IngestResult, ingest_columns
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic.disease import DISEASES, H3_RESOLUTION
from geoinfer_workflows.workflows import disease_surveillance as serial

PARTITION_ROWS = 250_000
HOTSPOT_STRIPS = 4
_CASES = ("lat", "lon", "t", "disease")


def _ingest(columns: tuple[np.ndarray, ...]) -> IngestResult:
    lat, lon, t, disease = columns
    return ingest_columns(lat, lon, t, np.ones(len(lat)), disease=disease)


def _summary(result: IngestResult) -> tuple[int, int, int | None, int | None]:
    t = result.table.t
    lo, hi = (int(t.min()), int(t.max())) if t.size else (None, None)
    return result.accepted, result.rejected_count, lo, hi


def _case_cells(result: IngestResult, area: np.ndarray) -> np.ndarray:
    table = result.table
    case_cells = space.h3_cells(table.lat, table.lon, H3_RESOLUTION)
    slot = np.searchsorted(area, case_cells).clip(max=area.size - 1)
    return np.where(area[slot] == case_cells, slot, -1)


def _counts(
    result: IngestResult, case_cell: np.ndarray, n_cells: int, t0: int, n_days: int
) -> tuple[np.ndarray, int]:
    table = result.table
    inside = case_cell >= 0
    days = temporal.period_index(table.t, temporal.DAY_S, t0)
    n_dis = len(DISEASES)
    key = case_cell[inside] * n_dis + table.extra["disease"][inside].astype(np.int64)
    flat = key * n_days + days[inside]
    counts = np.bincount(flat, minlength=n_cells * n_dis * n_days)
    return counts.reshape(n_cells, n_dis, n_days), int((~inside).sum())


def _add(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> tuple[np.ndarray, int]:
    return a[0] + b[0], a[1] + b[1]


def _recent(result: IngestResult, since: int) -> tuple[np.ndarray, np.ndarray]:
    table = result.table
    recent = table.t >= since
    return table.lat[recent], table.lon[recent]


def ingest(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    rows = ctx["partition_rows"] or PARTITION_ROWS
    area, cases = worker_inputs(client, serial.make_inputs, ctx["size"], ctx["seed"], _CASES, rows)
    parts = client.map(_ingest, cases)
    summaries = client.gather(client.map(_summary, parts))
    counts = IngestCounts(*(int(sum(s[k] for s in summaries)) for k in range(2)))
    t_range = (
        min(s[2] for s in summaries if s[2] is not None),
        max(s[3] for s in summaries if s[3] is not None),
    )
    return {**area, "ingest": counts, "ingested": parts, "t_range": t_range}


def bin_cells(ctx: Context) -> dict[str, Any]:
    from distributed import wait  # the optional extra, imported where it is used

    cells = ctx["client"].map(_case_cells, ctx["ingested"], area=ctx["population_cells"])
    wait(cells)
    return {"case_cell_parts": cells}


def daily_counts(ctx: Context) -> dict[str, Any]:
    client = ctx["client"]
    t0, t1 = ctx["t_range"]
    n_days = (t1 - t0) // temporal.DAY_S + 1
    partial = client.map(
        _counts,
        ctx["ingested"],
        ctx["case_cell_parts"],
        n_cells=ctx["population_cells"].size,
        t0=t0,
        n_days=n_days,
    )
    counts, outside = tree_reduce(client, _add, partial).result()
    return {"counts": counts, "outside_area": outside}


def hotspots(ctx: Context) -> dict[str, Any]:
    coords = space.local_xy_m(ctx["cell_lat"], ctx["cell_lon"])
    z = gi_star_partitioned(
        ctx["client"],
        coords,
        ctx["smoothed_rate"],
        serial.NEIGHBOUR_BAND_M,
        parts=HOTSPOT_STRIPS,
    )
    return {"gi_z": z, "hotspot": z > serial.HOTSPOT_Z}


def case_clusters(ctx: Context) -> dict[str, Any]:
    """The serial DBSCAN on the recent cases gathered in row order (see the module note)."""
    client = ctx["client"]
    since = ctx["t_range"][1] - serial.RECENT_DAYS * temporal.DAY_S
    recent = client.gather(client.map(_recent, ctx["ingested"], since=since))
    lat = np.concatenate([r[0] for r in recent])
    lon = np.concatenate([r[1] for r in recent])
    t = np.full(lat.size, since)  # every gathered case is recent
    n_cases = ctx["ingest"].accepted
    table = _RecentTable(lat, lon, t, n_cases)
    return serial.case_clusters({"table": table})


class _RecentTable:
    """The recent cases in the shape `case_clusters` reads: columns and the stream length."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray, t: np.ndarray, n_cases: int) -> None:
        self.lat, self.lon, self.t, self._n = lat, lon, t, n_cases

    def __len__(self) -> int:
        return self._n


PIPELINE = Pipeline(
    "disease_surveillance",
    (
        Stage("ingest", "DATA", ingest),
        Stage("bin_cells", "SPACE", bin_cells),
        Stage("daily_counts", "TIME", daily_counts),
        Stage("rates", "HEALTH", serial.rates),
        Stage("smooth", "BAYES", serial.smooth),
        Stage("hotspots", "RISK", hotspots),
        Stage("case_clusters", "AI", case_clusters),
        Stage("alerts", "RISK", serial.alerts),
        Stage("report", "API", serial.report),
    ),
)
