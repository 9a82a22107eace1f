"""Run the real asv against throwaway clones of this repository.

The tests of the published history (step detection, the browser, several machines, the
pull-request tool) need real asv runs over real commits. Building a virtualenv costs a
PyPI install of numpy/scipy/h3/psutil, so one environment folder and one planted history
are built per pytest session and shared (conftest.py: `asv_env_dir`, `planted_history`);
every test writes only under pytest's temporary folder, never into the repository,
~/.asv-machine.json or .asv/. Running asv, cloning and committing: tools/asvkit.py.

The planted history, on a local `main` of a clone of this repository's HEAD:

    base, comment, MEMORY, comment, comment, SLOW, comment, comment

SLOW makes the basic workflow's `daily_aggregates` stage redo its (cell, day) group-by
SLOW_REPEATS extra times: real, deterministic work, ~100x the whole workflow's CPU time
at `seed` size, so no noise on a shared 2-core VM can hide it or move it to another
commit. MEMORY keeps a MEMORY_MIB buffer alive while that stage runs: the traced
peak (tracemalloc) grows by exactly that much. Comment-only commits change no code, so any
regression reported at one of them is a false alarm. MEMORY comes first: SLOW's loop of
thousands of small allocations moves the traced peak by up to ~2.4 KiB from process to
process: up to 9% of the 27 KiB peak before MEMORY, 0.015% of the 16 MiB after it.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import require

require("asv")  # also when --doctest-modules imports this module
from tools import asvkit  # noqa: E402

MACHINE = "box-a"
OTHER_MACHINE = "box-b"

# The benchmarks the history measures (asv -b regexes match "name(param, ...)").
CPU_BENCH = "bench_workflows.WorkflowRun.track_cpu_seconds"
PEAK_BENCH = "bench_workflows.WorkflowRun.track_traced_peak_mib"
BASIC_SEED = "('basic', 'seed')"
HISTORY_FILTER = r"WorkflowRun\.(track_cpu_seconds|track_traced_peak_mib)\('basic', 'seed'\)"

# Extra group-bys per run: ~50 ms on top of a ~0.4 ms workflow (~100x). Sized so that the
# slow commits' CPU figures, not only the step, stand clear of noise: CPU time of a
# sub-millisecond run scattered by +-40% here under load, and asv's step detection (L1 on
# absolute values) missed a 10x step whose later points scattered that much.
SLOW_REPEATS = 2500
MEMORY_MIB = 16  # planted live buffer during daily_aggregates

BASIC = "geoinfer_workflows/workflows/basic.py"

# Planted changes to basic.py's daily_aggregates (found by its name in the pipeline).
SLOW_PATCH = asvkit.stage_patch(
    "daily_aggregates",
    "_daily_aggregates_redone",
    f"""
    for _ in range({SLOW_REPEATS}):
        daily_aggregates(ctx)
    return _daily_aggregates_redone_original(ctx)
""",
    "Planted regression (test history): the group-by of daily_aggregates, redone.",
)
MEMORY_PATCH = asvkit.stage_patch(
    "daily_aggregates",
    "_daily_aggregates_scratch",
    f"""
    scratch = np.empty({MEMORY_MIB} * 1024 * 1024 // 8)  # reserved, never touched: no time cost
    out = _daily_aggregates_scratch_original(ctx)
    del scratch
    return out
""",
    "Planted regression (test history): a scratch buffer held while daily_aggregates runs.",
)
RAISE_PATCH = asvkit.stage_patch(
    "daily_aggregates",
    "_daily_aggregates_broken",
    """
    return {"daily": ctx["no_such_column"]}
""",
    "A broken pull request: daily_aggregates reads a column that does not exist.",
)


def comment_commit(repo: Path, n: int) -> str:
    return asvkit.commit_append(
        repo, BASIC, f"\n# Note {n}: comment-only change.\n", f"docs: note {n}"
    )


@dataclass(frozen=True)
class PlantedHistory:
    project: asvkit.AsvProject
    commits: tuple[str, ...]  # oldest first, on main
    slow: str
    memory: str
    other_machine_commits: tuple[str, ...]
    stock_html: Path  # the published html before tools.offline_html
    seconds: dict[str, float]  # how long each step took


def build_history(work: Path, env_dir: Path) -> PlantedHistory:
    """The planted history in `work`, measured on two machines, published and made
    offline (conftest.py's session fixture `planted_history` builds it once)."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    clone = asvkit.clone_head(work / "repo")
    commits = [asvkit.git(clone, "rev-parse", "HEAD"), comment_commit(clone, 1)]
    message = "perf: daily aggregates hold a scratch buffer"
    memory = asvkit.commit_append(clone, BASIC, MEMORY_PATCH, message)
    commits += [memory, comment_commit(clone, 2), comment_commit(clone, 3)]
    slow = asvkit.commit_append(
        clone, BASIC, SLOW_PATCH, "perf: daily aggregates redo their group-by"
    )
    commits += [slow, comment_commit(clone, 4), comment_commit(clone, 5)]
    project = asvkit.AsvProject(clone, work, env_dir, work / "home")
    project.register(MACHINE)
    project.register(OTHER_MACHINE)

    hashfile = work / "commits.txt"
    hashfile.write_text("\n".join(commits) + "\n")
    seconds["clone+commits"] = time.perf_counter() - clock

    clock = time.perf_counter()
    project.asv("run", "--machine", MACHINE, "-b", HISTORY_FILTER, f"HASHFILE:{hashfile}")
    seconds[f"asv run {len(commits)} commits ({MACHINE})"] = time.perf_counter() - clock

    # The second box measures a few commits only: enough for its own line in each graph.
    other = (commits[0], slow, commits[-1])
    other_file = work / "other.txt"
    other_file.write_text("\n".join(other) + "\n")
    clock = time.perf_counter()
    project.asv("run", "--machine", OTHER_MACHINE, "-b", HISTORY_FILTER, f"HASHFILE:{other_file}")
    seconds[f"asv run {len(other)} commits ({OTHER_MACHINE})"] = time.perf_counter() - clock

    clock = time.perf_counter()
    project.asv("publish")
    stock = work / "html-stock"
    shutil.copytree(project.html_dir, stock)
    asvkit.run([sys.executable, "-m", "tools.offline_html", str(project.html_dir)], asvkit.ROOT)
    seconds["publish+offline"] = time.perf_counter() - clock
    return PlantedHistory(project, tuple(commits), slow, memory, other, stock, seconds)


def describe(history: PlantedHistory) -> str:
    """A readable account of the history, for assertion messages."""
    lines = [f"{i}: {h[:8]}" for i, h in enumerate(history.commits)]
    return textwrap.dedent(
        f"""
        commits: {", ".join(lines)}
        slow: {history.slow[:8]}  memory: {history.memory[:8]}
        timings: {history.seconds}
        """
    )
