"""Basic integration demo (DATA, SPACE, TIME, API): observations -> H3 cells -> daily
aggregates per cell -> GeoJSON summary of each cell's latest day.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geoinfer_workflows.modules import api, space, temporal
from geoinfer_workflows.modules.ingest import ingest_columns
from geoinfer_workflows.orchestration.cache import memoize
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, Stage
from geoinfer_workflows.synthetic import Size, generate_observations

H3_RESOLUTION = 8  # ~0.7 km2: neighbourhood scale


def make_inputs(size: Size, seed: int) -> Context:
    obs = generate_observations(size, seed)
    return {"lat": obs.lat, "lon": obs.lon, "t": obs.t, "value": obs.value}


def ingest(ctx: Context) -> dict[str, Any]:
    result = ingest_columns(ctx["lat"], ctx["lon"], ctx["t"], ctx["value"])
    return {"ingest": result, "table": result.table}


def bin_cells(ctx: Context) -> dict[str, Any]:
    table = ctx["table"]
    cells = memoize("basic.cells/1", space.h3_cells, table.lat, table.lon, H3_RESOLUTION)
    return {"cells": cells}


def daily_aggregates(ctx: Context) -> dict[str, Any]:
    table = ctx["table"]
    days = temporal.period_index(table.t, temporal.DAY_S)
    return {"daily": temporal.groupby_cell_period(ctx["cells"], days, table.value)}


def publish(ctx: Context) -> dict[str, Any]:
    daily = ctx["daily"]
    has_data = daily.counts > 0
    # Latest day with data per cell: last True along the day axis.
    last_day = daily.counts.shape[1] - 1 - np.argmax(has_data[:, ::-1], axis=1)
    rows = np.arange(daily.cells.size)
    lat, lon = space.h3_cell_centers(daily.cells)
    report = api.feature_collection(
        lat,
        lon,
        {
            "cell": daily.cells,
            "observations": daily.counts.sum(axis=1),
            "latest_day": last_day,
            "latest_mean": daily.means[rows, last_day],
            "mean": daily.sums.sum(axis=1) / daily.counts.sum(axis=1),
        },
        metadata={
            "accepted": ctx["ingest"].accepted,
            "rejected": ctx["ingest"].rejected_count,
            "cells": int(daily.cells.size),
            "days": int(daily.counts.shape[1]),
        },
    )
    return {"report": report}


PIPELINE = Pipeline(
    "basic",
    (
        Stage("ingest", "DATA", ingest),
        Stage("bin_cells", "SPACE", bin_cells),
        Stage("daily_aggregates", "TIME", daily_aggregates),
        Stage("publish", "API", publish),
    ),
)
