"""Peak RSS a workflow run adds on its own: the `peakmem_` that a workflow can move.

`WorkflowRun.peakmem_run` is asv's whole-process max-RSS: ~110-140 MiB of interpreter,
numpy, scipy and inputs, in which a workflow's own growth (0.5-60 MiB here) is a few
percent at most. This tracker runs the workflow in a fresh interpreter and reports the
peak resident memory each run adds above a baseline taken right before it in that
process (kernel high-water mark reset, freed memory trimmed first; benchmarks/rss_growth.py
says how and why). It is the RSS companion of `track_traced_peak_mib`: it also sees C
and C++ allocations (KD-trees, H3) that tracemalloc does not, at the price of page
granularity and allocator effects.

Only `standard` (and `large` when opted in) are tracked: at `seed` a run adds a handful
of pages (12-1000 KiB), where one 4 KiB page is several percent and a 10% threshold
would alarm on noise. Measured on this VM, two fresh processes agreed to 0.04% (climate,
40 MiB) and 0.6% (precision farming, 57 MiB).
"""

from __future__ import annotations

import platform

from . import common, rss_growth

SIZES = [size for size in common.WORKFLOW_SIZES if size != "seed"]
RUNS = 5  # measured runs per process; the median is reported


class WorkflowRssGrowth(common.WorkflowBenchmark):
    params = (list(common.WORKFLOW_NAMES), SIZES)
    # A fresh interpreter (~2 s) plus 1 warm-up + RUNS runs: ~3-6 s at standard.
    timeout = 300
    rounds = 1
    repeat = 1
    number = 1

    def setup(self, workflow: str, size: str) -> None:
        if platform.system() != "Linux":
            raise NotImplementedError("needs /proc/self/clear_refs (Linux)")
        super().setup(workflow, size)
        if not rss_growth.supported():
            raise NotImplementedError("the kernel's peak-RSS mark cannot be reset here")

    def track_peak_rss_growth_mib(self, workflow: str, size: str) -> float:
        growth = rss_growth.rss_growth(workflow, size, runs=RUNS, timeout=self.timeout - 10)
        return growth.median_mib

    track_peak_rss_growth_mib.version = (
        "734afdf28b4c528ae2c150531e532d09101279540d6a7b6b3ac6141abe55774e"
    )

    track_peak_rss_growth_mib.unit = "MiB"
