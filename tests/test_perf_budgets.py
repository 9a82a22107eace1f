"""Budgets: breaches fail, unknown keys/benchmarks and missing figures are errors.

The asv results are written with asv's own `Results` class (asv 0.6.6), so the reader is
tested against the real on-disk format, not a guess of it.
"""

from __future__ import annotations

import datetime
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import require

from geoinfer_workflows.errors import GeoInferError
from geoinfer_workflows.harness.budgets import (
    BudgetError,
    check_budgets,
    format_verdicts,
    load_budget_file,
)

require("asv")  # the results files are written by asv's own code
from asv import results as asv_results  # noqa: E402
from asv import runner as asv_runner  # noqa: E402
from asv import util as asv_util  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = ["basic", "disease_surveillance", "precision_farming", "climate_analysis"]
SIZES = ["seed", "standard"]
RUN = "bench_workflows.WorkflowRun"


def _spec(method: str, unit: str, kind: str) -> dict[str, Any]:
    return {
        "name": f"{RUN}.{method}",
        "params": [[repr(w) for w in WORKFLOWS], [repr(s) for s in SIZES]],
        "param_names": ["workflow", "size"],
        "unit": unit,
        "type": kind,
        "version": f"v-{method}",
    }


SPECS = {
    s["name"]: s
    for s in (
        _spec("time_run", "seconds", "time"),
        _spec("track_traced_peak_mib", "MiB", "track"),
        _spec("track_cpu_seconds", "seconds", "track"),
    )
}


def _write_results(
    results_dir: Path,
    values: dict[str, list[float | None]],
    *,
    commit: str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    date_ms: int = 1_700_000_000_000,
    machine: str = "vm",
    env: str = "virtualenv-py3.11",
) -> None:
    """One asv results file (and machine.json, benchmarks.json) through asv's own code."""
    machine_dir = results_dir / machine
    machine_dir.mkdir(parents=True, exist_ok=True)
    asv_util.write_json(str(machine_dir / "machine.json"), {"machine": machine}, api_version=1)
    asv_util.write_json(str(results_dir / "benchmarks.json"), SPECS, api_version=2)
    results = asv_results.Results(
        {"machine": machine, "python": "3.11"}, {}, commit, date_ms, "3.11", env, {}
    )
    for name, flat in values.items():
        n = len(flat)
        result = asv_runner.BenchmarkResult(
            result=flat,
            samples=[None] * n,
            number=[None] * n,
            errcode=0,
            stderr="",
            profile=None,
        )
        started = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
        results.add_result(SPECS[name], result, started_at=started, duration=1.0)
    results.save(str(results_dir))


def _grid(default: float, **overrides: float | None) -> list[float | None]:
    """Values in asv's order (product of workflow x size); override 'workflow/size'."""
    return [overrides.get(f"{w}__{s}", default) for w, s in itertools.product(WORKFLOWS, SIZES)]


def _budgets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    return path


STANDARD_TIME = f"""
[[asv]]
benchmark = "{RUN}.time_run"
params = {{ workflow = "*", size = "standard" }}
max = 1.0
why = "sub-second"
"""


def test_results_file_really_is_asv_format(tmp_path: Path) -> None:
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.5)})
    (path,) = (tmp_path / "vm").glob("a1b2c3d4-*.json")
    data = json.loads(path.read_text())
    assert data["version"] == 2 and data["result_columns"][:2] == ["result", "params"]
    loaded = asv_results.Results.load(str(path))  # asv itself reads it back
    assert (
        loaded.get_result_value(f"{RUN}.time_run", SPECS[f"{RUN}.time_run"]["params"]) == [0.5] * 8
    )


def test_breach_fails_and_the_rest_pass(tmp_path: Path) -> None:
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.25, climate_analysis__standard=1.5)})
    verdicts = check_budgets(_budgets(tmp_path, STANDARD_TIME), asv_results_dir=tmp_path)
    by_name = {v.budget: v for v in verdicts}
    assert set(by_name) == {f"{RUN}.time_run[{w}, standard]" for w in WORKFLOWS}
    assert by_name[f"{RUN}.time_run[climate_analysis, standard]"].status == "FAIL"
    assert by_name[f"{RUN}.time_run[climate_analysis, standard]"].value == 1.5
    assert [v.status for v in verdicts].count("PASS") == 3
    assert all(v.unit == "seconds" for v in verdicts)
    table = format_verdicts(verdicts)
    assert "FAIL" in table and "<= 1" in table and "sub-second" in table


def test_limits_are_inclusive_and_min_works(tmp_path: Path) -> None:
    _write_results(tmp_path, {f"{RUN}.track_cpu_seconds": _grid(2.0, basic__seed=1.0)})
    text = f"""
[[asv]]
benchmark = "{RUN}.track_cpu_seconds"
params = {{ workflow = ["basic", "climate_analysis"], size = "seed" }}
min = 1.0
max = 2.0
"""
    verdicts = check_budgets(_budgets(tmp_path, text), asv_results_dir=tmp_path)
    assert [(v.budget, v.status) for v in verdicts] == [
        (f"{RUN}.track_cpu_seconds[basic, seed]", "PASS"),
        (f"{RUN}.track_cpu_seconds[climate_analysis, seed]", "PASS"),
    ]
    _write_results(tmp_path, {f"{RUN}.track_cpu_seconds": _grid(2.5, basic__seed=0.5)})
    assert {
        v.status for v in check_budgets(tmp_path / "budgets.toml", asv_results_dir=tmp_path)
    } == {"FAIL"}


@pytest.mark.parametrize(("value", "state"), [(None, "failed"), (float("nan"), "skipped")])
def test_missing_figure_is_an_error_not_a_pass(
    tmp_path: Path, value: float | None, state: str
) -> None:
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.1, basic__standard=value)})
    with pytest.raises(BudgetError, match=state) as info:
        check_budgets(_budgets(tmp_path, STANDARD_TIME), asv_results_dir=tmp_path)
    statuses = {v.budget: v.status for v in info.value.verdicts}
    assert statuses[f"{RUN}.time_run[basic, standard]"] == "ERROR"
    assert list(statuses.values()).count("PASS") == 3  # the table can still be printed
    assert isinstance(info.value, GeoInferError)


def test_benchmark_absent_from_the_commits_results_is_an_error(tmp_path: Path) -> None:
    _write_results(tmp_path, {f"{RUN}.track_cpu_seconds": _grid(0.1)})  # no time_run run
    with pytest.raises(BudgetError, match="not run at commit a1b2c3d4"):
        check_budgets(_budgets(tmp_path, STANDARD_TIME), asv_results_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[asv]]\nbenchmark = 'bench_nope.X.time_y'\nmax = 1\n", "does not exist"),
        (STANDARD_TIME.replace("max = 1.0", "maximum = 1.0"), "unknown key"),
        (STANDARD_TIME + "\n[extra]\nx = 1\n", "unknown section"),
        (STANDARD_TIME.replace('size = "standard"', 'size = "huge"'), "not among"),
        (STANDARD_TIME.replace('size = "standard"', 'scale = "standard"'), "unknown parameter"),
        (STANDARD_TIME.replace("max = 1.0\n", ""), "max, min or both"),
        (STANDARD_TIME.replace("max = 1.0", "max = 'fast'"), "finite number"),
        ("[load.throughput]\nmin = 5\n", "unknown load figure"),
        ("[load.p95_s]\nmax = 1\nlimit = 2\n", "unknown key"),
        ("[[asv]\n", "not valid TOML"),
        ("", "no budgets"),
    ],
)
def test_budget_file_errors(tmp_path: Path, text: str, message: str) -> None:
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.1)})
    with pytest.raises(BudgetError, match=message):
        check_budgets(
            _budgets(tmp_path, text), asv_results_dir=tmp_path, load_report=tmp_path / "x"
        )


def test_benchmark_names_restrict_what_exists(tmp_path: Path) -> None:
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.1)})
    path = _budgets(tmp_path, STANDARD_TIME)
    assert check_budgets(path, asv_results_dir=tmp_path, benchmark_names={f"{RUN}.time_run"})
    with pytest.raises(BudgetError, match="given benchmark names"):
        check_budgets(path, asv_results_dir=tmp_path, benchmark_names={f"{RUN}.peakmem_run"})


def test_commit_and_machine_selection(tmp_path: Path) -> None:
    old, new = "1111111122222222", "3333333344444444"
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(2.0)}, commit=old, date_ms=1)
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.5)}, commit=new, date_ms=2)
    path = _budgets(tmp_path, STANDARD_TIME)
    assert {v.status for v in check_budgets(path, asv_results_dir=tmp_path)} == {"PASS"}  # newest
    assert {v.status for v in check_budgets(path, asv_results_dir=tmp_path, commit="1111")} == {
        "FAIL"
    }
    with pytest.raises(BudgetError, match="no results for commit"):
        check_budgets(path, asv_results_dir=tmp_path, commit="deadbeef")
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.5)}, machine="ci")
    with pytest.raises(BudgetError, match="choose a machine"):
        check_budgets(path, asv_results_dir=tmp_path)
    assert check_budgets(path, asv_results_dir=tmp_path, machine="ci")
    with pytest.raises(BudgetError, match="no results for machine"):
        check_budgets(path, asv_results_dir=tmp_path, machine="laptop")


LOAD_BUDGETS = """
[load.expect]
users = 50

[load.ops_per_s]
min = 1000.0

[load.success_rate]
min = 1.0

[load.p95_s]
max = 1.0
"""


def _report(tmp_path: Path, **fields: Any) -> Path:
    report = {"users": 50, "ops_per_s": 1500.0, "success_rate": 1.0, "p95_s": 0.2}
    report.update(fields)
    path = tmp_path / "load.json"
    path.write_text(json.dumps(report))
    return path


def test_load_report_budgets(tmp_path: Path) -> None:
    budgets = _budgets(tmp_path, LOAD_BUDGETS)
    ok = check_budgets(budgets, asv_results_dir=None, load_report=_report(tmp_path))
    assert {v.status for v in ok} == {"PASS"}
    slow = check_budgets(
        budgets, asv_results_dir=None, load_report=_report(tmp_path, ops_per_s=999.0)
    )
    assert {v.budget: v.status for v in slow}["load.ops_per_s"] == "FAIL"
    flaky = check_budgets(
        budgets, asv_results_dir=None, load_report=_report(tmp_path, success_rate=0.995)
    )
    assert {v.budget: v.status for v in flaky}["load.success_rate"] == "FAIL"
    with pytest.raises(BudgetError, match="no figure for p95_s"):
        check_budgets(budgets, asv_results_dir=None, load_report=_report(tmp_path, p95_s=None))
    with pytest.raises(BudgetError, match="users = 10"):
        check_budgets(budgets, asv_results_dir=None, load_report=_report(tmp_path, users=10))


def test_sources_not_given_are_skipped_visibly(tmp_path: Path) -> None:
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.1)})
    budgets = _budgets(tmp_path, STANDARD_TIME + LOAD_BUDGETS)
    verdicts = check_budgets(budgets, asv_results_dir=tmp_path)
    skipped = [v for v in verdicts if v.status == "SKIP"]
    assert [v.budget for v in skipped] == ["load.ops_per_s", "load.success_rate", "load.p95_s"]
    assert not any(v.passed for v in skipped)
    with pytest.raises(BudgetError, match="nothing to check"):
        check_budgets(budgets, asv_results_dir=None)


def test_the_repository_budget_file_matches_the_real_benchmarks(tmp_path: Path) -> None:
    budgets = load_budget_file(REPO / "perf-budgets.toml")
    assert budgets.asv and budgets.load
    _write_results(
        tmp_path,
        {
            f"{RUN}.time_run": _grid(0.001),
            f"{RUN}.track_traced_peak_mib": _grid(10.0),
        },
    )
    report = _report(tmp_path, workflow="basic", size="seed", mean_s=0.05)
    verdicts = check_budgets(
        REPO / "perf-budgets.toml",
        asv_results_dir=tmp_path,
        load_report=report,
        stress_report=_stress_report(tmp_path),
    )
    assert verdicts and {v.status for v in verdicts} == {"PASS"}
    assert {v.budget for v in verdicts} >= {"stress.stable", "stress.recovery_s"}
    # 4 standard + 4 seed + 4 seed at 20x + 4 standard vs the reference + 4 memory,
    # and every load figure.
    assert sum(v.budget.startswith(RUN) for v in verdicts) == 20
    # The 20x target for climate at seed size (0.44 s / 20) really bites:
    _write_results(
        tmp_path,
        {
            f"{RUN}.time_run": _grid(0.001, climate_analysis__seed=0.03),
            f"{RUN}.track_traced_peak_mib": _grid(10.0),
        },
    )
    failed = [
        v.budget
        for v in check_budgets(
            REPO / "perf-budgets.toml", asv_results_dir=tmp_path, load_report=report
        )
        if v.status == "FAIL"
    ]
    assert failed == [f"{RUN}.time_run[climate_analysis, seed]"]


STRESS_BUDGETS = """
[stress.expect]
scenario = "ci_stability"

[stress.stable]
min = 1

[stress.recovery_s]
max = 60.0
"""


def _stress_report(tmp_path: Path, **fields: Any) -> Path:
    """The figures `stress ci_stability --json` writes that the budgets read."""
    report = {
        "scenario": "ci_stability",
        "users": 200,
        "stable": True,
        "graceful_degradation": True,
        "recovery_s": 2.0,
        "error_rate": 0.0,
    }
    report.update(fields)
    path = tmp_path / "stress.json"
    path.write_text(json.dumps(report))
    return path


def _stress_verdicts(tmp_path: Path, **fields: Any) -> dict[str, str]:
    budgets = _budgets(tmp_path, STRESS_BUDGETS)
    report = _stress_report(tmp_path, **fields)
    verdicts = check_budgets(budgets, asv_results_dir=None, stress_report=report)
    return {v.budget: v.status for v in verdicts}


def test_stress_report_budgets(tmp_path: Path) -> None:
    assert set(_stress_verdicts(tmp_path).values()) == {"PASS"}
    assert _stress_verdicts(tmp_path, recovery_s=61.0)["stress.recovery_s"] == "FAIL"
    assert _stress_verdicts(tmp_path, stable=False)["stress.stable"] == "FAIL"
    with pytest.raises(BudgetError, match="no figure for recovery_s"):  # never recovered
        _stress_verdicts(tmp_path, recovery_s=None)
    with pytest.raises(BudgetError, match="not yes or no"):
        _stress_verdicts(tmp_path, stable=1)
    with pytest.raises(BudgetError, match="scenario = 'memory_pressure'"):
        _stress_verdicts(tmp_path, scenario="memory_pressure")
    with pytest.raises(BudgetError, match="unknown stress figure"):
        check_budgets(
            _budgets(tmp_path, "[stress.uptime]\nmin = 1\n"),
            asv_results_dir=None,
            stress_report=_stress_report(tmp_path),
        )


def test_stress_budgets_skip_visibly_without_a_report(tmp_path: Path) -> None:
    budgets = _budgets(tmp_path, LOAD_BUDGETS + STRESS_BUDGETS)
    verdicts = check_budgets(budgets, asv_results_dir=None, load_report=_report(tmp_path))
    skipped = [v.budget for v in verdicts if v.status == "SKIP"]
    assert skipped == ["stress.stable", "stress.recovery_s"]


def test_budgets_check_command_reads_a_stress_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = _budgets(tmp_path, STRESS_BUDGETS)
    report = _stress_report(tmp_path, recovery_s=75.0)
    argv = ["budgets", "check", "--budgets", str(budgets), "--stress-report", str(report)]
    assert _cli(argv) == 1
    assert "FAIL    stress.recovery_s" in capsys.readouterr().out


def _cli(argv: list[str]) -> int:
    import argparse

    from geoinfer_workflows.cli.harness_commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_budgets_check_command_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = _budgets(tmp_path, STANDARD_TIME)
    base = ["budgets", "check", "--budgets", str(budgets), "--results", str(tmp_path)]
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.5)})
    assert _cli(base) == 0
    assert "4 passed, 0 failed" in capsys.readouterr().out
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.5, basic__standard=3.0)})
    assert _cli(base) == 1
    out = capsys.readouterr().out
    assert "FAIL    bench_workflows.WorkflowRun.time_run[basic, standard]" in out
    _write_results(tmp_path, {f"{RUN}.time_run": _grid(0.5, basic__standard=None)})
    assert _cli(base) == 2
    captured = capsys.readouterr()
    assert "ERROR" in captured.out and "could not be checked" in captured.err
    assert _cli([*base, "--commit", "ffff"]) == 2
