"""Run the real asv against throwaway clones of this repository.

The tests of the published history (step detection, the browser, several machines, the
pull-request tool) need real asv runs over real commits. Building a virtualenv costs a
PyPI install of numpy/scipy/h3/psutil, so one environment folder and one planted history
are built per pytest session and shared (`planted_history`); every test writes only under
pytest's temporary folder, never into the repository, ~/.asv-machine.json or .asv/.

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

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from asv.util import load_json

REPO_ROOT = Path(__file__).resolve().parents[1]
ASV = [sys.executable, "-m", "asv"]
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

# Appended to basic.py: wraps the stage by its name in the pipeline, the contract the
# benchmarks rely on too (benchmarks/common.py WORKFLOW_STAGES), not by its body's text.
SLOW_PATCH = f"""

# Planted regression (test history): the group-by of daily_aggregates, redone.
import dataclasses as _dc

_daily_aggregates_stage = PIPELINE.stages[
    [s.name for s in PIPELINE.stages].index("daily_aggregates")
].fn


def _daily_aggregates_redone(ctx):
    for _ in range({SLOW_REPEATS}):
        daily_aggregates(ctx)
    return _daily_aggregates_stage(ctx)


PIPELINE = _dc.replace(
    PIPELINE,
    stages=tuple(
        _dc.replace(s, fn=_daily_aggregates_redone) if s.name == "daily_aggregates" else s
        for s in PIPELINE.stages
    ),
)
"""

MEMORY_PATCH = f"""

# Planted regression (test history): a scratch buffer held while daily_aggregates runs.
import dataclasses as _dc

_daily_aggregates_lean = PIPELINE.stages[
    [s.name for s in PIPELINE.stages].index("daily_aggregates")
].fn


def _daily_aggregates_scratch(ctx):
    scratch = np.empty({MEMORY_MIB} * 1024 * 1024 // 8)  # reserved, never touched: no time cost
    out = _daily_aggregates_lean(ctx)
    del scratch
    return out


PIPELINE = _dc.replace(
    PIPELINE,
    stages=tuple(
        _dc.replace(s, fn=_daily_aggregates_scratch) if s.name == "daily_aggregates" else s
        for s in PIPELINE.stages
    ),
)
"""

RAISE_PATCH = """

# A broken pull request: daily_aggregates reads a column that does not exist.
import dataclasses as _dc


def _daily_aggregates_broken(ctx):
    return {"daily": ctx["no_such_column"]}


PIPELINE = _dc.replace(
    PIPELINE,
    stages=tuple(
        _dc.replace(s, fn=_daily_aggregates_broken) if s.name == "daily_aggregates" else s
        for s in PIPELINE.stages
    ),
)
"""


def load_tool(name: str):
    """Import tools/NAME.py (tools/ is a folder of scripts, not a package)."""
    path = REPO_ROOT / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tools_{name}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900):
    """Run a command, raising with its output on failure (asv's messages are the
    diagnosis when a step of a fixture breaks)."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo).stdout.strip()


def make_clone(dest: Path, source: Path = REPO_ROOT) -> Path:
    """A full-history clone of `source`'s HEAD commit with a local `main` there (CI
    checkouts may be detached; asv needs the branch named in asv.conf.json)."""
    head = git(source, "rev-parse", "HEAD")
    run(["git", "clone", "--quiet", "--no-checkout", str(source), str(dest)], cwd=dest.parent)
    git(dest, "checkout", "--quiet", "-B", "main", head)
    git(dest, "config", "user.name", "asv test")
    git(dest, "config", "user.email", "asv-test@example.invalid")
    return dest


def commit(repo: Path, message: str, path: str, addition: str) -> str:
    """Append `addition` to `path`, commit, return the new hash."""
    target = repo / path
    target.write_text(target.read_text(encoding="utf-8") + addition, encoding="utf-8")
    git(repo, "commit", "--quiet", "-am", message)
    return git(repo, "rev-parse", "HEAD")


def comment_commit(repo: Path, n: int) -> str:
    return commit(repo, f"docs: note {n}", BASIC, f"\n# Note {n}: comment-only change.\n")


@dataclass
class AsvProject:
    """A clone plus an asv config whose results, envs and html live in a work folder."""

    clone: Path
    work: Path
    env_dir: Path
    home: Path
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        conf = load_json(str(REPO_ROOT / "asv.conf.json"), js_comments=True)
        conf.update(
            repo=str(self.clone),
            benchmark_dir=str(self.clone / "benchmarks"),
            results_dir=str(self.results_dir),
            env_dir=str(self.env_dir),
            html_dir=str(self.html_dir),
        )
        self.config = self.work / "asv.conf.json"
        self.config.write_text(json.dumps(conf, indent=2), encoding="utf-8")

    @property
    def results_dir(self) -> Path:
        return self.work / "results"

    @property
    def html_dir(self) -> Path:
        return self.work / "html"

    @property
    def env(self) -> dict[str, str]:
        return asv_environ(self.home)

    def asv(self, *args: str, check: bool = True, timeout: float = 900):
        cmd = [*ASV, args[0], "--config", str(self.config), *args[1:]]
        if check:
            return run(cmd, cwd=self.clone, env=self.env, timeout=timeout)
        return subprocess.run(
            cmd, cwd=self.clone, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def register(self, machine: str) -> None:
        """`asv machine --yes` for a named machine, into this project's HOME."""
        self.asv("machine", "--yes", "--machine", machine)


def asv_environ(home: Path) -> dict[str, str]:
    """The environment for asv subprocesses: a private HOME (its ~/.asv-machine.json),
    this interpreter's bin first on PATH (asv finds python3.11 and virtualenv there) and
    one BLAS thread."""
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    # Keep pip's download cache where it was: the environments install numpy and scipy.
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env.pop("ASV_MACHINE", None)
    return env


@dataclass(frozen=True)
class PlantedHistory:
    project: AsvProject
    commits: tuple[str, ...]  # oldest first, on main
    slow: str
    memory: str
    other_machine_commits: tuple[str, ...]
    stock_html: Path  # the published html before tools/offline_html.py
    seconds: dict[str, float]  # how long each step took


_SESSION: dict[str, object] = {}


def shared_env_dir(tmp_path_factory) -> Path:
    """One asv environment folder per pytest session (a virtualenv of this config is
    built once and reused by every test that runs asv)."""
    if "env_dir" not in _SESSION:
        _SESSION["env_dir"] = tmp_path_factory.mktemp("asv-env")
    return _SESSION["env_dir"]  # type: ignore[return-value]


def planted_history(tmp_path_factory) -> PlantedHistory:
    """The planted history, measured on two machines, published and made offline: built
    on first use, then shared by every test of the session."""
    if "history" not in _SESSION:
        _SESSION["history"] = _build_history(tmp_path_factory)
    return _SESSION["history"]  # type: ignore[return-value]


def _build_history(tmp_path_factory) -> PlantedHistory:
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    work = tmp_path_factory.mktemp("history")
    clone = make_clone(work / "repo")
    commits = [git(clone, "rev-parse", "HEAD"), comment_commit(clone, 1)]
    memory = commit(clone, "perf: daily aggregates hold a scratch buffer", BASIC, MEMORY_PATCH)
    commits += [memory, comment_commit(clone, 2), comment_commit(clone, 3)]
    slow = commit(clone, "perf: daily aggregates redo their group-by", BASIC, SLOW_PATCH)
    commits += [slow, comment_commit(clone, 4), comment_commit(clone, 5)]
    (work / "home").mkdir()
    project = AsvProject(clone, work, shared_env_dir(tmp_path_factory), work / "home")
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
    run(
        [sys.executable, str(REPO_ROOT / "tools" / "offline_html.py"), str(project.html_dir)],
        cwd=work,
    )
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
