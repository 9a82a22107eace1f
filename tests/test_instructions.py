"""The instruction counter (benchmarks/callgrind.py) and the RSS-growth tracker
(benchmarks/rss_growth.py): their mechanics. That the gated counts repeat is
tests/test_gate_repeatability.py; a 1% change caught by the tracker inside
`asv continuous` is shown by tests/test_trust_study.py.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

from benchmarks import callgrind as ci
from benchmarks import common
from benchmarks import rss_growth as rss

ROOT = Path(__file__).resolve().parents[1]

x86_64 = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 client requests"
)


@x86_64
def test_client_request_is_a_no_op_natively() -> None:
    """Outside valgrind the magic sequence must return the default (0) and not crash:
    the fast start path is only taken when this holds."""
    function = ci._client_request_function()
    assert function is not None
    assert ci.client_request(function, ci.RUNNING_ON_VALGRIND) == 0
    assert ci.client_request(function, ci.CALLGRIND_START_INSTRUMENTATION) == 0
    assert ci.fast_start_available()


def test_request_codes_match_callgrind_h() -> None:
    """VG_USERREQ_TOOL_BASE('C','T') + 4 is CALLGRIND_START_INSTRUMENTATION."""
    header = Path("/usr/include/valgrind/callgrind.h")
    if header.exists():  # the Debian package ships it; the codes are also fixed ABI
        text = header.read_text()
        enum = text[text.index("VG_USERREQ__DUMP_STATS = ") :].split("}")[0]
        names = re.findall(r"VG_USERREQ__\w+", enum)
        assert names.index("VG_USERREQ__START_INSTRUMENTATION") == 4, names
    assert ci.CALLGRIND_START_INSTRUMENTATION == 0x43540004


def test_callgrind_command_counts_only_the_toggled_function(tmp_path: Path) -> None:
    cmd = ci.callgrind_command("valgrind", tmp_path / "out", fast_start=True, python="/py")
    assert "--collect-atstart=no" in cmd
    assert f"--toggle-collect={ci.TOGGLE_SYMBOL}" in cmd
    assert f"--dump-after={ci.TOGGLE_SYMBOL}" in cmd
    assert "--instr-atstart=no" in cmd
    assert cmd[-1] == "/py"  # the interpreter itself, never a shell shim
    slow = ci.callgrind_command("valgrind", tmp_path / "out", fast_start=False)
    assert "--instr-atstart=yes" in slow


def test_read_run_totals_orders_dumps_numerically(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("events: Ir\ntotals: 0\n")  # the final dump at exit: not a run
    for n, total in ((1, 500), (2, 700), (10, 900), (3, 600)):
        (tmp_path / f"callgrind.out.{n}").write_text(f"events: Ir\nsummary: 1\ntotals: {total}\n")
    assert ci.read_run_totals(out) == [500, 700, 600, 900]
    (tmp_path / "callgrind.out.4").write_text("events: Ir\n")
    with pytest.raises(ci.InstructionCountError):
        ci.read_run_totals(out)


def test_child_environment_pins_hash_seed_and_threads() -> None:
    env = common.child_environment({"PYTHONHASHSEED": "random", "PATH": "/bin"})
    assert env["PYTHONHASHSEED"] == "0"
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert env["PATH"] == "/bin"


@pytest.mark.slow  # a real count under valgrind: ~10 s
def test_counts_name_every_stage_and_exclude_start_up() -> None:
    require("valgrind")
    count = ci.count_instructions("basic", "seed", runs=3, warmups=10, stage_passes=1)
    assert len(count.runs) == 3
    # Far below a whole interpreter run (~1.8e9): start-up and imports are not counted.
    assert min(count.runs) > 1e5 and max(count.runs) < 2e8
    assert list(count.stages) == ["ingest", "bin_cells", "daily_aggregates", "publish"]
    # The stages add up to the run, less the orchestrator's own bookkeeping.
    assert 0.9 * count.median < sum(count.stages.values()) < count.median


def test_unknown_workflow_is_a_lookup_error(monkeypatch) -> None:
    """The child says so and the parent raises LookupError. The child runs natively (no
    valgrind in front of the interpreter): the error path is the same, ~10x faster."""
    monkeypatch.setattr(ci, "valgrind_executable", lambda: "valgrind")
    monkeypatch.setattr(ci, "callgrind_command", lambda *args, python, **kw: [python])
    with pytest.raises(LookupError, match="no workflow 'no_such_workflow'"):
        ci.count_instructions("no_such_workflow", "seed", runs=1, warmups=0, timeout=120)


# A fresh process with the tracker's malloc settings: in the long-lived pytest process,
# glibc's dynamic mmap threshold (raised by earlier tests' frees) moved the buffer onto
# the heap and the growth read up to ~0.8 MiB high. The kernel's RSS counters are kept
# per thread and folded in every 64 pages, so a reading is good to ~256 KiB either way.
_PLANTED_BUFFER = """
import json, numpy as np
from benchmarks import rss_growth

def touch_8_mib():
    buffer = np.ones(8 * 1024 * 1024 // 8)
    assert buffer[-1] == 1.0

print(json.dumps(rss_growth.measure_in_this_process(touch_8_mib, runs=5)))
"""


def test_rss_growth_sees_a_planted_buffer() -> None:
    """The high-water-mark reset works here, and the growth of a run that touches a
    known 8 MiB buffer is 8 MiB (to a few pages) above the trimmed baseline (the
    median of five runs, as the tracker reports)."""
    require("clear_refs")
    proc = subprocess.run(
        [sys.executable, "-c", _PLANTED_BUFFER],
        cwd=ROOT,
        env=common.child_environment(MALLOC_MMAP_THRESHOLD_=str(rss.MMAP_THRESHOLD)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    growth = json.loads(proc.stdout)
    assert 8 * 1024 - 256 <= statistics.median(growth) <= 8 * 1024 + 512, growth


def test_rss_growth_of_a_workflow_in_a_fresh_process() -> None:
    require("clear_refs")
    result = rss.rss_growth("climate_analysis", "standard", runs=3, timeout=120)
    assert len(result.runs_kib) == 3
    # The workflow's arrays are tens of MiB (the traced peak is ~41 MiB).
    assert 10 < result.median_mib < 200, result
    assert max(result.runs_kib) - min(result.runs_kib) < 0.02 * max(result.runs_kib)


def test_rss_growth_of_an_unknown_workflow_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="no workflow 'no_such_workflow'"):
        rss.rss_growth("no_such_workflow", "seed", runs=1, timeout=120)


def test_cli_prints_json() -> None:
    require("clear_refs")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.rss_growth", "basic", "standard", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert '"median_mib"' in proc.stdout


def test_counts_are_cached_by_what_they_depend_on(tmp_path: Path, monkeypatch) -> None:
    """The stage rows reuse the workflow row's count, and an unchanged merge base is not
    counted twice; a different size (or package, interpreter, settings) is a new key."""
    from benchmarks import bench_instructions as bi

    key = bi.counting_key("basic", "seed")
    assert key == bi.counting_key("basic", "seed") != bi.counting_key("basic", "standard")
    monkeypatch.setattr(bi, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(bi.shutil, "which", lambda name: f"/usr/bin/{name}")  # no count runs
    planted = {"median": 123, "stages": {"ingest": 100}}
    (tmp_path / f"{key}.json").write_text(json.dumps(planted))
    assert bi.workflow_count("basic", "seed") == planted
    with pytest.raises(NotImplementedError, match="does not exist"):
        bi.workflow_count("no_such_workflow", "seed")
