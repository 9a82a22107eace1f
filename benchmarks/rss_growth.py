"""Peak resident memory a workflow run adds above what its process already holds.

asv's `peakmem_` reports the benchmark process's whole max-RSS: ~110-140 MiB of
interpreter, numpy, scipy and input data, beside which a workflow's own 0.5-60 MiB
moves only a few percent (and the forkserver's history moves it too). This measures the
run alone, in a fresh process:

1. build the input, run the workflow once (lazy imports and caches are not the run's);
2. before each measured run: `gc.collect()` and glibc's `malloc_trim(0)`, so memory the
   previous run freed goes back to the kernel instead of being silently reused (without
   it a repeated run often shows 0 growth), then reset the kernel's high-water mark
   (`/proc/self/clear_refs` <- "5", Linux >= 4.0) and read VmRSS: the baseline;
3. run, read VmHWM: growth = VmHWM - baseline, the peak the run itself added, counted
   by the kernel, C and C++ allocations (KD-trees, H3) included, which tracemalloc
   does not see.

The median of several runs is reported. glibc's mmap threshold is fixed
(MALLOC_MMAP_THRESHOLD_) so large buffers always come from, and go back to, mmap: the
dynamic threshold would otherwise change where they live from one run to the next. The
child imports the package under test before this folder's parent joins `sys.path`
(appended, as benchmarks/callgrind.py's: the installed commit always wins).

    python -m benchmarks.rss_growth WORKFLOW SIZE [--runs 5]   # prints JSON
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import common

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
MMAP_THRESHOLD = 64 * 1024


@dataclass(frozen=True)
class RssGrowth:
    workflow: str
    size: str
    runs_kib: tuple[int, ...]

    @property
    def median_mib(self) -> float:
        return statistics.median(self.runs_kib) / 1024.0


def supported() -> bool:
    """The high-water mark can be reset here (Linux >= 4.0, /proc writable by us)."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _status_kib(*keys: str) -> dict[str, int]:
    values = {}
    for line in STATUS.read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            values[key] = int(rest.split()[0])  # "  12345 kB"
    return values


def _release_freed_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


def measure_in_this_process(run, runs: int) -> list[int]:
    """KiB of peak RSS each call of `run` adds above the process's trimmed baseline."""
    growth = []
    for _ in range(runs):
        _release_freed_memory()
        CLEAR_REFS.write_text("5")
        baseline = _status_kib("VmRSS")["VmRSS"]
        run()
        growth.append(_status_kib("VmHWM")["VmHWM"] - baseline)
    return growth


def rss_growth(workflow: str, size: str, *, runs: int = 5, timeout: float = 300.0) -> RssGrowth:
    """Measure `workflow` at `size` (seed 0) in a fresh interpreter. Raises LookupError if
    the installed package has no such workflow, RuntimeError if the child fails."""
    proc = subprocess.run(
        [sys.executable, *common.child_arguments("rss_growth"), workflow, size, str(runs)],
        env=common.child_environment(MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD)),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode == common.EXIT_NO_WORKFLOW:
        raise LookupError(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"rss_growth child exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return RssGrowth(workflow, size, tuple(json.loads(proc.stdout)))


def child_main(argv: list[str] | None = None) -> int:
    """The fresh interpreter: build the input, warm up once, print each run's growth."""
    workflow, size, runs = sys.argv[1:] if argv is None else argv
    from geoinfer_workflows.workflows import WORKFLOWS

    if workflow not in WORKFLOWS:
        print(f"no workflow {workflow!r} at this commit", file=sys.stderr)
        return common.EXIT_NO_WORKFLOW
    pipeline, inputs = WORKFLOWS[workflow].pipeline, WORKFLOWS[workflow].make_inputs(size, 0)
    pipeline.run(inputs)  # warm-up: lazy imports and first-use caches are not the run's
    print(json.dumps(measure_in_this_process(lambda: pipeline.run(inputs), int(runs))))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow")
    parser.add_argument("size")
    parser.add_argument("--runs", type=int, default=5)
    parsed = parser.parse_args(argv)
    result = rss_growth(parsed.workflow, parsed.size, runs=parsed.runs)
    print(json.dumps({**asdict(result), "median_mib": result.median_mib}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
