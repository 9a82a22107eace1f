"""The toolkit's command-line commands: ``load`` and ``budgets check`` (``stress`` is in
`stress_command`).

`register(subparsers)` adds them to the package CLI; each handler takes the parsed
arguments and returns an exit code from the one table (`errors.ExitCode`, printed by
--help): 0 all good, 1 a budget breached, 2 a usage or input error (a budget that could not
be checked, a malformed budget file or report, bad arguments, an unknown workflow), 3 the
command could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoinfer_workflows.cli.arguments import (
    add_command,
    add_live_arguments,
    non_negative_int,
    non_negative_seconds,
    positive_int,
    positive_seconds,
)
from geoinfer_workflows.cli.output import (
    ProgressLine,
    check_writable,
    latency_summary,
    live_view,
    write_report,
)
from geoinfer_workflows.errors import ExitCode

if TYPE_CHECKING:  # imported by the handlers: numpy is not needed for --help
    from geoinfer_workflows.harness.budgets import BudgetVerdict
    from geoinfer_workflows.harness.load import LoadProgress, LoadResult

__all__ = ["cmd_budgets_check", "cmd_load", "format_load_summary", "register"]

DEFAULT_DURATION_S = 30.0
DEFAULT_RESULTS = Path(".asv/results")


def register(subparsers: Any) -> None:
    """Add ``load`` and ``budgets check`` to an argparse subparsers object."""
    load = add_command(
        subparsers,
        "load",
        help="load-test a workflow with concurrent users",
        description="Call run_workflow(NAME, size, seed) from concurrent users; report "
        "throughput, success rate and latency percentiles. One untimed warm-up run first. "
        f"Stops after --duration (default {DEFAULT_DURATION_S:g} s if neither limit is given) "
        "and/or --max-ops operations.",
    )
    load.add_argument("name", help="workflow name (see `list`)")
    load.add_argument("--users", type=positive_int, default=50, help="concurrent users")
    load.add_argument("--duration", type=positive_seconds, default=None, help="seconds")
    load.add_argument("--max-ops", type=positive_int, default=None, help="total operations")
    load.add_argument(
        "--ramp-up", type=non_negative_seconds, default=0.0, help="seconds to start all users"
    )
    load.add_argument("--size", default="seed", help="data size name (default: seed)")
    load.add_argument("--seed", type=non_negative_int, default=0, help="data seed (default: 0)")
    load.add_argument("--json", metavar="PATH", help="write the report as JSON ('-': stdout)")
    add_live_arguments(load)
    load.set_defaults(func=cmd_load)

    budgets = add_command(subparsers, "budgets", help="performance budgets")
    budget_commands = budgets.add_subparsers(dest="budgets_command", required=True)
    check = add_command(
        budget_commands,
        "check",
        help="check perf-budgets.toml against asv results, a load and a stress report",
        description="Print PASS/FAIL per budget. Exit 0 if all pass, 1 on any breach, "
        "2 if a budget cannot be checked (unknown benchmark, missing figure, a malformed "
        "budget file, results file, load or stress report).",
    )
    check.add_argument("--budgets", default="perf-budgets.toml", help="budget file")
    check.add_argument(
        "--results",
        default=None,
        help=f"asv results folder (default: {DEFAULT_RESULTS}, skipped if it does not exist)",
    )
    check.add_argument("--commit", help="commit hash or prefix (default: the newest results)")
    check.add_argument("--machine", help="asv machine name (default: the only one)")
    check.add_argument("--load-report", help="JSON written by `load --json`")
    check.add_argument("--stress-report", help="JSON written by `stress SCENARIO --json`")
    check.set_defaults(func=cmd_budgets_check)


# -- load ------------------------------------------------------------------------------


def format_load_summary(result: LoadResult, title: str) -> str:
    """The human summary of a load run."""
    rate = "-" if result.success_rate is None else f"{result.success_rate:.2%}"
    lines = [
        title,
        f"  operations  {result.operations:,} (successes {result.successes:,}, "
        f"failures {result.failures:,}, success rate {rate})",
        f"  throughput  {result.ops_per_s:,.1f} ops/s over {result.duration_s:.2f} s",
        f"  latency     {latency_summary(result.to_dict())}",
    ]
    for name, count in result.errors.items():
        lines.append(f"  error       {name} x{count:,}: {result.error_samples.get(name, '')}")
    return "\n".join(lines)


def cmd_load(args: argparse.Namespace) -> int:
    """Run the load test described by `args`; exit 0 if it ran (failures are reported)."""
    from geoinfer_workflows.harness.alerts import AlertEngine, ResourceSampler
    from geoinfer_workflows.harness.load import run_load
    from geoinfer_workflows.harness.timeline import Timeline
    from geoinfer_workflows.synthetic import check_size
    from geoinfer_workflows.workflows import get_workflow, run_workflow

    get_workflow(args.name)  # an unknown name fails before any user starts
    size = check_size(args.size)
    if args.json and args.json != "-":
        check_writable("--json", Path(args.json))
    duration = args.duration
    if duration is None and args.max_ops is None:
        duration = DEFAULT_DURATION_S
    name, seed = args.name, args.seed
    run_workflow(name, size=size, seed=seed)  # warm-up: imports and first-call costs

    def operation() -> None:
        run_workflow(name, size=size, seed=seed)

    progress = ProgressLine(sys.stderr)
    timeline = Timeline(alerts=AlertEngine(sampler=ResourceSampler()))  # for --live

    def show(p: LoadProgress) -> None:
        if args.live is not None:
            timeline.tick(phase="load", users=p.active_users)
        progress.write(
            f"{p.elapsed_s:6.1f} s  {p.operations:>9,} ops  {p.ops_per_s:>9,.0f} ops/s  "
            f"{p.failures:>6,} failed  {p.active_users:>4} users active"
        )

    with live_view(timeline, f"load: {name}", args.live, args.live_linger):
        try:
            result = run_load(
                operation if args.live is None else timeline.observed(operation),
                users=args.users,
                duration_s=duration,
                max_operations=args.max_ops,
                ramp_up_s=args.ramp_up,
                on_progress=show,
            )
        finally:
            progress.finish()
        if args.live is not None:
            timeline.tick(phase="load", users=0)  # the partial last second
    print(
        format_load_summary(
            result, f"load test: {name} (size {size}, seed {seed}), {args.users} users"
        )
    )
    if args.json:
        report = {
            "workflow": name,
            "size": size,
            "seed": seed,
            "ramp_up_s": args.ramp_up,
            "duration_limit_s": duration,
            "max_operations": args.max_ops,
            **result.to_dict(),
        }
        write_report(args.json, report)
    return ExitCode.OK


# -- budgets check -----------------------------------------------------------------------


def _exit_code(verdicts: list[BudgetVerdict]) -> int:
    if any(v.status == "ERROR" for v in verdicts):
        return ExitCode.INPUT
    return ExitCode.FINDING if any(v.status == "FAIL" for v in verdicts) else ExitCode.OK


def cmd_budgets_check(args: argparse.Namespace) -> int:
    """Print the verdict table; 0 all pass, 1 any breach, 2 any budget not checkable."""
    from geoinfer_workflows.harness.budgets import BudgetError, check_budgets, format_verdicts

    results = args.results
    if results is None and DEFAULT_RESULTS.is_dir():
        results = DEFAULT_RESULTS
    try:
        verdicts = check_budgets(
            args.budgets,
            asv_results_dir=results,
            commit=args.commit,
            machine=args.machine,
            load_report=args.load_report,
            stress_report=args.stress_report,
        )
    except BudgetError as exc:
        if exc.verdicts:
            print(format_verdicts(exc.verdicts))
        print(f"budgets: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(format_verdicts(verdicts))
    counts = {s: sum(v.status == s for v in verdicts) for s in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return _exit_code(verdicts)
