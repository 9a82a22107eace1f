"""The dask engine on an in-process LocalCluster: the partitioned workflows equal the serial
ones (basic: cells and counts exactly, sums to 1e-12 relative; climate: QC counts, daily
means, trends and the report exactly; farming: sensor counts, extremes, drying trends and
zones exactly, means to 1e-12; disease: counts, alerts, DBSCAN clusters and the report
exactly, Gi* z to 1e-9), engine selection by argument, environment and
command line, and the errors a wrong choice gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import distributed
import numpy as np
import pytest

from geoinfer_workflows.cli import main
from geoinfer_workflows.cli.catalog import RUN_SIZE_NAMES
from geoinfer_workflows.distributed import DASK_SIZES, run_workflow
from geoinfer_workflows.distributed.climate import networks
from geoinfer_workflows.errors import ExitCode, ParameterError
from geoinfer_workflows.modules import space, temporal
from geoinfer_workflows.modules.ingest import ingest_columns
from geoinfer_workflows.orchestration.engines import ENGINE_ENV, SCHEDULER_ENV, resolve_engine
from geoinfer_workflows.synthetic import observation_partition
from geoinfer_workflows.workflows import basic, climate_analysis

# Partitions small enough that every size is split into several (basic at seed: 50 rows
# -> 8; climate: 25 and 250 stations -> 4 and 36).
PARTITION_ROWS = {"seed": 7, "standard": 600}
PARTITION_STATIONS = 7


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One in-process cluster (threads, no process pool) for the whole module."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def assert_same_basic(serial, dask) -> None:  # type: ignore[no-untyped-def]
    a, b = serial.context["daily"], dask.context["daily"]
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12, atol=0)
    assert serial.output["metadata"] == dask.output["metadata"]
    assert len(serial.output["features"]) == len(dask.output["features"])


@pytest.mark.parametrize("size", ["seed", "standard"])
def test_partitioned_basic_equals_serial(scheduler: str, size: str) -> None:
    serial = run_workflow("basic", size, seed=3)
    dask = run_workflow(
        "basic", size, seed=3, scheduler=scheduler, partition_rows=PARTITION_ROWS[size]
    )
    assert [t.name for t in dask.timings] == [t.name for t in serial.timings]
    assert len(dask.context["ingested"]) > 1  # really partitioned
    assert_same_basic(serial, dask)


@pytest.mark.parametrize("size", ["seed", "standard"])
def test_partitioned_climate_equals_serial(scheduler: str, size: str) -> None:
    serial = run_workflow("climate_analysis", size, seed=2)
    dask = run_workflow(
        "climate_analysis", size, seed=2, scheduler=scheduler, partition_rows=PARTITION_STATIONS
    )
    assert len(dask.context["partitions"]) > 1
    np.testing.assert_array_equal(serial.context["daily"], dask.context["daily"])
    for field in ("slope", "intercept", "r2", "n"):
        np.testing.assert_array_equal(
            getattr(serial.context["trend"], field), getattr(dask.context["trend"], field)
        )
    assert serial.output == dask.output  # QC counts, extremes, risk, hotspots: all of it


@pytest.mark.parametrize(("size", "rows"), [("seed", 500), ("standard", 50_000)])
def test_partitioned_farming_equals_serial(scheduler: str, size: str, rows: int) -> None:
    serial = run_workflow("precision_farming", size, seed=2)
    dask = run_workflow("precision_farming", size, seed=2, scheduler=scheduler, partition_rows=rows)
    assert len(dask.context["ingested"]) > 1
    for exact in ("count", "missing", "min", "max", "last"):
        np.testing.assert_array_equal(
            getattr(serial.context["sensor_stats"], exact),
            getattr(dask.context["sensor_stats"], exact),
        )
    np.testing.assert_allclose(
        serial.context["sensor_stats"].mean, dask.context["sensor_stats"].mean, rtol=1e-12
    )
    np.testing.assert_array_equal(serial.context["drying_per_h"], dask.context["drying_per_h"])
    np.testing.assert_array_equal(serial.context["zones"], dask.context["zones"])
    assert serial.output["metadata"] == dask.output["metadata"]


@pytest.mark.parametrize(("size", "rows"), [("seed", 37), ("standard", 3_000)])
def test_partitioned_disease_equals_serial(scheduler: str, size: str, rows: int) -> None:
    serial = run_workflow("disease_surveillance", size, seed=2)
    dask = run_workflow(
        "disease_surveillance", size, seed=2, scheduler=scheduler, partition_rows=rows
    )
    assert len(dask.context["ingested"]) > 1
    np.testing.assert_array_equal(serial.context["counts"], dask.context["counts"])
    np.testing.assert_allclose(
        serial.context["gi_z"], dask.context["gi_z"], rtol=1e-9, atol=1e-12, equal_nan=True
    )
    np.testing.assert_array_equal(serial.context["alerts"], dask.context["alerts"])
    np.testing.assert_array_equal(
        serial.context["clusters"]["size"], dask.context["clusters"]["size"]
    )
    assert serial.output == dask.output  # hotspots, clusters, alerts, counts: all of it


def test_engine_from_environment(monkeypatch: pytest.MonkeyPatch, scheduler: str) -> None:
    monkeypatch.setenv(SCHEDULER_ENV, scheduler)
    assert resolve_engine() == ("dask", scheduler)
    monkeypatch.setenv(ENGINE_ENV, "dask")
    result = run_workflow("basic", "seed", partition_rows=10)
    assert "ingested" in result.context  # the partitioned pipeline ran
    monkeypatch.delenv(SCHEDULER_ENV)
    monkeypatch.setenv(ENGINE_ENV, "serial")
    assert resolve_engine() == ("serial", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "spark"}, "unknown engine 'spark'"),
        ({"engine": "serial", "scheduler": "tcp://127.0.0.1:1"}, "needs engine 'dask'"),
        ({"engine": "serial", "size": "huge"}, "use engine 'dask'"),
        ({"engine": "dask", "size": "galactic"}, "unknown size 'galactic'"),
        ({"name": "disease_surveillance", "size": "huge"}, "not partitioned for disease"),
    ],
)
def test_wrong_choices_are_clear_errors(kwargs: dict[str, str], message: str) -> None:
    args = {"name": "basic", "size": "seed"} | kwargs
    with pytest.raises(ParameterError, match=message):
        run_workflow(args.pop("name"), args.pop("size"), **args)  # type: ignore[arg-type]


def test_cli_runs_on_the_cluster(scheduler: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "basic", "--size", "seed", "--json"]
    assert main([*argv, "--engine", "dask", "--scheduler", scheduler]) == 0
    on_dask = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    serial = json.loads(capsys.readouterr().out)
    assert on_dask["summary"] == serial["summary"]
    assert [s["name"] for s in on_dask["stages"]] == [s["name"] for s in serial["stages"]]


def test_cli_huge_is_dask_only(scheduler: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "climate_analysis", "--size", "huge", "--huge-rows", "20000", "--json"]
    assert main([*argv, "--engine", "serial"]) == ExitCode.INPUT
    assert "use engine 'dask'" in capsys.readouterr().err
    assert main([*argv, "--scheduler", scheduler]) == 0
    on_dask = json.loads(capsys.readouterr().out)
    assert on_dask["size"] == "huge"
    summary = on_dask["summary"]
    assert summary["accepted"] + summary["rejected"] == 50  # two networks of 25 stations
    assert RUN_SIZE_NAMES == DASK_SIZES


def test_huge_is_drawn_per_partition_and_aggregated_exactly(scheduler: str) -> None:
    """`huge` at a test's length: the partitions drawn on the workers, concatenated here,
    give the same cell-day table as the cluster's merge of partition tables."""
    rows, total = 1_000, 4_500
    dask = run_workflow(
        "basic", "huge", seed=4, scheduler=scheduler, partition_rows=rows, huge_rows=total
    )
    drawn = [observation_partition(i, min(rows, total - i * rows), 4) for i in range(5)]
    columns = [np.concatenate([getattr(o, c) for o in drawn]) for c in ("lat", "lon", "t", "value")]
    table = ingest_columns(*columns).table
    cells = space.h3_cells(table.lat, table.lon, basic.H3_RESOLUTION)
    days = temporal.period_index(table.t, temporal.DAY_S)
    expected = temporal.groupby_cell_period(cells, days, table.value)
    merged = dask.context["daily"]
    assert dask.output["metadata"]["accepted"] + dask.output["metadata"]["rejected"] == total
    np.testing.assert_array_equal(expected.cells, merged.cells)
    np.testing.assert_array_equal(expected.counts, merged.counts)
    np.testing.assert_allclose(expected.sums, merged.sums, rtol=1e-12, atol=0)


def test_huge_climate_is_drawn_per_network_and_equals_serial_on_them(scheduler: str) -> None:
    """`huge` climate at a test's length: station networks drawn and ingested on the workers;
    the serial pipeline on the same networks stacked here gives the same report."""
    total = 40_000  # three networks of the seed shape (25 stations x 720 hours)
    dask = run_workflow(
        "climate_analysis",
        "huge",
        seed=4,
        scheduler=scheduler,
        partition_rows=PARTITION_STATIONS,
        huge_rows=total,
    )
    drawn = [
        climate_analysis.make_inputs(shape, seed) for shape, seed in networks("huge", 4, total)
    ]
    columns = ("station_lat", "station_lon", "elevation_m", "temperature")
    stacked = {c: np.concatenate([d[c] for d in drawn]) for c in columns}
    serial = climate_analysis.PIPELINE.run({**stacked, "t0": drawn[0]["t0"]})
    assert len(drawn) == 3 and stacked["temperature"].size >= total
    assert len(dask.context["partitions"]) > len(drawn)
    np.testing.assert_array_equal(serial.context["daily"], dask.context["daily"])
    assert serial.output == dask.output
