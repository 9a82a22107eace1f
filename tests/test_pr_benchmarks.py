"""tools.pr_benchmarks for real: `asv continuous` between a pull request and its merge
base, in a throwaway clone with four PR branches off main:

    pr-slow    the basic workflow's daily_aggregates redoes its group-by (~100x slower)
    pr-fat     daily_aggregates holds a 16 MiB scratch buffer (traced peak +16 MiB)
    pr-broken  daily_aggregates reads a column that does not exist (the benchmark raises)
    pr-docs    a comment-only change

Each run is lean (two rows of the basic workflow at `seed`, one round per commit via
`-a rounds=1`); the virtualenv is the one the session's other asv tests share. The tool
runs as `python -m tools.pr_benchmarks` in the clone, as a user runs it in a checkout.
The unit tests at the end (verdicts, table) need asv importable, nothing run. The gate
decides on the deterministic rows only: the traced-memory row fails pr-fat (exit 1), the
timed row of pr-slow is shown as advice and never fails the check alone (exit 0), a
failed benchmark is a finding with its own headline (exit 1, never "slower"), a dirty work
tree is a usage error (2) and a comparison that could not run is 3. The instruction rows
(setup_cache counts every workflow: minutes) are covered by test_gate_repeatability.py and
the trials in the issue's closing note.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require

require("asv")
from asv_helpers import BASIC, MEMORY_MIB, MEMORY_PATCH, RAISE_PATCH, SLOW_PATCH  # noqa: E402

from tools import asvkit  # noqa: E402
from tools import pr_benchmarks as pr  # noqa: E402
from tools.asvkit import asv_environ, git  # noqa: E402

REPO_ROOT = asvkit.ROOT
TOOL = [sys.executable, "-m", "tools.pr_benchmarks"]
BASIC_SEED = r"WorkflowRun\.(time_run|track_traced_peak_mib)\('basic', 'seed'\)"
TIME_ROW = "`bench_workflows.WorkflowRun.time_run('basic', 'seed')`"
PEAK_ROW = "`bench_workflows.WorkflowRun.track_traced_peak_mib('basic', 'seed')`"


@dataclass(frozen=True)
class PrRepo:
    clone: Path
    home: Path
    work: Path
    base: str


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory, asv_env_dir: Path) -> PrRepo:
    work = tmp_path_factory.mktemp("pr")
    clone = asvkit.clone_head(work / "repo")
    base = git(clone, "rev-parse", "HEAD")
    for branch, message, patch in (
        ("pr-slow", "perf: redo the group-by", SLOW_PATCH),
        ("pr-fat", "perf: a scratch buffer in daily_aggregates", MEMORY_PATCH),
        ("pr-broken", "refactor: read the wrong column", RAISE_PATCH),
        ("pr-docs", "docs: a comment", "\n# A comment-only change.\n"),
    ):
        git(clone, "checkout", "--quiet", "-b", branch, base)
        asvkit.commit_append(clone, BASIC, patch, message)
    git(clone, "checkout", "--quiet", "main")
    # The tool reads the clone's asv.conf.json (env_dir .asv/env): point that at the
    # session's shared environments instead of building a new virtualenv here.
    (clone / ".asv").mkdir(exist_ok=True)
    (clone / ".asv" / "env").symlink_to(asv_env_dir)
    (work / "home").mkdir()
    return PrRepo(clone, work / "home", work, base)


@dataclass(frozen=True)
class ToolRun:
    status: int
    output: str
    comment: str


def run_tool(repo: PrRepo, branch: str, bench: str, *args: str) -> ToolRun:
    git(repo.clone, "checkout", "--quiet", branch)
    comment = repo.work / f"{branch}.md"
    proc = subprocess.run(
        [
            *TOOL,
            *args,
            "--machine",
            "pr-box",  # not registered yet: the tool registers it (asv machine --yes)
            "--bench",
            bench,
            "--attribute",
            "rounds=1",
            "--results-dir",
            str(repo.work / f"results-{branch}"),
            "--output",
            str(comment),
        ],
        cwd=repo.clone,
        env=asv_environ(repo.home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    text = comment.read_text() if comment.is_file() else ""
    return ToolRun(proc.returncode, proc.stdout + proc.stderr, text)


def rows_of(comment: str) -> dict[str, list[str]]:
    """benchmark -> [kind, before, after, ratio, factor, change]."""
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in comment.splitlines()
        if line.startswith("| `")
    ]
    return {row[0]: row[1:] for row in rows}


@pytest.mark.e2e
def test_a_slower_time_alone_is_advice_and_exits_0(pr_repo: PrRepo) -> None:
    run = run_tool(pr_repo, "pr-slow", BASIC_SEED)  # BASE, HEAD: the defaults
    assert run.status == 0, run.output
    assert "no gate row slower than its factor" in run.comment
    assert f"`{pr_repo.base[:10]}`" in run.comment and "(merge base)" in run.comment
    kind, before, after, ratio, factor, change = rows_of(run.comment)[TIME_ROW]
    assert kind == "time: advice" and "slower" in change and factor == "1.1"
    assert float(ratio) > 10.0  # ~100x planted
    assert before.endswith("s") and after.endswith("s")  # times with their units
    assert rows_of(run.comment)[PEAK_ROW][-1] == "same"
    assert run.comment in run.output  # the same Markdown on stdout, for the job log


@pytest.mark.e2e
def test_a_fatter_gate_row_exits_1_and_says_which_kind_fired(pr_repo: PrRepo) -> None:
    run = run_tool(pr_repo, "pr-fat", BASIC_SEED)
    assert run.status == 1, run.output
    assert "SLOWER: a gate row" in run.comment and "FAILED" not in run.comment
    kind, before, after, ratio, factor, change = rows_of(run.comment)[PEAK_ROW]
    assert kind == "traced memory: gate" and factor == "1.01" and "slower" in change
    grown = float(after.removesuffix(" MiB")) - float(before.removesuffix(" MiB"))
    assert abs(grown - MEMORY_MIB) < 0.1, (before, after)  # less basic's own 46 KiB
    assert len(ratio.split(".")[1]) == 3  # three decimals


@pytest.mark.e2e
def test_failure_is_a_finding_never_called_a_slowdown(pr_repo: PrRepo) -> None:
    run = run_tool(pr_repo, "pr-broken", BASIC_SEED)
    assert run.status == 1, run.output
    assert "KeyError: 'no_such_column'" in run.output  # asv's --show-stderr
    assert "FAILED" in run.comment and "SLOWER" not in run.comment
    row = rows_of(run.comment)[TIME_ROW]
    assert row[2] == "failed" and "failed" in row[-1] and "slower" not in row[-1], row


@pytest.mark.e2e
def test_unchanged_pair_exits_0(pr_repo: PrRepo) -> None:
    # The traced peak is deterministic: a comment-only PR must compare exactly equal.
    run = run_tool(pr_repo, "pr-docs", BASIC_SEED, pr_repo.base, "pr-docs")
    assert run.status == 0, run.output
    assert "no gate row slower than its factor" in run.comment
    _, _, _, ratio, _, change = rows_of(run.comment)[PEAK_ROW]
    assert ratio == "1.000" and change == "same"


@pytest.mark.e2e
def test_a_dirty_work_tree_is_refused(pr_repo: PrRepo) -> None:
    git(pr_repo.clone, "checkout", "--quiet", "pr-docs")
    bench_file = pr_repo.clone / "benchmarks" / "bench_workflows.py"
    original = bench_file.read_text()
    bench_file.write_text(original + "\n# uncommitted\n")
    try:
        proc = subprocess.run(
            [*TOOL, "--results-dir", str(pr_repo.work / "dirty")],
            cwd=pr_repo.clone,
            env=asv_environ(pr_repo.home),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        bench_file.write_text(original)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "uncommitted changes" in proc.stderr and "bench_workflows.py" in proc.stderr
    assert not (pr_repo.work / "dirty").exists()  # refused before anything was made


@pytest.mark.e2e
def test_shallow_clone_is_refused(pr_repo: PrRepo, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{pr_repo.clone}", str(shallow)],
        check=True,
    )
    proc = subprocess.run(
        TOOL,
        cwd=shallow,
        env=asv_environ(pr_repo.home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "shallow clone" in proc.stderr and "fetch-depth: 0" in proc.stderr


GATE = pr.row_kind("x.track_instructions('basic', 'seed')")
ADVICE = pr.row_kind("x.time_run('basic', 'seed')")


def _comparison(*rows: tuple[str, pr.RowKind]):
    made = tuple(pr.Row(f"b{i}", kind, "1s", "2s", 2.0, c) for i, (c, kind) in enumerate(rows))
    return pr.Comparison("a" * 40, "b" * 40, "box", made)


@pytest.mark.parametrize(
    ("returncode", "output", "rows", "expected"),
    [
        (0, "BENCHMARKS NOT SIGNIFICANTLY CHANGED.", [("same", GATE)], pr.Outcome.NO_CHANGE),
        (0, "PERFORMANCE INCREASED.", [("faster", GATE)], pr.Outcome.NO_CHANGE),
        (1, "PERFORMANCE DECREASED.", [("slower", GATE)], pr.Outcome.SLOWER),
        # A timed row alone never fails the check, whatever asv's own verdict.
        (1, "PERFORMANCE DECREASED.", [("slower", ADVICE)], pr.Outcome.NO_CHANGE),
        # asv exits 1 on its own errors too (unknown machine, bad commit): not a slowdown.
        (1, "No information stored about machine", [], pr.Outcome.ERROR),
        (2, "asv: benchmark failed", [("failed", ADVICE)], pr.Outcome.FAILED),
        # A failure and a slowdown in one run: the failure is what the PR must fix first.
        (2, "", [("slower", GATE), ("failed", ADVICE)], pr.Outcome.FAILED),
        (1, "PERFORMANCE DECREASED.", [("failed", GATE)], pr.Outcome.FAILED),
        (137, "Killed", [], pr.Outcome.ERROR),
    ],
)
def test_exit_status_is_never_confused(returncode, output, rows, expected) -> None:
    assert pr.decide(returncode, output, _comparison(*rows)) is expected


def test_exit_codes_follow_the_project_table() -> None:
    codes = {outcome: outcome.exit_code for outcome in pr.Outcome}
    assert codes[pr.Outcome.NO_CHANGE] == codes[pr.Outcome.SMOKE] == 0
    assert codes[pr.Outcome.SLOWER] == codes[pr.Outcome.FAILED] == 1
    assert codes[pr.Outcome.USAGE] == 2 and codes[pr.Outcome.ERROR] == 3


def test_bad_arguments_are_a_usage_error() -> None:
    proc = subprocess.run(
        [*TOOL, "--bogus"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


def test_deterministic_rows_are_judged_by_ratio_against_their_own_factor() -> None:
    instructions = pr.row_kind("w.track_instructions('basic', 'seed')")
    memory = pr.row_kind("w.track_traced_peak_mib('basic', 'seed')")
    assert (instructions.factor, memory.factor) == (1.005, 1.01)
    assert pr.classify(1e9, 1.0051e9, None, None, instructions) == "slower"
    assert pr.classify(1e9, 1.0049e9, None, None, instructions) == "same"
    assert pr.classify(1e9, 0.99e9, None, None, instructions) == "faster"
    assert pr.classify(50.0, 50.4, None, None, memory) == "same"
    assert pr.classify(50.0, 50.6, None, None, memory) == "slower"
    # +2% of a 46 KiB peak is a few Python objects, not a memory finding.
    assert pr.classify(0.0457, 0.0466, None, None, memory) == "same"
    stage = pr.row_kind("w.track_stage_instructions('basic.ingest', 'seed')")
    assert pr.classify(244_722, 246_700, None, None, stage) == "same"  # A/A noise
    assert pr.classify(244_722, 491_000, None, None, stage) == "slower"
    assert pr.classify(None, 1.0, None, None, memory) == "fixed"
    assert pr.classify(1.0, None, None, None, memory) == "failed"


def test_values_are_shown_precisely_with_units() -> None:
    assert pr.show_value(1932263408.0, "instructions") == "1.932e9 instr"
    assert pr.show_value(57.97213, "MiB") == "57.972 MiB"
    assert pr.show_value(None, "MiB") == "failed"


def test_markdown_puts_failures_and_slowdowns_first_and_shows_every_gate_row() -> None:
    comparison = _comparison(
        ("same", ADVICE), ("slower", GATE), ("failed", ADVICE), ("faster", ADVICE), ("same", GATE)
    )
    text = pr.markdown(comparison, pr.Outcome.FAILED, {"a" * 40: "base subject"})
    shown = list(rows_of(text.split("<details>")[0]))
    assert shown == ["`b2`", "`b1`", "`b3`", "`b4`"]  # failed, slower, faster, then gate
    assert "1 more rows, unchanged" in text and "base subject" in text
    assert "| benchmark | kind | before | after | ratio | factor | change |" in text
    assert "instructions 1.005" in text and "time 1.1" in text


def test_github_workflow_runs_the_same_command() -> None:
    text = (REPO_ROOT / ".github" / "workflows" / "benchmarks.yml").read_text()
    for needle in (
        "pull_request:",
        "fetch-depth: 0",
        'python-version: "3.11"',
        "pip install -e '.[bench]'",
        "asv machine --yes",
        "python -m tools.pr_benchmarks",
        "pull-requests: write",
        "createComment",
    ):
        assert needle in text, needle
    # Distinct failure messages for a finding, a usage error and a tool error.
    assert '1) echo "::error title=Benchmarks: a finding' in text
    assert '2) echo "::error title=Benchmarks not run (usage)' in text
    assert '*) echo "::error title=Benchmarks not run::' in text
    assert "apt-get install -y -qq valgrind" in text
