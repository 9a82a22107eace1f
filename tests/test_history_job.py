"""The main job (tools.history_job, what scripts/run-benchmarks runs) on a throwaway
clone whose main has this repository's last commits: it plans 3 commits, measures the
newest first, publishes after it, and is killed then. What it published must be a
browsable, offline-ready history with that commit; a rerun plans only what is left.

One cheap benchmark keeps it lean (the environment folder is the session's shared one):
the job's behaviour, not the suite, is under test here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require

require("asv")
from asv_helpers import MACHINE, PEAK_BENCH  # noqa: E402

from tools import asvkit  # noqa: E402
from tools import offline_html as offline  # noqa: E402
from tools.asvkit import AsvProject, git  # noqa: E402

pytestmark = pytest.mark.e2e

REPO_ROOT = asvkit.ROOT
ONE_BENCH = re.escape(PEAK_BENCH) + r"\('basic', 'seed'\)"
PUBLISHED = re.compile(r"^== \[1/3\] (\w{8}): .* wall .* published to ")
DEADLINE_S = 900


@pytest.fixture
def project(tmp_path: Path, asv_env_dir: Path) -> AsvProject:
    clone = asvkit.clone_head(tmp_path / "repo")
    return AsvProject(clone, tmp_path, asv_env_dir, tmp_path / "home")


def _job(project: AsvProject, *args: str) -> list[str]:
    return [sys.executable, "-m", "tools.history_job", "--config", str(project.config), *args]


def test_interrupted_job_leaves_a_browsable_history(project: AsvProject) -> None:
    newest = git(project.clone, "rev-parse", "main")
    cmd = _job(project, "--commits", "3", "--machine", MACHINE, "-b", ONE_BENCH)
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches asv too
    )
    lines: list[str] = []
    published = None
    started = time.monotonic()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = PUBLISHED.match(line)
            if match:
                published = match.group(1)
                os.killpg(proc.pid, signal.SIGTERM)  # right after the first publish
                break
            if time.monotonic() - started > DEADLINE_S:
                break
        rest, _ = proc.communicate(timeout=120)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = "".join(lines)
    assert published == newest[:8], log[-6000:]
    # Said up front: how many commits and how long.
    assert "quick: 3 of the newest 3 commit(s) of main to measure, newest first" in log
    assert re.search(r"== estimate: [\d.]+ (min|s) \(", log), log[:2000]
    assert re.search(r"== \[1/3\] \w{8}: \d+ s wall \(asv run \d+ s, publish \d+ s\)", log)
    assert proc.returncode in (130, -signal.SIGTERM), log[-3000:]

    html = project.html_dir
    index = json.loads((html / "index.json").read_text())
    assert newest in index["revision_to_hash"].values()
    assert index["params"]["machine"] == [MACHINE]
    graphs = list((html / "graphs").rglob(f"{PEAK_BENCH}.json"))
    assert graphs, sorted(str(p.relative_to(html)) for p in (html / "graphs").rglob("*"))
    page = (html / "index.html").read_text()
    assert offline.external_resources(page) == []  # offline-ready by `asv publish` itself
    assert (html / "vendor" / "jquery").is_dir()

    # Resumes: the newest commit is measured, so a rerun plans the rest only.
    plan = subprocess.run(
        [*cmd, "--plan"], cwd=REPO_ROOT, env=project.env, capture_output=True, text=True
    )
    assert plan.returncode == 0, plan.stderr
    todo = re.search(r"quick: (\d) of the newest 3 commit\(s\)", plan.stdout)
    assert todo and int(todo.group(1)) in (1, 2), plan.stdout  # the 2nd may have finished
    assert "already measured, skipped" in plan.stdout
