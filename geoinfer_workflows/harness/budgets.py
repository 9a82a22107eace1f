"""Performance budgets: the guide's success criteria as a TOML file, checked against figures.

Two sources of figures:

- asv results (``.asv/results/<machine>/<hash8>-<env>.json``, asv 0.6 format, api
  version 2): each benchmark maps to a row aligned with ``result_columns``; the
  ``result`` column is a flat list over the cartesian product of the ``params`` column
  (parameter values as Python reprs, e.g. ``"'basic'"``). Parameter *names* live only in
  ``benchmarks.json`` beside the machine folders, which is therefore read too.
- a load-test report (the JSON written by ``geoinfer-workflows load --json``);
- a stress-test report (``geoinfer-workflows stress SCENARIO --json``): the guide's
  stress criteria (stable, graceful degradation, recovery < 60 s) as figures; a yes/no
  criterion counts 1 for yes, 0 for no, so ``min = 1`` requires it.

Strictness is the point: a budget that cannot be checked must not read as a pass. An
unknown key in the TOML, a benchmark or parameter value that does not exist, or a figure
that is missing (a failed or skipped benchmark, an empty load run) is an error. Errors in
the budget file itself raise `BudgetError` at once; missing figures become ERROR verdicts,
and `check_budgets` raises `BudgetError` carrying every verdict at the end, so a caller
can still print the whole table.

Budget file format::

    [[asv]]
    benchmark = "bench_workflows.WorkflowRun.time_run"
    params = { workflow = "*", size = "standard" }   # "*" or a list: several verdicts
    max = 1.0                                          # and/or min = ...
    why = "guide: sub-second response for standard operations"

    [load.expect]          # the report must come from this configuration
    users = 50

    [load.ops_per_s]
    min = 1000.0
    why = "guide: > 1000 requests/second sustained"

    [stress.expect]        # likewise for the stress report
    scenario = "ci_stability"

    [stress.recovery_s]
    max = 60.0
    why = "guide CI: recovery time < 60 s"
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from geoinfer_workflows.errors import GeoInferError

__all__ = [
    "LOAD_FIELDS",
    "STRESS_FIELDS",
    "BudgetError",
    "BudgetFile",
    "BudgetVerdict",
    "check_budgets",
    "format_verdicts",
    "load_budget_file",
]

Status = Literal["PASS", "FAIL", "ERROR", "SKIP"]

# Load-report fields a budget may bound, with their units.
LOAD_FIELDS: dict[str, str] = {
    "ops_per_s": "ops/s",
    "success_rate": "fraction",
    "mean_s": "seconds",
    "p50_s": "seconds",
    "p95_s": "seconds",
    "p99_s": "seconds",
    "max_s": "seconds",
    "failures": "operations",
    "operations": "operations",
}
# Stress-report fields a budget may bound, with their units ("yes/no": 1 yes, 0 no).
STRESS_FIELDS: dict[str, str] = {
    "stable": "yes/no",
    "graceful_degradation": "yes/no",
    "recovered": "yes/no",
    "recovery_s": "seconds",
    "error_rate": "fraction",
    "ops_per_s": "ops/s",
    "p95_s": "seconds",
    "successes": "operations",
    "failures": "operations",
    "rejected": "operations",
}
_REPORT_FIELDS = {"load": LOAD_FIELDS, "stress": STRESS_FIELDS}
_ASV_KEYS = frozenset({"benchmark", "params", "max", "min", "why"})
_LIMIT_KEYS = frozenset({"max", "min", "why"})
_TOP_KEYS = frozenset({"asv", "load", "stress"})
_RESULTS_API_VERSION = 2


class BudgetError(GeoInferError):
    """A budget cannot be checked: bad budget file, unknown benchmark, missing figure.

    `verdicts` holds every verdict computed so far (including the ERROR ones), so a
    command line can still print the full table.
    """

    def __init__(self, message: str, verdicts: list[BudgetVerdict] | None = None) -> None:
        super().__init__(message)
        self.verdicts = verdicts or []


@dataclass(frozen=True)
class BudgetVerdict:
    """One checked figure against one limit."""

    budget: str  # e.g. "bench_workflows.WorkflowRun.time_run[basic, standard]" or "load.p95_s"
    status: Status
    value: float | None
    max: float | None
    min: float | None
    unit: str
    why: str
    detail: str = ""  # the reason for ERROR/SKIP, or which file the figure came from

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


@dataclass(frozen=True)
class _Limit:
    max: float | None
    min: float | None
    why: str

    def judge(self, value: float) -> Status:
        too_high = self.max is not None and value > self.max
        too_low = self.min is not None and value < self.min
        return "FAIL" if too_high or too_low else "PASS"


@dataclass(frozen=True)
class _AsvBudget:
    benchmark: str
    params: dict[str, list[Any]] | list[Any] | None
    limit: _Limit


@dataclass(frozen=True)
class _ReportBudgets:
    """The budgets of one report section (``[load.*]`` or ``[stress.*]``)."""

    limits: dict[str, _Limit]
    expect: dict[str, Any]


@dataclass(frozen=True)
class BudgetFile:
    """A parsed, validated budget file."""

    asv: tuple[_AsvBudget, ...]
    load: dict[str, _Limit]
    load_expect: dict[str, Any]
    stress: _ReportBudgets = _ReportBudgets({}, {})


# -- the budget file ---------------------------------------------------------------------


def _finite(value: object) -> float | None:
    """`value` as a finite float, or None for anything else (bool, text, inf, a 400-digit int).

    The one test of "is this a figure" for budget limits, load reports and asv results.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."


def _number(where: str, key: str, value: object) -> float:
    number = _finite(value)
    if number is None:
        raise BudgetError(f"{where}: {key} must be a finite number, got {_shown(value)}")
    return number


def _limit(where: str, table: Mapping[str, Any]) -> _Limit:
    unknown = set(table) - _LIMIT_KEYS
    if unknown:
        raise BudgetError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: max, min, why")
    if "max" not in table and "min" not in table:
        raise BudgetError(f"{where}: give max, min or both")
    why = table.get("why", "")
    if not isinstance(why, str):
        raise BudgetError(f"{where}: why must be a string")
    limit = _Limit(
        max=_number(where, "max", table["max"]) if "max" in table else None,
        min=_number(where, "min", table["min"]) if "min" in table else None,
        why=why,
    )
    if limit.max is not None and limit.min is not None and limit.min > limit.max:
        raise BudgetError(
            f"{where}: min {limit.min:g} > max {limit.max:g}: no figure could pass; swap them"
        )
    return limit


def _asv_budget(index: int, table: Any) -> _AsvBudget:
    where = f"[[asv]] #{index + 1}"
    if not isinstance(table, dict):
        raise BudgetError(f"{where}: expected a table")
    unknown = set(table) - _ASV_KEYS
    if unknown:
        raise BudgetError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ASV_KEYS)}"
        )
    name = table.get("benchmark")
    if not isinstance(name, str) or not name:
        raise BudgetError(f"{where}: benchmark (the asv benchmark name) is required")
    where = f"{where} ({name})"
    params = table.get("params")
    if params is not None and not isinstance(params, dict | list):
        raise BudgetError(f"{where}: params must be a table (by name) or a list (in order)")
    if isinstance(params, dict):
        params = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    limit = _limit(where, {k: v for k, v in table.items() if k in _LIMIT_KEYS})
    return _AsvBudget(name, params, limit)


def load_budget_file(path: str | os.PathLike[str]) -> BudgetFile:
    """Parse and validate a budget file; any unknown or malformed entry is a BudgetError."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise BudgetError(f"budget file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BudgetError(f"budget file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise BudgetError(f"budget file {path} is not UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise BudgetError(f"cannot read budget file {path}: {exc.strerror or exc}") from exc
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise BudgetError(
            f"{path}: unknown section(s) {sorted(unknown)}; allowed: asv, load, stress"
        )
    asv_tables = doc.get("asv", [])
    if not isinstance(asv_tables, list):
        raise BudgetError(f"{path}: asv budgets are written [[asv]] (an array of tables)")
    asv = tuple(_asv_budget(i, t) for i, t in enumerate(asv_tables))
    load = _report_section(path, doc, "load")
    stress = _report_section(path, doc, "stress")
    if not asv and not load.limits and not stress.limits:
        raise BudgetError(f"{path}: no budgets defined")
    return BudgetFile(asv, load.limits, load.expect, stress)


def _report_section(
    path: str | os.PathLike[str], doc: dict[str, Any], section: str
) -> _ReportBudgets:
    """The ``[section.expect]`` table and the ``[section.<figure>]`` limits of a report."""
    fields = _REPORT_FIELDS[section]
    limits: dict[str, _Limit] = {}
    expect: dict[str, Any] = {}
    tables = doc.get(section, {})
    if not isinstance(tables, dict):
        raise BudgetError(f"{path}: [{section}] must be a table of [{section}.<figure>] tables")
    for key, value in tables.items():
        if key == "expect":
            if not isinstance(value, dict):
                raise BudgetError(f"{path}: [{section}.expect] must be a table")
            expect = dict(value)
        elif key in fields:
            if not isinstance(value, dict):
                raise BudgetError(f"{path}: [{section}.{key}] must be a table with max/min")
            limits[key] = _limit(f"[{section}.{key}]", value)
        else:
            raise BudgetError(
                f"{path}: unknown {section} figure {key!r}; known: {', '.join(fields)}, expect"
            )
    return _ReportBudgets(limits, expect)


# -- asv results -------------------------------------------------------------------------


@dataclass(frozen=True)
class _ResultsFile:
    path: Path
    commit_hash: str
    date: float
    results: dict[str, tuple[Any, list[list[str]]]]  # name -> (result list or None, params)


def _read_json(path: Path) -> Any:
    """The JSON document at `path`; anything unreadable (bytes, depth, digits) is a BudgetError."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise BudgetError(f"cannot read {path}: {str(exc)[:200]}") from exc


def _read_results_file(path: Path) -> _ResultsFile:
    data = _read_json(path)
    try:
        version = data.get("version")
        if version != _RESULTS_API_VERSION:
            raise BudgetError(
                f"{path}: asv results format version {version!r}, expected "
                f"{_RESULTS_API_VERSION} (asv 0.6); run `asv update`"
            )
        columns = data["result_columns"]
        i_result, i_params = columns.index("result"), columns.index("params")
        results = {}
        for name, row in data["results"].items():
            row = list(row) + [None] * (len(columns) - len(row))  # asv trims trailing Nones
            result, params = row[i_result], row[i_params] or []
            if not isinstance(result, list | None) or not all(isinstance(p, list) for p in params):
                raise BudgetError(f"{path}: {name}: result and params must be lists")
            results[name] = (result, params)
        return _ResultsFile(path, str(data["commit_hash"]), float(data.get("date") or 0), results)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise BudgetError(f"{path}: not an asv results file ({exc!r})") from exc


def _machine_dir(results_dir: Path, machine: str | None) -> Path:
    if machine is not None:
        folder = results_dir / machine
        if not (folder / "machine.json").is_file():
            raise BudgetError(f"no results for machine {machine!r} in {results_dir}")
        return folder
    machines = sorted(p.parent for p in results_dir.glob("*/machine.json"))
    if len(machines) != 1:
        names = ", ".join(p.name for p in machines) or "none"
        raise BudgetError(f"{results_dir}: choose a machine with --machine (found: {names})")
    return machines[0]


def _select_results(
    results_dir: Path, machine: str | None, commit: str | None
) -> list[_ResultsFile]:
    """Every environment's results file for `commit` (default: the newest commit)."""
    folder = _machine_dir(results_dir, machine)
    files = [
        _read_results_file(p) for p in sorted(folder.glob("*.json")) if p.name != "machine.json"
    ]
    if not files:
        raise BudgetError(f"no results files in {folder}; run asv first")
    if commit is not None:
        chosen = [f for f in files if f.commit_hash.lower().startswith(commit.lower())]
        hashes = {f.commit_hash for f in chosen}
        if not chosen:
            raise BudgetError(f"no results for commit {commit!r} in {folder}")
        if len(hashes) > 1:
            raise BudgetError(f"commit prefix {commit!r} is ambiguous: {sorted(hashes)}")
        return chosen
    newest = max(files, key=lambda f: (f.date, f.path.stat().st_mtime))
    return [f for f in files if f.commit_hash == newest.commit_hash]


def _benchmarks_json(results_dir: Path) -> dict[str, Any]:
    path = results_dir / "benchmarks.json"
    if not path.is_file():
        raise BudgetError(
            f"{path} not found: it names the benchmark parameters; "
            "run `asv run --bench just-discover` (asv writes it on every run)"
        )
    data = _read_json(path)
    if not isinstance(data, dict):
        raise BudgetError(f"{path}: not an asv benchmarks.json (a JSON object is expected)")
    return {k: v for k, v in data.items() if k != "version" and isinstance(v, dict)}


def _param_matches(asv_repr: str, wanted: Any) -> bool:
    if wanted == "*":
        return True
    return asv_repr in (repr(wanted), str(wanted)) or asv_repr.strip("'\"") == str(wanted)


def _selected_combinations(
    budget: _AsvBudget, names: list[str], values: list[list[str]]
) -> list[int]:
    """Flat indices (asv's itertools.product order) of the combinations a budget names."""
    where = f"budget for {budget.benchmark}"
    if budget.params is None:
        wanted: list[list[Any]] = [["*"]] * len(values)
    elif isinstance(budget.params, list):
        if len(budget.params) != len(values):
            raise BudgetError(
                f"{where}: {len(budget.params)} positional params for {len(values)} parameters"
            )
        wanted = [[v] for v in budget.params]
    else:
        unknown = set(budget.params) - set(names)
        if unknown:
            raise BudgetError(
                f"{where}: unknown parameter(s) {sorted(unknown)}; it has {names or 'none'}"
            )
        wanted = [budget.params.get(name, ["*"]) for name in names]
    for name, options, choices in zip(names, values, wanted, strict=True):
        for choice in choices:
            if not any(_param_matches(option, choice) for option in options):
                raise BudgetError(
                    f"{where}: {name}={choice!r} is not among the benchmarked values {options}"
                )
    return [
        i
        for i, combo in enumerate(itertools.product(*values))
        if all(
            any(_param_matches(v, c) for c in choices)
            for v, choices in zip(combo, wanted, strict=True)
        )
    ]


def _combination_label(values: list[list[str]], index: int) -> str:
    combo = list(itertools.product(*values))[index]
    return "[" + ", ".join(v.strip("'\"") for v in combo) + "]" if combo else ""


def _no_figure(value: object) -> str:
    """Why an asv result entry is not a figure: asv's None (failed), NaN (skipped), junk."""
    if value is None:
        return "failed"
    if isinstance(value, float) and math.isnan(value):
        return "skipped"
    return f"gave {_shown(value)}, not a finite number"


def _check_asv_budget(
    budget: _AsvBudget,
    spec: Mapping[str, Any],
    results: list[_ResultsFile],
) -> list[BudgetVerdict]:
    names = spec.get("param_names") or []
    if not isinstance(names, list):
        raise BudgetError(f"benchmarks.json: param_names of {budget.benchmark} is not a list")
    unit = str(spec.get("unit") or "")
    limit = budget.limit

    def verdict(label: str, state: str, figure: float | None, detail: str) -> BudgetVerdict:
        return BudgetVerdict(label, state, figure, limit.max, limit.min, unit, limit.why, detail)

    verdicts = []
    for rfile in results:
        if budget.benchmark not in rfile.results:
            detail = f"not in {rfile.path.name} (not run at commit {rfile.commit_hash[:8]})"
            verdicts.append(verdict(budget.benchmark, "ERROR", None, detail))
            continue
        result, values = rfile.results[budget.benchmark]
        if len(values) != len(names):
            raise BudgetError(
                f"{budget.benchmark}: {len(values)} parameters in {rfile.path.name} but "
                f"{len(names)} in benchmarks.json ({names}); re-run asv for this commit"
            )
        for index in _selected_combinations(budget, names, values):
            label = budget.benchmark + _combination_label(values, index)
            value = None if result is None or index >= len(result) else result[index]
            figure = _finite(value)
            if figure is None:
                detail = f"no figure: the benchmark {_no_figure(value)} in {rfile.path.name}"
                verdicts.append(verdict(label, "ERROR", None, detail))
                continue
            verdicts.append(verdict(label, limit.judge(figure), figure, rfile.path.name))
    return verdicts


def _check_asv(
    budgets: Iterable[_AsvBudget],
    results_dir: Path,
    machine: str | None,
    commit: str | None,
    benchmark_names: set[str] | None,
) -> list[BudgetVerdict]:
    specs = _benchmarks_json(results_dir)
    known = set(specs) if benchmark_names is None else set(benchmark_names) & set(specs)
    budgets = list(budgets)
    for budget in budgets:  # a budget file error is reported before any result is read
        if budget.benchmark not in known:
            raise BudgetError(
                f"budget names benchmark {budget.benchmark!r}, which does not exist "
                f"(not in {results_dir / 'benchmarks.json'}"
                + (" or the given benchmark names)" if benchmark_names is not None else ")")
            )
    results = _select_results(results_dir, machine, commit)
    verdicts: list[BudgetVerdict] = []
    for budget in budgets:
        verdicts.extend(_check_asv_budget(budget, specs[budget.benchmark], results))
    return verdicts


# -- load report -------------------------------------------------------------------------


def _report_figure(value: object, unit: str) -> float | None:
    """A report's figure as a number: yes/no criteria count 1 for yes, 0 for no."""
    if unit == "yes/no":
        return float(value) if isinstance(value, bool) else None
    return _finite(value)


def _check_report(section: str, budgets: _ReportBudgets, report_path: Path) -> list[BudgetVerdict]:
    """Verdicts of a ``load`` or ``stress`` section against the report at `report_path`."""
    fields = _REPORT_FIELDS[section]
    report = _read_json(report_path)
    if not isinstance(report, dict):
        raise BudgetError(f"{report_path}: a {section} report is a JSON object")
    verdicts = []
    for key, wanted in budgets.expect.items():
        got = report.get(key)
        ok = got == wanted
        verdicts.append(
            BudgetVerdict(
                f"{section}.expect.{key}",
                "PASS" if ok else "ERROR",
                None,
                None,
                None,
                "",
                f"report made with {key} = {wanted!r}",
                "" if ok else f"report has {key} = {got!r}, budgets expect {wanted!r}",
            )
        )
    for key, limit in budgets.limits.items():
        value = report.get(key)
        figure = _report_figure(value, fields[key])
        state: Status = "ERROR" if figure is None else limit.judge(figure)
        detail = report_path.name
        if figure is None:
            kind = "yes or no" if fields[key] == "yes/no" else "a finite number"
            detail = f"no figure for {key} in {report_path.name} (got {_shown(value)}, not {kind})"
        verdicts.append(
            BudgetVerdict(
                f"{section}.{key}",
                state,
                figure,
                limit.max,
                limit.min,
                fields[key],
                limit.why,
                detail,
            )
        )
    return verdicts


def _params_label(params: dict[str, list[Any]] | list[Any] | None) -> str:
    if params is None:
        return ""
    if isinstance(params, list):
        return "[" + ", ".join(str(v) for v in params) + "]"
    return "[" + ", ".join(f"{k}={'|'.join(map(str, v))}" for k, v in params.items()) + "]"


def _skipped(budget: str, limit: _Limit, unit: str, reason: str) -> BudgetVerdict:
    return BudgetVerdict(budget, "SKIP", None, limit.max, limit.min, unit, limit.why, reason)


def check_budgets(
    budgets_path: str | os.PathLike[str],
    *,
    asv_results_dir: str | os.PathLike[str] | None,
    commit: str | None = None,
    machine: str | None = None,
    load_report: str | os.PathLike[str] | None = None,
    benchmark_names: set[str] | None = None,
    stress_report: str | os.PathLike[str] | None = None,
) -> list[BudgetVerdict]:
    """Check every budget; return the verdicts (PASS/FAIL, SKIP for a source not given).

    The sources: asv results (`asv_results_dir`, `commit`, `machine`), the JSON report
    of ``load --json`` (`load_report`) and of ``stress --json`` (`stress_report`).

    Raises BudgetError for a bad budget file, an unknown benchmark or parameter, or if any
    figure is missing (the verdicts, ERROR ones included, are on the exception).
    """
    budgets = load_budget_file(budgets_path)
    if asv_results_dir is None and load_report is None and stress_report is None:
        raise BudgetError(
            "nothing to check against: give asv results, a load report and/or a stress report"
        )
    verdicts: list[BudgetVerdict] = []
    if budgets.asv:
        if asv_results_dir is None:
            verdicts.extend(
                _skipped(b.benchmark + _params_label(b.params), b.limit, "", "no asv results given")
                for b in budgets.asv
            )
        else:
            verdicts.extend(
                _check_asv(budgets.asv, Path(asv_results_dir), machine, commit, benchmark_names)
            )
    sections = (
        ("load", _ReportBudgets(budgets.load, budgets.load_expect), load_report),
        ("stress", budgets.stress, stress_report),
    )
    for section, report_budgets, report in sections:
        if not report_budgets.limits:
            continue
        if report is None:
            fields = _REPORT_FIELDS[section]
            verdicts.extend(
                _skipped(f"{section}.{k}", lim, fields[k], f"no {section} report given")
                for k, lim in report_budgets.limits.items()
            )
        else:
            verdicts.extend(_check_report(section, report_budgets, Path(report)))
    errors = [v for v in verdicts if v.status == "ERROR"]
    if errors:
        lines = "; ".join(f"{v.budget}: {v.detail}" for v in errors)
        raise BudgetError(f"{len(errors)} budget(s) could not be checked: {lines}", verdicts)
    return verdicts


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def format_verdicts(verdicts: Iterable[BudgetVerdict]) -> str:
    """A plain-text table: status, budget, value, limit, unit, and why/detail."""
    rows = [("STATUS", "BUDGET", "VALUE", "LIMIT", "UNIT", "NOTE")]
    for v in verdicts:
        limit = " ".join(
            part
            for part in (
                f"<= {_fmt(v.max)}" if v.max is not None else "",
                f">= {_fmt(v.min)}" if v.min is not None else "",
            )
            if part
        )
        note = v.detail if v.status in ("ERROR", "SKIP") else v.why
        rows.append((v.status, v.budget, _fmt(v.value), limit or "-", v.unit, note))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in rows
    )
