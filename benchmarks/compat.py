"""What the suite does for commits older than the benchmark code that measures them.

The benchmark code comes from the current checkout and runs against every commit of
the history, so the one place that knows about older commits' behaviour is here.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def import_first(*names: str) -> ModuleType:
    """The first of `names` that imports: the module's current path first, then where
    older commits kept it (as scipy's benchmarks `safe_import`). Raises
    NotImplementedError, asv's "skip", when the commit under test has none of them."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise NotImplementedError(f"none of {', '.join(names)} exists at this commit")


def pin_row_blocks() -> None:
    """Make an older commit's row-block split independent of timing.

    Until the commit "map_row_blocks: fixed block rows", `perf.parallel.map_row_blocks`
    timed a probe block and cut the rest into ~50 ms blocks (in a thread pool when there
    were several), so how busy the machine was decided the split, and with it the
    allocations and instructions of precision farming and climate analysis: traced peak
    memory read 58 or 107 MiB on unchanged code. A clock that never advances sends it
    down its small-input path every time (the probe block, then the rest inline), as an
    unloaded native run of `seed` and `standard` does. Newer commits take a fixed block
    size and have no clock to pin.
    """
    try:
        from geoinfer_workflows.perf import parallel
    except ImportError:
        return
    defaults = getattr(getattr(parallel, "map_row_blocks", None), "__kwdefaults__", None)
    if defaults and "clock" in defaults:
        defaults["clock"] = _frozen_clock


def _frozen_clock() -> float:
    return 0.0
