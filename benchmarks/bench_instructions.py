"""Instructions executed by one run of each workflow: the noise-free speed tracker.

Counted by valgrind's callgrind around the workload only (tools/count_instructions.py
says how): the same commit gives the same count to within ~0.05% from process to
process, where CPU time wobbles by percents on this shared 2-core VM, so a 1% change in
the work a workflow does is caught and an unchanged commit is not. The value is the
median of several counted runs in one valgrind process (a gated tracker never rests on
a single run).

Cost per commit (2-core VM): ~10 s of uninstrumented start-up per benchmark plus the
counted runs: 2.5 minutes for all eight at load ~1, 3.5 at load 2-3 (precision_farming at
`standard` alone ~70 s). `large` is never counted: under callgrind it would take tens of
minutes.
Where valgrind is absent the benchmarks are skipped (NotImplementedError in setup).
"""

from __future__ import annotations

import platform
import shutil

from . import common

SIZES = [size for size in common.WORKFLOW_SIZES if size != "large"]
COUNTED_RUNS = 3
# Uncounted runs first, at near-native speed: the interpreter's specialisation and the
# package's caches settle over ~10 small runs; a `standard` run is long enough that the
# few-thousand-instruction settling is lost in it, and its warm-ups cost more.
WARMUPS = {"seed": 10, "standard": 3}


class WorkflowInstructions:
    params = (list(common.WORKFLOW_NAMES), SIZES)
    param_names = ["workflow", "size"]
    # One valgrind process per benchmark; 75 s for the longest here (precision_farming,
    # standard) on a loaded VM: 240 s leaves room without letting a hang eat the run.
    timeout = 240
    # A count repeats to ~0.05%: one asv round and one sample are enough; the median of
    # COUNTED_RUNS runs is taken inside the tracker.
    rounds = 1
    repeat = 1
    number = 1

    def setup(self, workflow: str, size: str) -> None:
        if shutil.which("valgrind") is None:
            raise NotImplementedError("valgrind not installed: no instruction counts")
        if platform.system() != "Linux":
            raise NotImplementedError("callgrind counts are taken on Linux only")
        common.require_workflow(workflow)
        self.tool = common.load_tool("count_instructions")

    def track_instructions(self, workflow: str, size: str) -> float:
        count = self.tool.count_instructions(
            workflow,
            size,
            runs=COUNTED_RUNS,
            warmups=WARMUPS.get(size, 3),
            timeout=self.timeout - 10,
        )
        return float(count.median)

    track_instructions.unit = "instructions"
