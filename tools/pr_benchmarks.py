"""Benchmark a pull request against its merge base with `asv continuous`, and write the
comparison as a Markdown table for a PR comment.

    python tools/pr_benchmarks.py [BASE] [HEAD] [--bench REGEX ...] [--machine NAME]

BASE defaults to the merge base of HEAD and main, HEAD to the checked-out commit. Needs the
full history (a shallow clone has no merge base to build). The comparison settings live in
the constants below, the only place they are set; the regression factor can be overridden
with the environment variable GEOINFER_PR_FACTOR (the trust study's choice goes there).

Exit status, never conflated:
    0  no benchmark slower than the factor (some may be faster)
    1  slower: asv continuous found a statistically significant slowdown (its exit 1)
    2  usage error: bad arguments, or a --results-dir this tool may not empty
    3  could not compare: shallow clone, unknown commit, no machine, asv itself failed
    4  a benchmark failed (raised or timed out) at BASE or HEAD (asv's exit 2), whatever
       the timings say: a broken benchmark is not a slowdown
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from asv.commands.compare import _is_result_better, unroll_result
from asv.machine import Machine, MachineCollection
from asv.results import iter_results_for_machine_and_hash
from asv.util import UserError, human_value, load_json
from asv_runner.statistics import get_err

__all__ = [
    "DEFAULT_FACTOR",
    "Comparison",
    "Outcome",
    "Row",
    "compare_results",
    "main",
    "markdown",
]

# --- Settings: the single place the PR comparison is configured -------------------------
FACTOR_ENV = "GEOINFER_PR_FACTOR"
DEFAULT_FACTOR = 1.10  # docs/trust-study.md: time rows at 1.10 are a hint (2/10 A/A alarms)
# The four workflows end to end and per stage: what a PR most plausibly slows down. A full
# suite on two commits takes too long for a PR; run-benchmarks covers everything on main.
DEFAULT_BENCH = (r"^bench_workflows\.",)
# Rounds of BASE and HEAD alternate, so a burst of load on the runner hits both.
INTERLEAVE_ROUNDS = True
# One thread for BLAS/OpenMP: extra threads on a small runner scatter the timings.
BENCH_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
WORK_DIR = Path("artifacts") / "pr-benchmarks"  # results and the comment, gitignored
# Written into every results folder this tool creates: the only folders it will ever empty.
OWNER_MARK = ".pr-benchmarks-scratch"
MAIN_BRANCH = "main"
# -----------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


class Outcome(IntEnum):
    """The project's exit-code table (README "Exit codes")."""

    NO_CHANGE = 0
    SLOWER = 1  # a finding
    USAGE = 2  # bad arguments: nothing was run or deleted
    ERROR = 3  # cannot run the comparison
    FAILED = 4  # a benchmark raised or timed out (a finding of its own)


class SetupError(Exception):
    """The comparison cannot run (exit 3); the message says what to do."""


class UnsafeResultsDir(SetupError):
    """--results-dir names a folder this tool did not create: never emptied."""


def prepare_results_dir(path: Path) -> Path:
    """An empty scratch folder for this run's results, marked as the tool's own.

    The folder is emptied before asv runs, so only a folder that is missing, empty, or
    carries OWNER_MARK (created by an earlier run of this tool) is accepted. Anything else
    (the committed `.asv/results`, the checkout, a home folder) is refused untouched: a
    mistyped option must never delete a user's files.
    """
    path = path.resolve()
    if path.exists() or path.is_symlink():
        if not path.is_dir() or path.is_symlink():
            raise UnsafeResultsDir(f"--results-dir {path} is not a plain folder: refused")
        owned = (path / OWNER_MARK).is_file()
        if not owned and any(path.iterdir()):
            raise UnsafeResultsDir(
                f"--results-dir {path} is not empty and was not created by this tool "
                f"(no {OWNER_MARK}): refused, nothing deleted. Pass a new or empty folder."
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / OWNER_MARK).write_text("scratch results of tools/pr_benchmarks.py\n")
    return path


@dataclass(frozen=True)
class Row:
    benchmark: str  # "name(param, ...)"
    before: str  # human value with unit, or "failed" / "n/a"
    after: str
    ratio: float | None  # after / before, when both are numbers
    change: str  # "slower", "faster", "failed", "fixed", "same", "skipped"


@dataclass(frozen=True)
class Comparison:
    base: str
    head: str
    factor: float
    machine: str
    rows: tuple[Row, ...]

    def with_change(self, *changes: str) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.change in changes)


def factor_setting() -> float:
    """The regression factor: GEOINFER_PR_FACTOR, else DEFAULT_FACTOR."""
    raw = os.environ.get(FACTOR_ENV, "").strip()
    if not raw:
        return DEFAULT_FACTOR
    try:
        factor = float(raw)
    except ValueError:
        raise SetupError(f"{FACTOR_ENV}={raw!r} is not a number (e.g. 1.10)") from None
    if not factor > 1.0:
        raise SetupError(f"{FACTOR_ENV}={raw!r}: the factor must be above 1 (e.g. 1.10)")
    return factor


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve_commits(repo: Path, base: str | None, head: str) -> tuple[str, str]:
    """Full hashes of BASE and HEAD; BASE defaults to the merge base with main. Refuses a
    shallow clone, whose missing history would make the merge base (and asv) wrong."""
    if git(repo, "rev-parse", "--is-shallow-repository") == "true":
        raise SetupError(
            "this is a shallow clone: fetch the full history first "
            "(`git fetch --unshallow`, or actions/checkout with fetch-depth: 0)"
        )
    head_hash = git(repo, "rev-parse", "--verify", f"{head}^{{commit}}")
    if base is None:
        main = _main_ref(repo)
        base = git(repo, "merge-base", head_hash, main)
    base_hash = git(repo, "rev-parse", "--verify", f"{base}^{{commit}}")
    if base_hash == head_hash:
        raise SetupError(f"BASE and HEAD are the same commit {head_hash[:8]}: nothing to compare")
    return base_hash, head_hash


def _main_ref(repo: Path) -> str:
    """`main`, creating the local branch from origin/main if a CI checkout lacks it (asv
    also needs the branch asv.conf.json names)."""
    if _has_ref(repo, f"refs/heads/{MAIN_BRANCH}"):
        return MAIN_BRANCH
    remote = f"refs/remotes/origin/{MAIN_BRANCH}"
    if _has_ref(repo, remote):
        git(repo, "branch", MAIN_BRANCH, remote)
        return MAIN_BRANCH
    raise SetupError(f"no `{MAIN_BRANCH}` or `origin/{MAIN_BRANCH}`: pass BASE explicitly")


def _has_ref(repo: Path, ref: str) -> bool:
    return subprocess.run(["git", "show-ref", "--verify", "--quiet", ref], cwd=repo).returncode == 0


def write_config(repo: Path, results_dir: Path, target: Path) -> Path:
    """asv.conf.json with absolute paths and the PR's own results folder, so PR results
    never mix into the committed history under .asv/results (the environments are
    shared: building them is the slow part)."""
    conf = load_json(str(repo / "asv.conf.json"), js_comments=True)
    for key, default in (("env_dir", "env"), ("html_dir", "html")):
        conf[key] = str((repo / conf.get(key, default)).resolve())
    conf["repo"] = str(repo)
    conf["benchmark_dir"] = str(repo / conf.get("benchmark_dir", "benchmarks"))
    conf["results_dir"] = str(results_dir.resolve())
    target.write_text(json.dumps(conf, indent=2), encoding="utf-8")
    return target


def ensure_machine(machine: str | None, config: Path, env: dict[str, str]) -> None:
    """Register the machine without questions if ~/.asv-machine.json lacks it."""
    name = machine or Machine.get_unique_machine_name()
    try:
        MachineCollection.load(name)
        return
    except UserError:
        pass
    cmd = [sys.executable, "-m", "asv", "machine", "--yes", "--config", str(config)]
    if machine:
        cmd += ["--machine", machine]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"`asv machine --yes` failed: {proc.stdout}{proc.stderr}")


def continuous_command(
    config: Path,
    base: str,
    head: str,
    factor: float,
    bench: Sequence[str],
    machine: str | None,
    quick: bool,
    attributes: Sequence[str],
) -> list[str]:
    cmd = [sys.executable, "-m", "asv", "continuous", "--config", str(config)]
    cmd += ["--factor", f"{factor}", "--show-stderr"]
    cmd += ["--interleave-rounds" if INTERLEAVE_ROUNDS else "--no-interleave-rounds"]
    cpu = _last_cpu()
    if cpu is not None:  # leave the other cores to asv itself and the system
        cmd += ["--cpu-affinity", str(cpu)]
    for regex in bench:
        cmd += ["--bench", regex]
    for attribute in attributes:
        cmd += ["--attribute", attribute]
    if machine:
        cmd += ["--machine", machine]
    if quick:
        cmd += ["--quick"]
    return [*cmd, base, head]


def _last_cpu() -> int | None:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return None
    return cpus[-1] if len(cpus) > 1 else None


def run_streaming(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run, echoing asv's progress as it comes (a PR job should not look hung)."""
    lines = []
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
    sys.stdout.flush()
    return proc.returncode, "".join(lines)


def _unrolled(results_dir: Path, machine: str, commit: str) -> Iterator[tuple]:
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
                yield (name, result.env_name), key, value, (stats, samples)


def _is_nan(value: float | None) -> bool:
    return value is not None and value != value


def _classify(before, after, ss_before, ss_after, factor: float) -> str:
    """The same judgement asv continuous makes (its own comparison function), plus the
    failure states it reports through its exit status instead."""
    if after is None:  # failed at HEAD (whatever BASE did)
        return "failed"
    if before is None:  # failed at BASE only: asv still exits 2 for it
        return "fixed"
    if _is_nan(before) or _is_nan(after):
        return "skipped"
    if _is_result_better(before, after, ss_before, ss_after, factor):
        return "slower"
    if _is_result_better(after, before, ss_after, ss_before, factor):
        return "faster"
    return "same"


def compare_results(
    results_dir: Path, base: str, head: str, factor: float, units: dict[str, str | None]
) -> Comparison:
    """Both commits' saved results, row by row, through asv's results API."""
    machines = [p.parent.name for p in results_dir.glob("*/machine.json")]
    if len(machines) != 1:
        raise SetupError(f"expected results of one machine in {results_dir}, found {machines}")
    machine = machines[0]
    before = {k: v for k, *v in _unrolled(results_dir, machine, base)}
    after = {k: v for k, *v in _unrolled(results_dir, machine, head)}
    several_envs = len({env for _, env in before | after}) > 1
    rows = []
    for name, env in sorted(before.keys() | after.keys()):
        key, value_b, ss_b = before.get((name, env), (None, None, None))
        key_a, value_a, ss_a = after.get((name, env), (None, None, None))
        unit = units.get(key or key_a or "")
        change = _classify(value_b, value_a, ss_b, ss_a, factor)
        if _is_nan(value_b) and _is_nan(value_a):
            continue  # a parameter combination this run did not select
        ratio = None
        if change in ("slower", "faster", "same") and value_b:
            ratio = value_a / value_b
        label = f"{name} [{env}]" if several_envs else name
        rows.append(
            Row(label, _show(value_b, unit, ss_b), _show(value_a, unit, ss_a), ratio, change)
        )
    return Comparison(base, head, factor, machine, tuple(rows))


def _show(value: float | None, unit: str | None, stats_samples) -> str:
    """As asv prints it: the value with its spread (half the 99% CI) where asv has one."""
    if value is None:
        return "failed"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    stats = stats_samples[0] if stats_samples else None
    err = get_err(value, stats) if stats else None
    return human_value(value, unit or "unit", err=err)


HEADLINES = {
    Outcome.NO_CHANGE: "no benchmark slower than the factor",
    Outcome.SLOWER: "SLOWER: at least one benchmark is significantly slower",
    Outcome.FAILED: "FAILED: at least one benchmark raised or timed out",
}
MARKS = {"slower": "🔴 slower", "failed": "❌ failed", "faster": "🟢 faster", "fixed": "fixed"}


def markdown(comparison: Comparison, outcome: Outcome) -> str:
    """The PR comment: verdict, the changed and failed rows, everything else folded."""
    c = comparison
    lines = [
        f"### Benchmarks: {HEADLINES[outcome]}",
        "",
        f"`asv continuous` on `{c.machine}`: base `{c.base[:8]}` (merge base) -> head "
        f"`{c.head[:8]}`, factor {c.factor:.2f}, ratio = after / before (above 1 is slower "
        "for times and memory).",
        "",
    ]
    notable = [r for r in c.rows if r.change in ("slower", "failed", "faster", "fixed")]
    if notable:
        lines += _table(sorted(notable, key=_severity))
    else:
        lines.append("No benchmark changed beyond the factor.")
    rest = [r for r in c.rows if r not in notable]
    if rest:
        lines += ["", f"<details><summary>{len(rest)} unchanged</summary>", ""]
        lines += [*_table(rest), "", "</details>"]
    lines += [
        "",
        f"Reproduce: `python tools/pr_benchmarks.py {c.base[:12]} {c.head[:12]}`",
        "",
    ]
    return "\n".join(lines)


def _severity(row: Row) -> tuple[int, float]:
    order = {"failed": 0, "slower": 1, "fixed": 2, "faster": 3}
    return order[row.change], -(row.ratio or 0.0)


def _table(rows: Sequence[Row]) -> list[str]:
    lines = ["| benchmark | before | after | ratio | change |", "|---|---:|---:|---:|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "n/a"
        name = r.benchmark.replace("|", "\\|")
        lines.append(
            f"| `{name}` | {r.before} | {r.after} | {ratio} | {MARKS.get(r.change, r.change)} |"
        )
    return lines


def decide(returncode: int, output: str, comparison: Comparison | None) -> Outcome:
    """asv continuous's exit status, cross-checked so that an asv error (also exit 1)
    is never reported as a slowdown, nor a failed benchmark as one."""
    failed = comparison is not None and bool(comparison.with_change("failed"))
    if returncode == 2 or (returncode in (0, 1) and failed):
        return Outcome.FAILED
    if returncode == 1 and "PERFORMANCE DECREASED" in output:
        return Outcome.SLOWER
    if returncode == 0 and comparison is not None:
        return Outcome.NO_CHANGE
    return Outcome.ERROR


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("base", nargs="?", help="default: merge base of HEAD and main")
    parser.add_argument("head", nargs="?", default="HEAD", help="default: HEAD")
    parser.add_argument(
        "--bench", "-b", action="append", help=f"asv -b regex (default {DEFAULT_BENCH})"
    )
    parser.add_argument("--machine", help="asv machine name (default: this host)")
    parser.add_argument("--output", type=Path, help=f"Markdown file ({WORK_DIR}/comment.md)")
    parser.add_argument(
        "--results-dir",
        type=Path,
        help=f"scratch results: a new or empty folder, or one this tool made "
        f"(emptied first; anything else is refused) ({WORK_DIR}/results)",
    )
    parser.add_argument(
        "--attribute", "-a", action="append", default=[], help="asv -a override, e.g. rounds=1"
    )
    parser.add_argument("--quick", action="store_true", help="asv --quick (smoke runs only)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = {**os.environ, **BENCH_ENV}
    try:
        repo = Path(git(Path.cwd(), "rev-parse", "--show-toplevel"))
        output = args.output or repo / WORK_DIR / "comment.md"
        results_dir = args.results_dir or repo / WORK_DIR / "results"
        factor = factor_setting()
        base, head = resolve_commits(repo, args.base, args.head)
        results_dir = prepare_results_dir(results_dir)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(repo, results_dir, Path(tmp) / "asv.conf.json")
            ensure_machine(args.machine, config, env)
            cmd = continuous_command(
                config,
                base,
                head,
                factor,
                args.bench or DEFAULT_BENCH,
                args.machine,
                args.quick,
                args.attribute,
            )
            print("$ asv", " ".join(cmd[4:]), flush=True)
            returncode, log = run_streaming(cmd, env, repo)
        comparison = compare_results(results_dir, base, head, factor, _units(results_dir))
    except UnsafeResultsDir as exc:
        print(f"pr_benchmarks: {exc}", file=sys.stderr)
        return Outcome.USAGE
    except (SetupError, UserError) as exc:
        print(f"pr_benchmarks: cannot compare: {exc}", file=sys.stderr)
        return Outcome.ERROR
    outcome = decide(returncode, log, comparison)
    if outcome is Outcome.ERROR:
        print(
            f"pr_benchmarks: asv continuous exited {returncode} without a verdict (see above)",
            file=sys.stderr,
        )
        return outcome
    text = markdown(comparison, outcome)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"\n{text}\n(written to {output})")
    return outcome


def _units(results_dir: Path) -> dict[str, str | None]:
    path = results_dir / "benchmarks.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: b.get("unit") for name, b in data.items() if isinstance(b, dict)}


if __name__ == "__main__":
    sys.exit(main())
