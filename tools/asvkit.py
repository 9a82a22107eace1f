"""Running asv from Python: the one helper of the tools, the PR command and the tests.

- `run` and `git`: a command whose failure raises with its output (asv's messages are the
  diagnosis);
- `clone_head`: a full-history clone of a checkout's HEAD with a local `main` (asv needs
  the branch asv.conf.json names; CI checkouts may be detached);
- `read_config`, `load_config`, `write_config`, `asv_command` and `AsvProject`:
  asv.conf.json read, with its folders made absolute or pointed elsewhere, and asv
  commands against it (a project's with a private HOME: its ~/.asv-machine.json);
- `bench_environ` and `asv_environ`: the environment measured processes run in, with the
  thread pins of benchmarks/common.py (THREAD_PINS, their one place);
- `unrolled_results` and `asv_verdict`: saved results row by row, and asv's own verdict
  on a pair of rows (`asv compare`'s rule): the only use of asv's private helpers;
- `stage_patch` and `commit_append`: planted commits that change one stage of a workflow
  (the tests' planted history and pull requests, the trust study's variants).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asv.commands.compare import _is_result_better, unroll_result
from asv.config import Config
from asv.results import iter_results_for_machine_and_hash
from asv.util import load_json

from benchmarks.common import THREAD_PINS

__all__ = [
    "ROOT",
    "THREAD_PINS",
    "AsvProject",
    "CommandError",
    "Measurement",
    "asv_command",
    "asv_environ",
    "asv_verdict",
    "bench_environ",
    "clone_head",
    "commit_append",
    "git",
    "load_config",
    "read_config",
    "run",
    "stage_patch",
    "unrolled_results",
    "write_config",
]

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "asv.conf.json"


class CommandError(RuntimeError):
    """A command exited non-zero; the message carries the tail of its output."""

    def __init__(self, cmd: Sequence[str], proc: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr


def run(
    cmd: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` with its output captured; CommandError if `check` and it fails."""
    proc = subprocess.run(
        list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise CommandError(cmd, proc)
    return proc


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo).stdout.strip()


def clone_head(dest: Path, source: Path = ROOT, *, user: str = "asv test") -> Path:
    """A full-history clone of `source`'s HEAD commit at `dest`, with a local `main` there
    and a committer, so that commits can be added to it."""
    head = git(source, "rev-parse", "HEAD")
    run(["git", "clone", "--quiet", "--no-checkout", str(source), str(dest)], cwd=dest.parent)
    git(dest, "checkout", "--quiet", "-B", "main", head)
    git(dest, "config", "user.name", user)
    git(dest, "config", "user.email", f"{user.replace(' ', '-')}@example.invalid")
    return dest


def bench_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the thread pins."""
    return {**(os.environ if base is None else base), **THREAD_PINS}


def asv_environ(home: Path) -> dict[str, str]:
    """The environment for asv subprocesses: a private HOME (its ~/.asv-machine.json),
    this interpreter's bin first on PATH (asv finds python3.11 and virtualenv there),
    pip's download cache kept where it was (the environments install numpy and scipy),
    no ASV_MACHINE, and the thread pins."""
    env = bench_environ()
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    env.pop("ASV_MACHINE", None)
    return env


def asv_command(subcommand: str, config: Path, *args: str) -> list[str]:
    """`python -m asv SUBCOMMAND --config CONFIG ARGS...` with this interpreter. Run it
    from the repository root (or a clone's): asv imports the config's plugin
    (.asv_offline_pages) from the current directory."""
    return [sys.executable, "-m", "asv", subcommand, "--config", str(config), *args]


def read_config(path: Path = CONFIG) -> dict:
    """An asv.conf.json (comments allowed) as a dict."""
    return load_json(str(path), js_comments=True)


def load_config(path: Path = CONFIG) -> Config:
    """asv's Config with its folders made absolute (asv resolves them against the
    current directory; these are resolved against the config file's folder)."""
    conf = Config.load(str(path))
    base = Path(path).resolve().parent
    for key in ("repo", "results_dir", "html_dir", "env_dir", "benchmark_dir"):
        value = getattr(conf, key)
        if value and not re.match(r"^[a-z+]+://", str(value)):
            setattr(conf, key, str((base / value).resolve()))
    return conf


def write_config(target: Path, source: Path = CONFIG, **overrides: object) -> Path:
    """`source` with `overrides` (e.g. repo, results_dir, env_dir, html_dir,
    benchmark_dir: absolute paths) written as plain JSON to `target`."""
    conf = {**read_config(source), **overrides}
    target.write_text(json.dumps(conf, indent=2), encoding="utf-8")
    return target


@dataclass
class AsvProject:
    """A clone and a copy of asv.conf.json whose results and html go under `work`, whose
    environments go to `env_dir` (shared: building them is the slow part) and whose
    machine file lives in `home`. The benchmarks are the clone's unless `benchmark_dir`
    names others (a checkout's, as in any asv run); `results` names a results folder
    other than `work`/results (e.g. the committed history, to publish it)."""

    clone: Path
    work: Path
    env_dir: Path
    home: Path
    benchmark_dir: Path | None = None
    results: Path | None = None
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config = write_config(
            self.work / "asv.conf.json",
            repo=str(self.clone),
            benchmark_dir=str(self.benchmark_dir or self.clone / "benchmarks"),
            results_dir=str(self.results_dir),
            env_dir=str(self.env_dir),
            html_dir=str(self.html_dir),
        )

    @property
    def results_dir(self) -> Path:
        return self.results or self.work / "results"

    @property
    def html_dir(self) -> Path:
        return self.work / "html"

    @property
    def env(self) -> dict[str, str]:
        return asv_environ(self.home)

    def asv(self, *args: str, check: bool = True, timeout: float = 1800):
        """An asv command against this project, run in the clone."""
        cmd = asv_command(args[0], self.config, *args[1:])
        return run(cmd, cwd=self.clone, env=self.env, timeout=timeout, check=check)

    def register(self, machine: str) -> None:
        """`asv machine --yes` for a named machine, into this project's HOME."""
        self.asv("machine", "--yes", "--machine", machine)


@dataclass(frozen=True)
class Measurement:
    """One row of saved results: a benchmark at one parameter combination."""

    name: str  # "benchmark(param, ...)"
    key: str  # the benchmark's name without parameters
    env_name: str
    value: float | None  # None: failed; nan: skipped or not selected
    stats_samples: tuple  # (stats, samples), as asv's statistics take them


def unrolled_results(results_dir: Path, machine: str, commit: str) -> Iterator[Measurement]:
    """Every saved row of `commit` on `machine`, through asv's results API."""
    for result in iter_results_for_machine_and_hash(str(results_dir), machine, commit):
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            for name, value, stats, samples in unroll_result(
                key,
                params,
                result.get_result_value(key, params),
                result.get_result_stats(key, params),
                result.get_result_samples(key, params),
            ):
                yield Measurement(name, key, result.env_name, value, (stats, samples))


def asv_verdict(before: float, after: float, ss_before, ss_after, factor: float) -> str:
    """ "slower", "faster" or "same" by `asv compare`'s rule at `factor`: Mann-Whitney on
    the samples where both rows have them (`ss_*`: (stats, samples)), then the ratio."""
    if _is_result_better(before, after, ss_before, ss_after, factor):
        return "slower"
    if _is_result_better(after, before, ss_after, ss_before, factor):
        return "faster"
    return "same"


# --- Planted changes: commits that alter one stage of a workflow, for asv to measure ----


def stage_patch(stage: str, name: str, body: str, note: str) -> str:
    """Python to append to a workflow's module: the stage named `stage` of its PIPELINE
    (found by name, the contract the benchmarks rely on too: benchmarks/common.py
    WORKFLOW_STAGES) becomes `def NAME(ctx)` with `body` (its statements, indented by
    four spaces), which may call the stage's own function as `NAME_original(ctx)`. Names
    are the caller's, so patches can be stacked in one module."""
    return f'''

# {note}
import dataclasses as _dc

{name}_original = next(s.fn for s in PIPELINE.stages if s.name == "{stage}")


def {name}(ctx):
{body.strip(chr(10))}


PIPELINE = _dc.replace(
    PIPELINE,
    stages=tuple(
        _dc.replace(s, fn={name}) if s.name == "{stage}" else s for s in PIPELINE.stages
    ),
)
'''


def commit_append(repo: Path, path: str, addition: str, message: str) -> str:
    """Append `addition` to `path` in `repo`, commit, return the new commit's hash."""
    target = repo / path
    target.write_text(target.read_text(encoding="utf-8") + addition, encoding="utf-8")
    git(repo, "commit", "--quiet", "-am", message)
    return git(repo, "rev-parse", "HEAD")
