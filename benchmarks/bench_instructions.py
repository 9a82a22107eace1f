"""Instructions executed by each workflow run, whole and per stage: the noise-free tracker.

Counted by valgrind's callgrind around the workload only (benchmarks/callgrind.py says
how): the same commit gives the same count to within ~0.1% from process to process in
one environment (0.3-0.5% at `seed` between environments at other paths, so counts are
never shared between them), where CPU time wobbles by percents on this shared 2-core VM,
so a 1% change in the work a workflow does is caught and an unchanged commit is not.
`track_instructions` is the median of several counted runs (a gated tracker never rests
on a single run) and is one of the pull-request gate's deciding rows;
`track_stage_instructions` splits a run by stage, so a change points at the stage, and
so at the module, that made it.

One valgrind process counts a workflow at a size, whole and stage by stage; the figures
are kept in a small on-disk cache keyed by the content of the installed package (and the
interpreter and its path, numpy, scipy, h3 and counting settings), so the stage rows reuse the whole
row's process and an unchanged merge base is not counted twice. Only the selected rows
are counted. Cost per commit (2-core VM, load ~1): ~15 s per `seed` row, 20-70 s per
`standard` row, ~3 minutes for all eight. `large` is never counted: under callgrind it
would take tens of minutes. Without valgrind the benchmarks are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from . import callgrind, common

SIZES = [size for size in common.WORKFLOW_SIZES if size != "large"]
# Counted whole runs (median reported), uncounted warm-ups before them (the interpreter's
# specialisation and the package's caches settle over ~10 small runs; a `standard` run is
# long enough that the settling is lost in it), and stage-by-stage passes (median).
COUNTING = {
    "seed": {"runs": 5, "warmups": 10, "stage_passes": 3},
    "standard": {"runs": 3, "warmups": 3, "stage_passes": 1},
}
# The longest single count (precision_farming at standard) takes ~65 s on a loaded VM.
COUNT_TIMEOUT_S = 300
CACHE_DIR = Path(tempfile.gettempdir()) / "geoinfer-bench-instructions"


def counting_key(workflow: str, size: str) -> str:
    """Everything a count depends on: the installed package's source, the interpreter and
    libraries it runs on, the counter and its settings."""
    import geoinfer_workflows

    digest = hashlib.sha256()
    package = Path(geoinfer_workflows.__file__).resolve().parent
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    for instrument in (callgrind.__file__, common.__file__, __file__):
        digest.update(Path(instrument).read_bytes())
    versions = [sys.version, platform.machine()]
    versions += [metadata.version(name) for name in ("numpy", "scipy", "h3")]
    # The environment's own path too: where it lives moves the heap layout of everything
    # the interpreter loads, and with it numpy's alignment peeling. A count from another
    # checkout's environment differed by 0.3-0.5% (climate_analysis at seed), as much as
    # the gate's factor, so a pull request's base is never taken from another checkout.
    versions.append(sys.executable)
    settings = [workflow, size, COUNTING[size]]
    digest.update(json.dumps([versions, settings], sort_keys=True).encode())
    return digest.hexdigest()


def count_now(workflow: str, size: str, timeout: float = COUNT_TIMEOUT_S) -> dict:
    """{"median": n, "stages": {name: n}}, counted under valgrind with the suite's
    settings for `size`, never from the cache."""
    count = callgrind.count_instructions(workflow, size, timeout=timeout, **COUNTING[size])
    return {"median": count.median, "stages": count.stages}


def workflow_count(workflow: str, size: str) -> dict:
    """{"median": n, "stages": {name: n}} of one workflow at one size, counted once per
    package content. Raises NotImplementedError (asv's skip) without valgrind or where
    the commit under test lacks the workflow."""
    if shutil.which("valgrind") is None or platform.system() != "Linux":
        raise NotImplementedError("no valgrind (or not Linux): no instruction counts")
    common.require_workflow(workflow)
    cached = CACHE_DIR / f"{counting_key(workflow, size)}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    figures = count_now(workflow, size)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(figures))
    partial.replace(cached)  # atomic: a reader sees all of it or nothing
    return figures


class WorkflowInstructions(common.WorkflowBenchmark):
    params = (list(common.WORKFLOW_NAMES), SIZES)
    timeout = COUNT_TIMEOUT_S + 60
    # The count is taken in setup (medians inside): one asv sample is enough.
    rounds = 1
    repeat = 1
    number = 1

    def setup(self, workflow: str, size: str) -> None:
        self.count = workflow_count(workflow, size)

    def track_instructions(self, workflow: str, size: str) -> float:
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
    timeout = COUNT_TIMEOUT_S + 60
    rounds = 1
    repeat = 1
    number = 1

    def setup(self, stage: str, size: str) -> None:
        workflow, name = stage.split(".", 1)
        stages = workflow_count(workflow, size)["stages"]
        if name not in stages:
            raise NotImplementedError(f"no stage {stage} at this commit")
        self.count = stages[name]

    def track_stage_instructions(self, stage: str, size: str) -> float:
        return float(self.count)

    track_stage_instructions.unit = "instructions"
    track_stage_instructions.version = "1"
