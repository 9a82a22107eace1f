"""tools.pr_benchmarks --results-dir: only a new, empty or tool-made folder is emptied.

A mistyped `--results-dir .asv/results` once wiped the committed history, `.` the
checkout. These run the real command line, which must refuse before anything is deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

require("asv")
from tools import pr_benchmarks as pr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _run_tool(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line, run in another repository (`tools` from this checkout)."""
    return subprocess.run(
        [sys.executable, "-m", "tools.pr_benchmarks", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A two-commit git repository with files the tool must never delete."""
    root = tmp_path / "repo"
    root.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "--quiet", "--initial-branch=main")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (root / "history").mkdir()
    (root / "history" / "committed.json").write_text("{}")
    git("add", ".")
    git("commit", "--quiet", "-m", "one")
    (root / "README").write_text("two")
    git("add", ".")
    git("commit", "--quiet", "-m", "two")
    return root


@pytest.mark.parametrize("target", ["history", ".", ".."])
def test_a_folder_the_tool_did_not_make_is_refused_and_kept(repo: Path, target: str) -> None:
    before = sorted(p.relative_to(repo.parent) for p in repo.parent.rglob("*"))
    proc = _run_tool(repo, "HEAD~1", "HEAD", "--results-dir", target)
    assert proc.returncode == pr.Outcome.USAGE.exit_code, proc.stderr
    assert "refused" in proc.stderr
    assert sorted(p.relative_to(repo.parent) for p in repo.parent.rglob("*")) == before


def test_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("keep me")
    with pytest.raises(pr.UnsafeResultsDir):
        pr.prepare_results_dir(target)
    assert target.read_text() == "keep me"


def test_new_empty_and_tool_made_folders_are_accepted(tmp_path: Path) -> None:
    new = pr.prepare_results_dir(tmp_path / "a" / "new")
    assert (new / pr.OWNER_MARK).is_file()
    (new / "machine" / "old.json").parent.mkdir()
    (new / "machine" / "old.json").write_text("{}")
    again = pr.prepare_results_dir(new)  # made by the tool: emptied
    assert sorted(p.name for p in again.iterdir()) == [pr.OWNER_MARK]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (pr.prepare_results_dir(empty) / pr.OWNER_MARK).is_file()
