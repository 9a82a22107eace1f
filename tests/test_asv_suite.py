"""The asv suite, run for real: `asv check`, a quick run of every benchmark, and a run over
two real commits of this repository, each built into a virtualenv.

These are the slow tests of the project (a few minutes); they run in CI, lean: results,
environments and the machine file go to a temporary folder, not the repository.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import require

require("asv")
from asv.util import load_json  # noqa: E402

from tools import asvkit  # noqa: E402

pytestmark = pytest.mark.e2e

MACHINE = "ci-test"


@pytest.fixture(scope="module")
def project(tmp_path_factory, asv_env_dir: Path) -> asvkit.AsvProject:
    """This checkout as an asv project writing into a temp folder (one virtualenv build per
    session), with a HOME that holds the machine file."""
    tmp = tmp_path_factory.mktemp("asv")
    project = asvkit.AsvProject(asvkit.ROOT, tmp, asv_env_dir, tmp / "home")
    project.register(MACHINE)
    return project


def asv(project: asvkit.AsvProject, *args: str, timeout: int = 900):
    return project.asv(*args, check=False, timeout=timeout)


def git(*args: str) -> str:
    return asvkit.git(asvkit.ROOT, *args)


def saved_results(results_dir: Path) -> dict[str, dict]:
    """commit hash -> {benchmark name: [values...]} from asv's saved JSON results."""
    found: dict[str, dict] = {}
    for path in (results_dir / MACHINE).glob("*.json"):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        found[data["commit_hash"]] = {
            name: dict(zip(data["result_columns"], row, strict=False))
            for name, row in data["results"].items()
        }
    return found


def test_asv_check_passes(project):
    out = asv(project, "check", "--python=same")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No problems found" in out.stdout


def test_quick_run_of_the_whole_suite_has_no_failure_and_sane_trackers(project):
    head = git("rev-parse", "HEAD")
    # ~9 minutes on an idle 2-core box (`asv run --quick --durations all`: a third of it the
    # stage instruction counts); twice that under load from other work.
    out = asv(
        project,
        "run",
        "--python=same",
        "--quick",
        "--set-commit-hash",
        head,
        "--machine",
        MACHINE,
        "--show-stderr",
        timeout=1800,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "failed" not in out.stdout.lower()

    results = saved_results(project.results_dir)[head]
    benchmarks = load_json(str(project.results_dir / "benchmarks.json"))
    assert len(results) == sum(1 for k in benchmarks if k != "version")
    for name, row in results.items():
        values = [v for v in row["result"]]
        if name.endswith("setup_cache") or benchmarks[name]["type"] != "track":
            assert any(v is not None for v in values), name
            continue
        assert benchmarks[name]["unit"] not in ("", "unit"), f"{name} has no unit"
        # asv files a skipped combination (NotImplementedError) as NaN, a failed one as
        # None: a ratio filed under one `impl` skips the others by design.
        measured = [v for v in values if v is not None and not math.isnan(v)]
        assert measured, f"{name}: every parameter combination failed or was skipped"
        for v in measured:
            assert math.isfinite(v) and v > 0, f"{name} returned {v}"


def test_run_over_two_real_commits_in_virtualenvs_saves_both(project):
    commits = git("rev-list", "--first-parent", "-n", "2", "HEAD").split()
    hashfile = project.work / "two-commits.txt"
    hashfile.write_text("\n".join(commits) + "\n")
    out = asv(
        project,
        "run",
        f"HASHFILE:{hashfile}",
        "--machine",
        MACHINE,
        "-b",
        r"WorkflowRun\.track_traced_peak_mib",
        "--show-stderr",
        timeout=1500,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    saved = saved_results(project.results_dir)
    name = "bench_workflows.WorkflowRun.track_traced_peak_mib"
    for commit in commits:
        assert commit in saved, f"no results saved for {commit[:8]}"
        values = saved[commit][name]["result"]
        assert all(v is not None and v > 0 for v in values), (commit[:8], values)
