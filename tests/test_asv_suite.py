"""The asv suite, run for real: `asv check`, a quick run of every benchmark, and a run over
two real commits of this repository, each built into a virtualenv.

These are the slow tests of the project (a few minutes); they run in CI, lean: results,
environments and the machine file go to a temporary folder, not the repository.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asv.util import load_json
from asv_helpers import shared_env_dir

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
ASV = [sys.executable, "-m", "asv"]
MACHINE = "ci-test"


@pytest.fixture(scope="module")
def asv_env(tmp_path_factory):
    """A copy of asv.conf.json writing into a temp folder, and a HOME with a machine file."""
    tmp = tmp_path_factory.mktemp("asv")
    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        results_dir=str(tmp / "results"),
        env_dir=str(shared_env_dir(tmp_path_factory)),  # one virtualenv build per session
        html_dir=str(tmp / "html"),
    )
    conf_path = tmp / "asv.conf.json"
    conf_path.write_text(json.dumps(conf))
    env = {**os.environ, "HOME": str(tmp), "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run(
        [*ASV, "machine", "--yes", "--machine", MACHINE, "--config", str(conf_path)],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return conf_path, env, tmp


def asv(asv_env, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    conf_path, env, _ = asv_env
    return subprocess.run(
        [*ASV, *args, "--config", str(conf_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


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


def test_asv_check_passes(asv_env):
    out = asv(asv_env, "check", "--python=same")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No problems found" in out.stdout


def test_quick_run_of_the_whole_suite_has_no_failure_and_sane_trackers(asv_env):
    head = git("rev-parse", "HEAD")
    out = asv(
        asv_env,
        "run",
        "--python=same",
        "--quick",
        "--set-commit-hash",
        head,
        "--machine",
        MACHINE,
        "--show-stderr",
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "failed" not in out.stdout.lower()

    _, _, tmp = asv_env
    results = saved_results(tmp / "results")[head]
    benchmarks = load_json(str(tmp / "results" / "benchmarks.json"))
    assert len(results) == sum(1 for k in benchmarks if k != "version")
    for name, row in results.items():
        values = [v for v in row["result"]]
        if name.endswith("setup_cache") or benchmarks[name]["type"] != "track":
            assert any(v is not None for v in values), name
            continue
        assert benchmarks[name]["unit"] not in ("", "unit"), f"{name} has no unit"
        measured = [v for v in values if v is not None]
        assert measured, f"{name}: every parameter combination failed or was skipped"
        for v in measured:
            assert math.isfinite(v) and v > 0, f"{name} returned {v}"


def test_run_over_two_real_commits_in_virtualenvs_saves_both(asv_env):
    _, _, tmp = asv_env
    commits = git("rev-list", "--first-parent", "-n", "2", "HEAD").split()
    hashfile = tmp / "two-commits.txt"
    hashfile.write_text("\n".join(commits) + "\n")
    out = asv(
        asv_env,
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
    saved = saved_results(tmp / "results")
    name = "bench_workflows.WorkflowRun.track_traced_peak_mib"
    for commit in commits:
        assert commit in saved, f"no results saved for {commit[:8]}"
        values = saved[commit][name]["result"]
        assert all(v is not None and v > 0 for v in values), (commit[:8], values)
