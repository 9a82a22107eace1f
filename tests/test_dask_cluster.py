"""A real cluster on localhost: `dask scheduler` and `dask worker` started as processes
from the installed distributed, a workflow run through `run --scheduler ADDRESS`, and a
worker killed (SIGKILL) mid-run with the workflow still finishing with the serial result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import distributed
import numpy as np
import pytest

from geoinfer_workflows.cli import main
from geoinfer_workflows.distributed import basic
from geoinfer_workflows.workflows import run_workflow as run_serial

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 3


def _dask(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL after a few seconds: a worker whose scheduler is gone can spend
    its whole reconnect timeout closing, and nothing of theirs is worth waiting for."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cluster(tmp: Path, n_workers: int) -> Iterator[str]:
    """Scheduler + `n_workers` single-threaded workers (no nanny: a killed worker stays dead)."""
    file = tmp / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    procs = [_dask("scheduler", "--scheduler-file", str(file), "--port", "0", *common)]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not file.exists():
            assert procs[0].poll() is None, "dask scheduler exited at start"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        worker = ["worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-nanny"]
        procs += [_dask(*worker, "--memory-limit", "1GB", *common) for _ in range(n_workers)]
        address = json.loads(file.read_text())["address"]
        with distributed.Client(address) as client:
            client.wait_for_workers(n_workers, timeout=START_TIMEOUT_S)
        yield address
        with distributed.Client(address) as client:
            client.shutdown()  # scheduler and workers exit at once; SIGTERM waits on them
    finally:
        _stop(procs)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _cluster(tmp_path_factory.mktemp("dask"), 2)


def test_run_with_scheduler_equals_serial(
    scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "climate_analysis", "--size", "standard", "--json"]
    assert main([*argv, "--scheduler", scheduler]) == 0  # an address alone means dask
    on_cluster = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    serial = json.loads(capsys.readouterr().out)
    assert on_cluster["summary"] == serial["summary"]
    assert [s["name"] for s in on_cluster["stages"]][1] == "qc_daily"  # the partitioned path


def test_worker_killed_mid_run_same_result(scheduler: str) -> None:
    """Kill the worker holding ingested partitions between stages; dask recomputes them.

    Last in the module: it leaves the module's cluster one worker short.
    """
    serial = run_serial("basic", "standard", seed=5)
    with distributed.Client(scheduler) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        ctx = {"client": client, "size": "standard", "seed": 5, "partition_rows": 500}
        first, *rest = basic.PIPELINE.stages
        ctx.update(first.fn(ctx))
        holder = next(iter(client.who_has(ctx["ingested"][0]).values()))[0]
        os.kill(client.run(os.getpid, workers=[holder])[holder], signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(client.scheduler_info()["workers"]) > 1:  # the scheduler notices
            assert time.monotonic() < deadline, "the killed worker was never removed"
            time.sleep(0.1)
        for stage in rest:
            ctx.update(stage.fn(ctx))
    a, b = serial.context["daily"], ctx["daily"]
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12, atol=0)
    assert serial.output["metadata"] == ctx["report"]["metadata"]
