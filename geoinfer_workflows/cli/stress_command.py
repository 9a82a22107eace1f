"""``geoinfer-workflows stress SCENARIO``: the guide's stress tests, judged.

Users are concurrent callers of ``run_workflow(workflow, size, seed)`` (the load tester,
`harness.load`); the scenario says how many, for how long, behind which admission
control (`harness.stress`). A line per second on stderr; a JSON report with ``--json``;
exit 0 when the guide's criteria hold (stable, graceful degradation, recovery < 60 s),
1 when one does not, 2 for usage errors, 3 when the test could not run.

A scenario with a memory limit re-runs this command in a child under RLIMIT_AS
(`harness.stress.run_limited`; the hidden ``--limited-child`` marks the child) and reads
its report: whether the child survived is a finding of the parent's, not the child's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from geoinfer_workflows.cli.arguments import (
    add_command,
    add_live_arguments,
    non_negative_int,
    positive_int,
    positive_seconds,
)
from geoinfer_workflows.cli.catalog import STRESS_SCENARIOS
from geoinfer_workflows.cli.output import (
    ProgressLine,
    check_writable,
    latency_summary,
    live_view,
    write_report,
)
from geoinfer_workflows.errors import ExitCode

__all__ = ["cmd_stress", "register"]


def register(subparsers: Any) -> None:
    """Add ``stress`` to an argparse subparsers object."""
    stress = add_command(
        subparsers,
        "stress",
        help="run one of the guide's stress tests and judge it",
        description="Run a stress scenario (the guide's: high_concurrency, large_datasets, "
        "memory_pressure; its CI stage: ci_stability) at its full duration, or --short "
        "(seconds, for CI). Exit 0 if stable, degrading gracefully and (ci_stability) "
        "recovered in < 60 s; 1 if not.",
    )
    stress.add_argument("scenario", choices=STRESS_SCENARIOS)
    stress.add_argument("--short", action="store_true", help="seconds, not minutes (CI)")
    stress.add_argument("--users", type=positive_int, help="override the scenario's users")
    stress.add_argument(
        "--duration", type=positive_seconds, help="override the main phase's seconds"
    )
    stress.add_argument("--seed", type=non_negative_int, default=0, help="data seed")
    stress.add_argument("--json", metavar="PATH", help="write the report as JSON ('-': stdout)")
    stress.add_argument("--alerts-jsonl", metavar="PATH", help="append alert events as JSON lines")
    stress.add_argument(
        "--no-admission",
        action="store_true",
        help="run without the scenario's admission control (a control run: what it prevents)",
    )
    add_live_arguments(stress)
    stress.add_argument("--limited-child", action="store_true", help=argparse.SUPPRESS)
    stress.set_defaults(func=cmd_stress)


def _point_line(point: dict[str, Any]) -> str:
    p95 = "-" if point["p95_s"] is None else f"{point['p95_s'] * 1e3:,.1f} ms"
    p50 = "-" if point["p50_s"] is None else f"{point['p50_s'] * 1e3:,.1f} ms"
    alerts = ",".join(point.get("alerts", ())) or "none"
    return (
        f"{point['t_s']:6.1f} s  {point['phase']:<8} {point['users']:>4} users  "
        f"{point['ops_per_s']:>8,.1f} ops/s  p50 {p50:>9}  p95 {p95:>9}  "
        f"{point['failures']:>4} failed  {point['rejected']:>5} shed  alerts: {alerts}"
    )


def _summary(report: dict[str, Any]) -> str:
    rate = report.get("error_rate")
    lines = [
        f"stress test: {report['scenario']} ({report.get('mode', '?')}), "
        f"{report.get('users', '?')} users, {report.get('workflow')} at {report.get('size')}",
        f"  requests    {report.get('requests', 0):,}: served {report.get('successes', 0):,}, "
        f"failed {report.get('failures', 0):,}, shed {report.get('rejected', 0):,} "
        f"(error rate {'-' if rate is None else f'{rate:.2%}'})",
        f"  throughput  {report.get('ops_per_s', 0.0):,.1f} ops/s served",
        f"  latency     {latency_summary(report)}",
    ]
    if report.get("admission"):
        gate = report["admission"]
        lines.append(f"  admission   {gate['max_in_flight']} at once, {gate['max_queued']} queued")
    if "child" in report:
        child = report["child"]
        ended = f"killed by {child['killed_by']}" if child["killed_by"] else "exited"
        lines.append(
            f"  memory      limit {child['memory_limit_bytes'] / 2**30:.2f} GiB (RLIMIT_AS), "
            f"child {ended} (code {child['returncode']}), peak RSS "
            f"{report.get('peak_rss_bytes', 0) / 2**20:,.0f} MiB"
        )
    if "recovery" in report:
        seconds = report["recovery"]["recovery_s"]
        lines.append(
            "  recovery    "
            + ("not back under budget" if seconds is None else f"{seconds:.1f} s")
            + f" (p95 <= {report['recovery']['p95_budget_s']:g} s)"
        )
    raised = [e["rule"] for e in report.get("alert_events", ()) if e["kind"] == "raised"]
    lines.append(f"  alerts      raised: {', '.join(raised) or 'none'}")
    verdict = ", ".join(
        f"{name} {'yes' if report.get(name) else 'NO'}"
        for name in ("stable", "graceful_degradation", "recovered")
        if name in report
    )
    lines.append(f"  verdict     {'PASS' if report.get('passed') else 'FAIL'}: {verdict}")
    return "\n".join(lines)


def _in_limited_child(args: argparse.Namespace, scenario: Any) -> dict[str, Any]:
    """Re-run this command in a child under the scenario's memory limit; its report."""
    from geoinfer_workflows.harness.stress import judge, run_limited

    with tempfile.TemporaryDirectory(prefix="geoinfer-stress-") as folder:
        path = Path(folder) / "report.json"
        argv = [sys.executable, "-m", "geoinfer_workflows.cli", "stress", scenario.name]
        argv += ["--seed", str(args.seed), "--json", str(path), "--limited-child"]
        argv += ["--short"] if args.short else []
        argv += ["--users", str(args.users)] if args.users else []
        argv += ["--duration", str(args.duration)] if args.duration else []
        argv += ["--no-admission"] if args.no_admission else []
        argv += ["--alerts-jsonl", args.alerts_jsonl] if args.alerts_jsonl else []
        if args.live is not None:  # the child runs the test, so the child serves its view
            argv += ["--live", str(args.live), "--live-linger", str(args.live_linger)]
        child = run_limited(argv, scenario.memory_limit_bytes)
        report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if report is None:
        report = {"scenario": scenario.name, "error_rate": None, "successes": 0}
    report["child"] = child
    report["survived"] = child["killed_by"] is None and child["returncode"] in (0, 1)
    report.update(judge(report))
    return report


def _run_here(args: argparse.Namespace, scenario: Any) -> dict[str, Any]:
    """Run the scenario in this process (the child, when there is a memory limit)."""
    from geoinfer_workflows.harness.alerts import AlertEngine, JsonLinesSink, ResourceSampler
    from geoinfer_workflows.harness.stress import cpu_gate, run_stress, warm_memory_gate
    from geoinfer_workflows.harness.timeline import Timeline
    from geoinfer_workflows.workflows import run_workflow

    workflow, size, seed = scenario.workflow, scenario.size, args.seed
    users = args.users or scenario.users

    def operation() -> None:
        run_workflow(workflow, size, seed)

    if args.limited_child and not args.no_admission:
        gate = warm_memory_gate(operation, users)  # the warm-up run sizes the gate
    else:
        operation()  # warm-up: imports and first-call costs
        gate = cpu_gate() if scenario.admission and not args.no_admission else None
    progress = ProgressLine(sys.stderr)
    with contextlib.ExitStack() as stack:
        sinks = []
        if args.alerts_jsonl:
            sinks.append(
                JsonLinesSink(stack.enter_context(open(args.alerts_jsonl, "a", encoding="utf-8")))
            )
        timeline = Timeline(alerts=AlertEngine(sinks=sinks, sampler=ResourceSampler()))
        title = f"stress: {scenario.name}"
        stack.enter_context(live_view(timeline, title, args.live, args.live_linger))
        try:
            report = run_stress(
                operation,
                scenario,
                short=args.short,
                gate=gate,
                timeline=timeline,
                on_point=lambda point: progress.write(_point_line(point)),
                users=users,
                duration_s=args.duration,
            )
        finally:
            progress.finish()
    return report


def cmd_stress(args: argparse.Namespace) -> int:
    """Run the scenario; print the summary; 0 if the guide's criteria hold, else 1."""
    from geoinfer_workflows.harness.stress import SCENARIOS

    scenario = SCENARIOS[args.scenario]
    for option, target in (("--json", args.json), ("--alerts-jsonl", args.alerts_jsonl)):
        if target and target != "-":
            check_writable(option, Path(target))
    if scenario.memory_limit_bytes is not None and not args.limited_child:
        report = _in_limited_child(args, scenario)
        if "mode" not in report and not report["survived"]:
            print(_summary(report))
            print("stress: the limited child left no report", file=sys.stderr)
            if args.json:
                write_report(args.json, report)
            return ExitCode.FINDING if report["child"]["killed_by"] else ExitCode.CANNOT_RUN
    else:
        report = _run_here(args, scenario)
    if not args.limited_child:
        print(_summary(report))
    if args.json:
        write_report(args.json, report)
    return ExitCode.OK if report["passed"] else ExitCode.FINDING
