"""Issue 12, budgets: a malformed budget file, load report or asv result is an input error
(exit 2, one clear line), never "budget breached" (exit 1) nor a crash."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from geoinfer_workflows.cli import main
from geoinfer_workflows.harness.budgets import BudgetError, load_budget_file

BENCH = "bench_workflows.WorkflowRun.time_run"


def _budgets(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "budgets.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _results(tmp_path: Path, value: object) -> Path:
    """A minimal asv 0.6 results folder whose only figure is `value`."""
    folder = tmp_path / "results"
    (folder / "vm").mkdir(parents=True)
    (folder / "vm" / "machine.json").write_text('{"machine": "vm", "version": 1}')
    spec = {"name": BENCH, "params": [["'basic'"]], "param_names": ["workflow"], "unit": "seconds"}
    (folder / "benchmarks.json").write_text(json.dumps({BENCH: spec, "version": 2}))
    row = {"version": 2, "commit_hash": "a" * 40, "date": 1, "result_columns": ["result", "params"]}
    row["results"] = {BENCH: [[value], [["'basic'"]]]}
    (folder / "vm" / "aaaaaaaa-env.json").write_text(json.dumps(row))
    return folder


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["budgets", "check", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# -- item 5: crashes are input errors (exit 2), not breaches (exit 1) --------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("load = 5\n", "[load] must be a table"),
        (b"[load.ops_per_s]\nmin = 1.0\nwhy = '\xff\xfe'\n", "not UTF-8"),
        ("asv = 5\n", "[[asv]]"),
        ("[load.ops_per_s]\nmin = 1\nwhy = 5\n", "why must be a string"),
        ("[[asv]]\nbenchmark = 'b'\nmax = 1e999\n", "finite"),
        ("[[asv]]\nbenchmark = 'b'\nmax = " + "9" * 400 + "\n", "finite"),
        ("[load.ops_per_s]\nmin = 2.0\nmax = 1.0\n", "min 2 > max 1"),
        ("[load.ops_per_s]\nmin = inf\n", "finite"),
    ],
)
def test_malformed_budget_files_exit_2(tmp_path, capsys, text, message) -> None:
    report = tmp_path / "load.json"
    report.write_text('{"ops_per_s": 5.0}')
    code, err = _check(
        capsys, "--budgets", str(_budgets(tmp_path, text)), "--load-report", str(report)
    )
    assert code == 2
    assert message in err
    with pytest.raises(BudgetError, match=re.escape(message.split()[0])):
        load_budget_file(_budgets(tmp_path, text))


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ('{"ops_per_s": ' + "9" * 400 + "}", "ops_per_s"),
        ('{"ops_per_s": 1e999}', "ops_per_s"),
        ('{"ops_per_s": "fast"}', "ops_per_s"),
        (b"\xff\xfe{}", "cannot read"),
        ("[1, 2]", "JSON object"),
        ('{"ops_per_s": ' + "9" * 5000 + "}", "cannot read"),
    ],
)
def test_malformed_load_reports_exit_2(tmp_path, capsys, report, message) -> None:
    path = tmp_path / "load.json"
    path.write_bytes(report.encode() if isinstance(report, str) else report)
    budgets = _budgets(tmp_path, "[load.ops_per_s]\nmin = 1.0\n")
    code, err = _check(capsys, "--budgets", str(budgets), "--load-report", str(path))
    assert code == 2
    assert message in err


@pytest.mark.parametrize("value", ["x", [1], {"a": 1}, 10**400, True])
def test_malformed_asv_result_values_exit_2(tmp_path, capsys, value) -> None:
    budgets = _budgets(tmp_path, f"[[asv]]\nbenchmark = '{BENCH}'\nmax = 1.0\n")
    results = _results(tmp_path, value)
    code, err = _check(capsys, "--budgets", str(budgets), "--results", str(results))
    assert code == 2
    assert BENCH in err


def test_a_real_breach_still_exits_1(tmp_path, capsys) -> None:
    budgets = _budgets(tmp_path, f"[[asv]]\nbenchmark = '{BENCH}'\nmax = 1.0\n")
    code, _ = _check(capsys, "--budgets", str(budgets), "--results", str(_results(tmp_path, 2.5)))
    assert code == 1
