"""Benchmark identities survive refactors of benchmark code.

asv files every result under a benchmark's version, by default a hash of its source, so
a tidy-up of a benchmark's body would orphan its whole history. Every benchmark here
names its version explicitly, and the committed history must keep finding its results:
a version changes only when what is measured changes, on purpose, with a new string.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from benchmarks import common

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = re.compile(r"^(time|timeraw|track|peakmem|mem)_")


def _benchmarks() -> dict[str, object]:
    found = {}
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        for cls_name, cls in vars(module).items():
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            for name, fn in vars(cls).items():
                if PREFIXES.match(name):
                    found[f"{path.stem}.{cls_name}.{name}"] = fn
    return found


def test_every_benchmark_names_its_version() -> None:
    unnamed = [name for name, fn in _benchmarks().items() if not hasattr(fn, "version")]
    assert not unnamed, f"give these an explicit `.version`: {unnamed}"


def test_committed_history_keeps_its_versions() -> None:
    committed = json.loads((ROOT / ".asv" / "results" / "benchmarks.json").read_text())
    benchmarks = _benchmarks()
    changed = {
        name: (entry["version"][:12], str(benchmarks[name].version)[:12])
        for name, entry in committed.items()
        if isinstance(entry, dict) and name in benchmarks
        if str(benchmarks[name].version) != entry["version"]
    }
    assert not changed, f"versions differ from the committed history: {changed}"


def test_stage_parameters_match_the_package() -> None:
    """benchmarks/common.py spells the stages out (parameters must not depend on the
    commit under test); a stage added or renamed in a workflow must be added there."""
    from geoinfer_workflows.workflows import WORKFLOWS

    for name, workflow in WORKFLOWS.items():
        stages = tuple(stage.name for stage in workflow.pipeline.stages)
        assert common.WORKFLOW_STAGES[name] == stages, name


def test_the_arrow_aware_peak_sees_pyarrows_pool_and_restores_it() -> None:
    """tracemalloc misses pyarrow's pool; `traced_and_arrow_peak_mib` must not, and must
    put the default pool back after measuring."""
    import pyarrow as pa

    from benchmarks import common

    def allocate() -> None:
        buffer = pa.allocate_buffer(8 * common.MiB)
        del buffer

    before = pa.default_memory_pool().backend_name
    assert common.traced_peak_mib(allocate) < 1.0
    assert 8.0 <= common.traced_and_arrow_peak_mib(allocate) < 9.0
    assert type(pa.default_memory_pool()) is not pa.ProxyMemoryPool
    assert pa.default_memory_pool().backend_name == before
