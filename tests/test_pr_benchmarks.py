"""tools/pr_benchmarks.py for real: `asv continuous` between a pull request and its merge
base, in a throwaway clone with three PR branches off main:

    pr-slow    the basic workflow's daily_aggregates redoes its group-by (~100x slower)
    pr-broken  daily_aggregates reads a column that does not exist (the benchmark raises)
    pr-docs    a comment-only change

Each run is lean (one benchmark, one round per commit via `-a rounds=1`); the virtualenv
is the one the session's other asv tests share. The exit statuses must never be confused:
slower is 1, a failed benchmark is 4 (never reported as slower), no change is 0, and a
comparison that could not run is 3.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from asv_helpers import (
    BASIC,
    RAISE_PATCH,
    REPO_ROOT,
    SLOW_PATCH,
    asv_environ,
    commit,
    git,
    load_tool,
    make_clone,
    shared_env_dir,
)

pytestmark = pytest.mark.e2e

TOOL = REPO_ROOT / "tools" / "pr_benchmarks.py"
TIME_BASIC_SEED = r"WorkflowRun\.time_run\('basic', 'seed'\)"
PEAK_BASIC_SEED = r"WorkflowRun\.track_traced_peak_mib\('basic', 'seed'\)"
TIME_ROW = "`bench_workflows.WorkflowRun.time_run('basic', 'seed')`"
PEAK_ROW = "`bench_workflows.WorkflowRun.track_traced_peak_mib('basic', 'seed')`"

pr = load_tool("pr_benchmarks")


@dataclass(frozen=True)
class PrRepo:
    clone: Path
    home: Path
    work: Path
    base: str


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory) -> PrRepo:
    work = tmp_path_factory.mktemp("pr")
    clone = make_clone(work / "repo")
    base = git(clone, "rev-parse", "HEAD")
    for branch, message, patch in (
        ("pr-slow", "perf: redo the group-by", SLOW_PATCH),
        ("pr-broken", "refactor: read the wrong column", RAISE_PATCH),
        ("pr-docs", "docs: a comment", "\n# A comment-only change.\n"),
    ):
        git(clone, "checkout", "--quiet", "-b", branch, base)
        commit(clone, message, BASIC, patch)
    git(clone, "checkout", "--quiet", "main")
    # The tool reads the clone's asv.conf.json (env_dir .asv/env): point that at the
    # session's shared environments instead of building a new virtualenv here.
    (clone / ".asv").mkdir(exist_ok=True)
    (clone / ".asv" / "env").symlink_to(shared_env_dir(tmp_path_factory))
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
            sys.executable,
            str(TOOL),
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


def rows_of(comment: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in comment.splitlines()
        if line.startswith("| `")
    ]


def test_slowdown_exits_1_and_the_table_names_it(pr_repo: PrRepo) -> None:
    run = run_tool(pr_repo, "pr-slow", TIME_BASIC_SEED)  # BASE, HEAD: the defaults
    assert run.status == 1, run.output
    assert "SLOWER" in run.comment and "FAILED" not in run.comment
    assert f"base `{pr_repo.base[:8]}` (merge base)" in run.comment
    [row] = [r for r in rows_of(run.comment) if r[0] == TIME_ROW]
    _, before, after, ratio, change = row
    assert "slower" in change
    assert float(ratio) > 10.0, row  # ~100x planted
    assert before.endswith("s") and after.endswith("s")  # times with their units
    assert run.comment in run.output  # the same Markdown on stdout, for the job log


def test_failure_exits_2_and_is_not_called_a_slowdown(pr_repo: PrRepo) -> None:
    run = run_tool(pr_repo, "pr-broken", TIME_BASIC_SEED)
    assert run.status == pr.Outcome.FAILED, run.output
    assert "KeyError: 'no_such_column'" in run.output  # asv's --show-stderr
    assert "FAILED" in run.comment and "SLOWER" not in run.comment
    [row] = [r for r in rows_of(run.comment) if r[0] == TIME_ROW]
    assert row[2] == "failed" and "failed" in row[4] and "slower" not in row[4], row


def test_unchanged_pair_exits_0(pr_repo: PrRepo) -> None:
    # The traced peak is deterministic: a comment-only PR must compare exactly equal.
    run = run_tool(pr_repo, "pr-docs", PEAK_BASIC_SEED, pr_repo.base, "pr-docs")
    assert run.status == 0, run.output
    assert "no benchmark slower than the factor" in run.comment
    [row] = [r for r in rows_of(run.comment) if r[0] == PEAK_ROW]
    assert row[3] == "1.00" and row[4] == "same", row


def test_shallow_clone_is_refused(pr_repo: PrRepo, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{pr_repo.clone}", str(shallow)],
        check=True,
    )
    proc = subprocess.run(
        [sys.executable, str(TOOL)],
        cwd=shallow,
        env=asv_environ(pr_repo.home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "shallow clone" in proc.stderr and "fetch-depth: 0" in proc.stderr


def _comparison(*changes: str):
    rows = tuple(pr.Row(f"b{i}", "1s", "2s", 2.0, c) for i, c in enumerate(changes))
    return pr.Comparison("a" * 40, "b" * 40, 1.1, "box", rows)


@pytest.mark.parametrize(
    ("returncode", "output", "changes", "expected"),
    [
        (0, "BENCHMARKS NOT SIGNIFICANTLY CHANGED.", ("same",), pr.Outcome.NO_CHANGE),
        (0, "PERFORMANCE INCREASED.", ("faster",), pr.Outcome.NO_CHANGE),
        (1, "PERFORMANCE DECREASED.", ("slower",), pr.Outcome.SLOWER),
        # asv exits 1 on its own errors too (unknown machine, bad commit): not a slowdown.
        (1, "No information stored about machine", (), pr.Outcome.ERROR),
        (2, "asv: benchmark failed", ("failed",), pr.Outcome.FAILED),
        # A failure and a slowdown in one run: the failure is what the PR must fix first.
        (2, "", ("slower", "failed"), pr.Outcome.FAILED),
        (1, "PERFORMANCE DECREASED.", ("failed",), pr.Outcome.FAILED),
        (137, "Killed", (), pr.Outcome.ERROR),
    ],
)
def test_exit_status_is_never_confused(returncode, output, changes, expected) -> None:
    assert pr.decide(returncode, output, _comparison(*changes)) is expected


def test_markdown_puts_failures_and_slowdowns_first() -> None:
    text = pr.markdown(_comparison("same", "slower", "failed", "faster"), pr.Outcome.FAILED)
    table = [r[0] for r in rows_of(text.split("<details>")[0])]
    assert table == ["`b2`", "`b1`", "`b3`"]  # failed, slower, faster
    assert "1 unchanged" in text and "| benchmark | before | after | ratio |" in text


def test_factor_comes_from_one_setting(monkeypatch) -> None:
    monkeypatch.delenv(pr.FACTOR_ENV, raising=False)
    assert pr.factor_setting() == pr.DEFAULT_FACTOR == 1.10
    monkeypatch.setenv(pr.FACTOR_ENV, "1.25")
    assert pr.factor_setting() == 1.25
    for bad in ("fast", "0.9", "1"):
        monkeypatch.setenv(pr.FACTOR_ENV, bad)
        with pytest.raises(pr.SetupError, match=pr.FACTOR_ENV):
            pr.factor_setting()


def test_github_workflow_runs_the_same_command() -> None:
    text = (REPO_ROOT / ".github" / "workflows" / "benchmarks.yml").read_text()
    for needle in (
        "pull_request:",
        "fetch-depth: 0",
        'python-version: "3.11"',
        "pip install -e '.[bench]'",
        "asv machine --yes",
        "python tools/pr_benchmarks.py",
        "pull-requests: write",
        "createComment",
    ):
        assert needle in text, needle
    # Distinct failure messages for a slowdown, a failed benchmark and a tool error.
    assert '1) echo "::error title=Benchmarks slower' in text
    assert '2) echo "::error title=Benchmark failed' in text
    assert '*) echo "::error title=Benchmarks not run' in text
