"""The four GEO-INFER integration workflows, end to end, per named data size.

Input data is built in setup (seeded, once per process); the timed body is one pipeline
run. Kinds: time (process CPU timer), peak RSS, and custom trackers for CPU seconds and
traced peak allocation. `track_traced_peak_mib` is deterministic and one of the
pull-request gate's deciding rows; the per-stage figures are instruction counts
(bench_instructions.StageInstructions), which point at the module that moved.

Versions are explicit (asv would otherwise hash the source): a tidy-up of this file must
not wipe a tracker's history; change a version only when what is measured changes.
"""

from __future__ import annotations

import time

from . import common, compat


def _pipeline(workflow: str):
    from geoinfer_workflows.workflows import WORKFLOWS

    common.require_workflow(workflow)
    return WORKFLOWS[workflow].pipeline


class WorkflowRun(common.WorkflowBenchmark):
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
        super().setup(workflow, size)
        compat.pin_row_blocks()
        self.pipeline = _pipeline(workflow)
        self.inputs = common.workflow_inputs(workflow, size)

    def run_once(self) -> None:
        self.pipeline.run(self.inputs)

    def time_run(self, workflow: str, size: str) -> None:
        self.run_once()

    time_run.version = "e6378bef11d36ed7f34b7430d6cdf98edb16f9d2e80373d0c8eb76c90ef798a3"

    def peakmem_run(self, workflow: str, size: str) -> None:
        self.run_once()

    peakmem_run.version = "493cabc75b70b19aae21e50000ec44330532fe97454fc8a0aad98728d96a9f4b"

    def track_cpu_seconds(self, workflow: str, size: str) -> float:
        return common.median_cpu_seconds(self.run_once)

    track_cpu_seconds.unit = "seconds"
    track_cpu_seconds.version = "e47d8f236f24d7bf04e1240002c94b2dc115c776fb9b0d4336459d8ebb5e1d9b"

    def track_traced_peak_mib(self, workflow: str, size: str) -> float:
        return common.traced_peak_mib(self.run_once)

    track_traced_peak_mib.unit = "MiB"
    track_traced_peak_mib.version = (
        "2af6435db640e79e0fcfa0b35a0a8e99c37b5eb8f9b7b453aef737defe1ed9dd"
    )


# The guide's timing of each reference example at `seed` size (performance-benchmarking-
# guide.md; the package's Workflow.reference_s), fixed here rather than read from the
# commit under test, so a ratio means the same thing at every commit of the history.
GUIDE_SECONDS = {
    "basic": 0.09,
    "disease_surveillance": 0.07,
    "precision_farming": 0.33,
    "climate_analysis": 0.44,
}


class GuideRatio(common.WorkflowBenchmark):
    """Each workflow's CPU time as a fraction of the guide's figure for it.

    The same run and median as `WorkflowRun.track_cpu_seconds`, divided by the guide's
    seconds: 0.05 is 20x faster than the guide, 0.2 is 5x (the aims at `seed` and
    `standard`). Lower is better, as for every asv row. The closing note of a speed-up
    cites this row; it is advice to the pull-request gate, never a deciding row.
    """

    timeout = 600

    def setup(self, workflow: str, size: str) -> None:
        self.run = WorkflowRun()
        self.run.setup(workflow, size)

    def track_fraction_of_guide(self, workflow: str, size: str) -> float:
        return common.median_cpu_seconds(self.run.run_once) / GUIDE_SECONDS[workflow]

    track_fraction_of_guide.unit = "ratio"
    track_fraction_of_guide.version = "guide-fraction-1"
