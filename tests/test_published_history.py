"""The committed history (html/, published from .asv/results) as a person sees it.

Opened in headless Chromium with no network, as tests/test_browser.py opens a planted
history: the workflow graphs and the instruction tracker must have at least 10 points
on the committed machine, and every step the regressions page lists for a deterministic
tracker must fall on commits that changed measured code (a step on a range of
README-only commits is noise, which these trackers must not make).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import require

require("asv", "chromium")
from test_browser import (  # noqa: E402, F401
    browser,
    console_errors,
    graph_series,
    open_page,
    serve,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "html"
MACHINE = "vm-2core"
MIN_POINTS = 10
GRAPHS = [
    (f"bench_workflows.WorkflowRun.{tracker}", workflow)
    for tracker in ("track_traced_peak_mib", "time_run")
    for workflow in ("basic", "disease_surveillance", "precision_farming", "climate_analysis")
] + [
    ("bench_instructions.WorkflowInstructions.track_instructions", workflow)
    for workflow in ("basic", "disease_surveillance", "precision_farming", "climate_analysis")
]
DETERMINISTIC = ("track_instructions", "track_traced_peak_mib", "track_stage_instructions")
MEASURED_CODE = ("geoinfer_workflows/", "benchmarks/")


def _points_on_machine(driver, base: str, benchmark: str, workflow: str) -> int:
    page = f"index.html#{benchmark}?p-workflow={quote(repr(workflow))}&p-size=%27seed%27"
    open_page(driver, base + page)
    series = graph_series(driver, f"graph of {benchmark} {workflow}")
    assert not console_errors(driver)
    # With one machine in the history asv labels a line by its parameters only.
    lines = [n for label, n in series if f"machine-{MACHINE};" in label or "machine-" not in label]
    return max(lines, default=0)


@pytest.mark.parametrize(("benchmark", "workflow"), GRAPHS)
def test_committed_graphs_have_a_history(browser, benchmark: str, workflow: str) -> None:  # noqa: F811
    with serve(HTML) as base:
        points = _points_on_machine(browser, base, benchmark, workflow)
    assert points >= MIN_POINTS, f"{benchmark} {workflow}: {points} commits on {MACHINE}"


def _changed_files(first: str, last: str) -> set[str]:
    """Files changed by the commits of a regression's range (first exclusive)."""
    out = subprocess.run(
        ["git", "diff", "--name-only", f"{first}..{last}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_deterministic_steps_fall_on_code_changes() -> None:
    index = json.loads((HTML / "index.json").read_text())
    hashes = index["revision_to_hash"]
    regressions = json.loads((HTML / "regressions.json").read_text())["regressions"]
    for name, _graph, _params, _idx, _latest, _best, steps in regressions:
        if not any(tracker in name for tracker in DETERMINISTIC):
            continue
        for before, after, *_ in steps:
            # asv gives the last good revision, or None when the step is on one commit.
            last = hashes[str(after)]
            first = hashes[str(before)] if before is not None else f"{last}^"
            changed = _changed_files(first, last)
            assert any(f.startswith(MEASURED_CODE) for f in changed), (
                f"{name}: a step on {first[:8]}..{last[:8]}, which changed only {changed}"
            )
