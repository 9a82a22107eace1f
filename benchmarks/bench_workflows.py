"""The four GEO-INFER integration workflows, end to end, per named data size.

Input data is built in setup (seeded, once per process); the timed body is one pipeline
run. Kinds: time (process CPU timer), peak RSS, and custom trackers for CPU seconds,
traced peak allocation and per-stage CPU seconds, so a regression points at a module.
"""

from __future__ import annotations

import statistics
import time

from . import common


def _pipeline(workflow: str):
    from geoinfer_workflows.workflows import WORKFLOWS

    common.require_workflow(workflow)
    return WORKFLOWS[workflow].pipeline


class WorkflowRun:
    params = (list(common.WORKFLOW_NAMES), list(common.WORKFLOW_SIZES))
    param_names = ["workflow", "size"]
    timeout = 600
    # The workflows are single-threaded numpy/scipy (BLAS pinned to one thread), so CPU
    # time is the honest timer and ignores what else the shared VM is doing.
    timer = time.process_time
    # standard-size runs take 10-300 ms: 2 rounds interleaved with the other benchmarks
    # x up to 10 samples, stopping after 20 s, gives a stable median without a long run.
    rounds = 2
    repeat = (5, 10, 20.0)
    warmup_time = 0.1

    def setup(self, workflow: str, size: str) -> None:
        self.pipeline = _pipeline(workflow)
        self.inputs = common.workflow_inputs(workflow, size)

    def run_once(self) -> None:
        self.pipeline.run(self.inputs)

    def time_run(self, workflow: str, size: str) -> None:
        self.run_once()

    def peakmem_run(self, workflow: str, size: str) -> None:
        self.run_once()

    def track_cpu_seconds(self, workflow: str, size: str) -> float:
        return common.median_cpu_seconds(self.run_once)

    track_cpu_seconds.unit = "seconds"

    def track_traced_peak_mib(self, workflow: str, size: str) -> float:
        return common.traced_peak_mib(self.run_once)

    track_traced_peak_mib.unit = "MiB"


def _all_stage_seconds() -> dict[str, dict[str, float]]:
    """Median CPU seconds of every stage of every workflow and size, measured once."""
    medians: dict[str, dict[str, float]] = {}
    for workflow in common.WORKFLOW_NAMES:
        pipeline = _pipeline(workflow)
        for size in common.WORKFLOW_SIZES:
            inputs = common.workflow_inputs(workflow, size)
            runs = [pipeline.run(inputs).timings for _ in range(common.TRACKER_RUNS)]
            medians[f"{workflow}/{size}"] = {
                stage.name: statistics.median(run[i].cpu_s for run in runs)
                for i, stage in enumerate(runs[0])
            }
    return medians


class WorkflowStages:
    """CPU seconds of each named stage, so the history shows which module moved."""

    params = (
        [f"{w}.{s}" for w, stages in common.WORKFLOW_STAGES.items() for s in stages],
        list(common.WORKFLOW_SIZES),
    )
    param_names = ["stage", "size"]
    timeout = 900

    def setup_cache(self) -> dict[str, dict[str, float]]:
        return _all_stage_seconds()

    setup_cache.timeout = 900

    def setup(self, medians, stage: str, size: str) -> None:
        workflow, name = stage.split(".", 1)
        self.seconds = medians.get(f"{workflow}/{size}", {}).get(name)
        if self.seconds is None:
            raise NotImplementedError(f"no stage {stage} at this commit")

    def track_stage_cpu_seconds(self, medians, stage: str, size: str) -> float:
        return self.seconds

    track_stage_cpu_seconds.unit = "seconds"
