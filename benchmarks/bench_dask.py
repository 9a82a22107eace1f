"""The dask engine: scaling at 1 and 2 workers on `large` and the peak memory per worker
at `huge` (the `large` profile only), and dask's own overhead against serial on
`standard` (every profile), so nobody turns the engine on where it does not pay.

Workers are processes (a LocalCluster, one thread each), as on a real cluster: the CPU
figure sums the workers' own CPU seconds (the client's clock sees none of it) plus the
client's. Skipped where the commit has no dask engine or dask is not installed.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from . import common
from .peers import interleaved_seconds, require_peer

PARTITIONED = ("basic", "climate_analysis", "precision_farming", "disease_surveillance")
HUGE = ("basic", "climate_analysis")  # distributed.NOT_HUGE says why not the other two
SCALING_PAIRS = 3


def _require_engine() -> Any:
    require_peer("distributed")
    try:
        from geoinfer_workflows import distributed as engine
    except ImportError as exc:
        raise NotImplementedError(f"no dask engine at this commit: {exc}") from None
    return engine


def _cluster(workers: int) -> Any:
    import distributed

    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )


class _DaskRun:
    """A cluster started in setup (not timed) and a workflow run on it."""

    timeout = 900
    timer = time.perf_counter  # wall: the work is in the workers, not this process
    rounds = 1
    repeat = (2, 3, 120.0)
    number = 1
    size = "standard"

    def _start(self, workflow: str, workers: int) -> None:
        common.require_workflow(workflow)
        self.engine = _require_engine()
        self.cluster = _cluster(workers)
        self.address = self.cluster.scheduler_address
        self.run_dask()  # warm: workers import the package once, outside the timing

    def run_dask(self) -> Any:
        return self.engine.run_workflow(self.workflow, self.size, scheduler=self.address)

    def teardown(self, *params: Any) -> None:
        cluster = getattr(self, "cluster", None)
        if cluster is not None:
            cluster.close()

    def cpu_seconds(self) -> float:
        """Workers' plus client's CPU seconds of one run."""
        import distributed

        from geoinfer_workflows.distributed.measure import worker_cpu_seconds

        with distributed.Client(self.address) as client:
            before, client0 = worker_cpu_seconds(client), time.process_time()
            self.run_dask()
            after, client1 = worker_cpu_seconds(client), time.process_time()
        return sum(after[w] - before[w] for w in after) + (client1 - client0)


# The scaling needs `large` data: other profiles do not define these rows at all (a row
# skipped in every run would only add empty graphs to the history).
if common.LARGE:

    class DaskScaling(_DaskRun):
        """`large` at 1 and 2 workers: wall, CPU; efficiency = speed-up / workers."""

        params = (list(PARTITIONED), [1, 2])
        param_names = ["workflow", "workers"]
        size = "large"

        def setup(self, workflow: str, workers: int) -> None:
            self.workflow = workflow
            self._start(workflow, workers)

        def time_run(self, workflow: str, workers: int) -> None:
            self.run_dask()

        time_run.version = "dask-scaling-time-run-1"

        def track_cpu_seconds(self, workflow: str, workers: int) -> float:
            return self.cpu_seconds()

        track_cpu_seconds.version = "dask-scaling-cpu-1"
        track_cpu_seconds.unit = "seconds"

    class _PerWorkflow:
        """One workflow per row, the engine checked in setup; each measurement starts its
        own clusters."""

        timeout = 1800
        param_names = ["workflow"]

        def setup(self, workflow: str) -> None:
            common.require_workflow(workflow)
            self.engine = _require_engine()

    class DaskScalingEfficiency(_PerWorkflow):
        """speed-up(2 workers) / 2 on `large`, from interleaved wall medians of a 1-worker and
        a 2-worker cluster: 1.0 is linear scaling, 0.5 is no gain at all."""

        params = (list(PARTITIONED),)

        def track_efficiency(self, workflow: str) -> float:
            run = functools.partial(self.engine.run_workflow, workflow, "large")
            with _cluster(1) as one, _cluster(2) as two:
                t1, t2 = interleaved_seconds(
                    functools.partial(run, scheduler=one.scheduler_address),
                    functools.partial(run, scheduler=two.scheduler_address),
                    pairs=SCALING_PAIRS,
                    clock=time.perf_counter,
                )
            return t1 / t2 / 2

        track_efficiency.version = "dask-scaling-efficiency-1"
        track_efficiency.unit = "speed-up per worker"

    class DaskHuge(_PerWorkflow):
        """Peak resident memory of the busiest of 2 process workers over one `huge` run
        (1e7 records and up, drawn per partition), what bounds a cluster's machine size.
        A fresh cluster per sample: the kernel's high-water mark only rises."""

        params = (list(HUGE),)

        def track_peak_worker_rss_mib(self, workflow: str) -> float:
            import distributed

            from geoinfer_workflows.distributed.measure import worker_peak_rss_mib

            with _cluster(2) as cluster, distributed.Client(cluster) as client:
                self.engine.run_workflow(workflow, "huge", scheduler=cluster.scheduler_address)
                return max(worker_peak_rss_mib(client).values())

        track_peak_worker_rss_mib.version = "dask-huge-peak-rss-1"
        track_peak_worker_rss_mib.unit = "MiB"


class DaskOverhead(_DaskRun):
    """dask (2 process workers) over serial wall time on `standard`: above 1.0 the engine
    costs more than it saves, which is the case at every size one process holds."""

    params = (list(PARTITIONED),)
    param_names = ["workflow"]

    def setup(self, workflow: str) -> None:
        self.workflow = workflow
        self._start(workflow, 2)

    def time_run(self, workflow: str) -> None:
        self.run_dask()

    time_run.version = "dask-overhead-time-run-1"

    def track_overhead_ratio(self, workflow: str) -> float:
        from geoinfer_workflows.workflows import run_workflow

        dask_s, serial_s = interleaved_seconds(
            self.run_dask, lambda: run_workflow(workflow, "standard"), clock=time.perf_counter
        )
        return dask_s / serial_s

    track_overhead_ratio.version = "dask-overhead-ratio-1"
    track_overhead_ratio.unit = "ratio"
