"""Instructions executed by each workflow run, whole and per stage: the noise-free tracker.

Counted by valgrind's callgrind around the workload only (benchmarks/callgrind.py says
how): the same commit gives the same count to within ~0.1% from process to process,
where CPU time wobbles by percents on this shared 2-core VM, so a 1% change in the work a
workflow does is caught and an unchanged commit is not. `track_instructions` is the
median of several counted runs (a gated tracker never rests on a single run) and is one
of the pull-request gate's deciding rows; `track_stage_instructions` splits a run by
stage, so a change points at the stage, and so at the module, that made it.

Every workflow and size is counted in one `setup_cache`, shared by both classes and run
once per commit, two valgrind processes at a time (counts do not depend on what else
the machine does). Cost per commit (2-core VM, load ~1): ~2 minutes. `large` is never
counted: under callgrind it would take tens of minutes.
Where valgrind is absent the benchmarks are skipped (NotImplementedError in setup).
"""

from __future__ import annotations

import platform
import shutil
from concurrent.futures import ThreadPoolExecutor

from . import callgrind, common

SIZES = [size for size in common.WORKFLOW_SIZES if size != "large"]
# Counted whole runs (median reported), uncounted warm-ups before them (the interpreter's
# specialisation and the package's caches settle over ~10 small runs; a `standard` run is
# long enough that the settling is lost in it), and stage-by-stage passes (median).
COUNTING = {
    "seed": {"runs": 5, "warmups": 10, "stage_passes": 3},
    "standard": {"runs": 3, "warmups": 3, "stage_passes": 1},
}
PARALLEL_COUNTS = 2
# The longest single count (precision_farming at standard) takes ~65 s on a loaded VM.
COUNT_TIMEOUT_S = 300


def _count_one(workflow: str, size: str) -> dict | None:
    try:
        count = callgrind.count_instructions(
            workflow, size, timeout=COUNT_TIMEOUT_S, **COUNTING[size]
        )
    except LookupError:  # the workflow does not exist at this commit
        return None
    return {"median": count.median, "stages": count.stages}


def count_every_workflow() -> dict[str, dict | None]:
    """{"workflow/size": {"median": n, "stages": {name: n}} or None}, for every pair."""
    if shutil.which("valgrind") is None or platform.system() != "Linux":
        return {}
    # Longest first (precision farming at standard takes a third of the total), so the
    # two processes finish together.
    pairs = sorted(
        ((w, s) for w in common.WORKFLOW_NAMES for s in SIZES),
        key=lambda pair: (pair[1] != "standard", pair[0] != "precision_farming"),
    )
    with ThreadPoolExecutor(PARALLEL_COUNTS) as pool:
        counts = list(pool.map(lambda pair: _count_one(*pair), pairs))
    return {f"{w}/{s}": count for (w, s), count in zip(pairs, counts, strict=True)}


count_every_workflow.timeout = 1800


def _counted(counts: dict, workflow: str, size: str) -> dict:
    if not counts:
        raise NotImplementedError("no valgrind (or not Linux): no instruction counts")
    count = counts.get(f"{workflow}/{size}")
    if count is None:
        raise NotImplementedError(f"workflow {workflow!r} does not exist at this commit")
    return count


class WorkflowInstructions:
    params = (list(common.WORKFLOW_NAMES), SIZES)
    param_names = ["workflow", "size"]
    timeout = 60
    # The count is taken in setup_cache (medians inside): one asv sample is enough.
    rounds = 1
    repeat = 1
    number = 1
    setup_cache = staticmethod(count_every_workflow)

    def setup(self, counts: dict, workflow: str, size: str) -> None:
        self.count = _counted(counts, workflow, size)

    def track_instructions(self, counts: dict, workflow: str, size: str) -> float:
        return float(self.count["median"])

    track_instructions.unit = "instructions"
    track_instructions.version = "b3b52179f4ae81d020375c7f0d0342b22657bae884cd5a8b8dc3c177b106dce1"


class StageInstructions:
    """Instructions of each named stage, so the history shows which module moved."""

    params = (
        [f"{w}.{s}" for w, stages in common.WORKFLOW_STAGES.items() for s in stages],
        SIZES,
    )
    param_names = ["stage", "size"]
    timeout = 60
    rounds = 1
    repeat = 1
    number = 1
    setup_cache = staticmethod(count_every_workflow)

    def setup(self, counts: dict, stage: str, size: str) -> None:
        workflow, name = stage.split(".", 1)
        stages = _counted(counts, workflow, size)["stages"]
        if name not in stages:
            raise NotImplementedError(f"no stage {stage} at this commit")
        self.count = stages[name]

    def track_stage_instructions(self, counts: dict, stage: str, size: str) -> float:
        return float(self.count)

    track_stage_instructions.unit = "instructions"
    track_stage_instructions.version = "1"
