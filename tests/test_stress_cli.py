"""`geoinfer-workflows stress`, run as a user runs it: progress, report, exit codes, and
memory pressure for real (a child under a 1 GiB RLIMIT_AS that sheds instead of dying,
and the control without admission control, where allocations fail)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "geoinfer_workflows.cli", "stress"]


def stress(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_short_run_prints_a_line_a_second_and_writes_report_and_alerts(tmp_path: Path) -> None:
    report_path, alerts_path = tmp_path / "report.json", tmp_path / "alerts.jsonl"
    out = stress(
        "high_concurrency", "--short", "--users", "10", "--duration", "2.5",
        "--json", str(report_path), "--alerts-jsonl", str(alerts_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(report_path.read_text())
    assert report["scenario"] == "high_concurrency" and report["mode"] == "short"
    assert report["users"] == 10 and report["duration_limit_s"] == 2.5
    assert report["successes"] > 0 and report["passed"] is True
    progress = [line for line in out.stderr.splitlines() if " s  main" in line]
    assert len(progress) >= 2 and len(progress) == len(report["timeline"])
    assert "verdict     PASS" in out.stdout
    events = [json.loads(line) for line in alerts_path.read_text().splitlines()]
    assert events == report["alert_events"]


@pytest.mark.slow  # ~20 s: 1e6-record calls in a limited child, queued ones drained
def test_memory_pressure_sheds_under_the_limit_and_nothing_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    out = stress(
        "memory_pressure", "--short", "--users", "12", "--duration", "3", "--json", str(path)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(path.read_text())
    child = report["child"]
    assert child == {"returncode": 0, "killed_by": None, "memory_limit_bytes": 2**30}
    assert report["survived"] and report["stable"] and report["graceful_degradation"]
    assert report["failures"] == 0 and report["successes"] > 0 and report["rejected"] > 0
    assert report["requests"] == report["successes"] + report["rejected"]
    assert report["peak_rss_bytes"] < 2**30
    assert "child exited (code 0)" in out.stdout


@pytest.mark.slow  # ~13 s
def test_without_admission_the_same_load_fails_allocations(tmp_path: Path) -> None:
    """The control: the limit is real, and the gate is what keeps the run healthy."""
    path = tmp_path / "report.json"
    out = stress(
        "memory_pressure", "--short", "--users", "12", "--duration", "2",
        "--no-admission", "--json", str(path),
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(path.read_text())
    assert report["admission"] is None and report["rejected"] == 0
    assert report["errors"].get("MemoryError", 0) > 0
    assert report["child"]["killed_by"] is None and not report["stable"]
    assert "verdict     FAIL" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("everything",), "invalid choice"),
        (("ci_stability", "--users", "0"), "must be an integer >= 1"),
        (("ci_stability", "--duration", "-1"), "must be a finite number > 0.0"),
        (("ci_stability", "--json", "/no/such/folder/r.json"), "does not exist"),
    ],
)
def test_usage_errors_exit_2_before_anything_runs(args: tuple[str, ...], message: str) -> None:
    out = stress(*args, timeout=60)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "stress test:" not in out.stdout and "Traceback" not in out.stderr
