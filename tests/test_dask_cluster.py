"""A real cluster on localhost: `dask scheduler` and `dask worker` started as processes
from the installed distributed, a workflow run through `run --scheduler ADDRESS`, and a
worker killed (SIGKILL) mid-task with the workflow still finishing with the serial result.
Slow (real processes, a kill): CI runs it, the fast loop does not.
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

import cloudpickle
import distributed
import numpy as np
import pytest
from dask.utils import key_split

from geoinfer_workflows.cli import main
from geoinfer_workflows.distributed import run_workflow

pytestmark = pytest.mark.slow

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


class KillOnStart(distributed.WorkerPlugin):  # type: ignore[misc]
    """SIGKILL the worker's own process the moment a task named `prefix` starts executing
    there. The first worker to create `flag` (exclusively) is the one: exactly one dies,
    once, mid-task (the scheduler has the task running on it), whatever the timing."""

    def __init__(self, prefix: str, flag: str) -> None:
        self.prefix, self.flag = prefix, flag

    def transition(self, key: str, start: str, finish: str, **kwargs: object) -> None:
        if finish != "executing" or key_split(key) != self.prefix:
            return
        try:
            fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def test_worker_killed_mid_task_same_result(scheduler: str, tmp_path: Path) -> None:
    """A worker SIGKILLed as it starts a cell-day aggregate (pass two of `basic`, holding
    ingested partitions of pass one): dask reschedules the task and recomputes the lost
    partitions on the survivor, and the result equals serial.

    Last in the module: it leaves the module's cluster one worker short.
    """
    serial = run_workflow("basic", "standard", seed=5, engine="serial")
    flag = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        with distributed.Client(scheduler) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            client.register_plugin(KillOnStart("aggregate", str(flag)))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    dask = run_workflow("basic", "standard", seed=5, scheduler=scheduler, partition_rows=500)
    killed = int(flag.read_text())  # a worker did start the task and die
    with distributed.Client(scheduler) as client:
        survivors = client.run(os.getpid)
    assert len(survivors) == 1
    assert killed not in survivors.values()
    a, b = serial.context["daily"], dask.context["daily"]
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12, atol=0)
    assert serial.output["metadata"] == dask.output["metadata"]
