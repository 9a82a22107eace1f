"""`geoinfer-workflows`: list and run the workflows, ingest a file, load-test, check budgets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from geoinfer_workflows.data import SIZES
from geoinfer_workflows.errors import GeoInferError
from geoinfer_workflows.orchestrator import WorkflowResult
from geoinfer_workflows.perf.cli_commands import register as register_perf_commands
from geoinfer_workflows.workflows import WORKFLOWS, get_workflow


def _cmd_list(args: argparse.Namespace) -> int:
    width = max(len(name) for name in WORKFLOWS)
    for name, workflow in WORKFLOWS.items():
        modules = ", ".join(workflow.pipeline.modules)
        print(f"{name:<{width}}  {len(workflow.pipeline.modules)} modules  {modules}")
    return 0


def _stage_table(result: WorkflowResult) -> str:
    total = result.wall_s or 1.0
    lines = [f"{'stage':<18} {'module':<8} {'wall ms':>10} {'cpu ms':>10} {'share':>6}"]
    for s in result.timings:
        lines.append(
            f"{s.name:<18} {s.module:<8} {s.wall_s * 1e3:>10.2f} {s.cpu_s * 1e3:>10.2f}"
            f" {s.wall_s / total:>6.0%}"
        )
    lines.append(f"{'total':<27} {result.wall_s * 1e3:>10.2f} {result.cpu_s * 1e3:>10.2f}")
    return "\n".join(lines)


def _summary(result: WorkflowResult) -> dict[str, Any]:
    report = result.output
    return {"features": len(report["features"]), **report.get("metadata", {})}


def _cmd_run(args: argparse.Namespace) -> int:
    workflow = get_workflow(args.name)
    result = workflow.run(args.size, args.seed)
    if args.json:
        payload = {
            "workflow": workflow.name,
            "size": args.size,
            "seed": args.seed,
            "wall_s": result.wall_s,
            "cpu_s": result.cpu_s,
            "stages": [
                {"name": s.name, "module": s.module, "wall_s": s.wall_s, "cpu_s": s.cpu_s}
                for s in result.timings
            ],
            "summary": _summary(result),
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{workflow.title} ({args.size}, seed {args.seed})")
    print(_stage_table(result))
    print(f"reference example at seed size: {workflow.reference_s * 1e3:.0f} ms")
    print(json.dumps(_summary(result), indent=2))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from geoinfer_workflows.modules.data import ingest

    result = ingest(args.file)
    if args.json:
        payload = {
            "rows_read": result.rows_read,
            "accepted": result.accepted,
            "rejected": result.rejected_count,
            "rejections": [{"row": r.row, "reason": r.reason} for r in result.rejected],
        }
        print(json.dumps(payload))
        return 0
    counts = f"accepted {result.accepted}, rejected {result.rejected_count}"
    print(f"rows read {result.rows_read}: {counts}")
    for reason, count in sorted(result.reasons_summary().items(), key=lambda kv: -kv[1]):
        print(f"  {count:>8}  {reason}")
    for rejection in result.rejected[: args.show]:
        print(f"  row {rejection.row}: {rejection.reason}")
    if result.rejected_count > args.show:
        print(f"  ... {result.rejected_count - args.show} more (use --json for all)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geoinfer-workflows", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the workflows and their modules").set_defaults(func=_cmd_list)

    run = sub.add_parser("run", help="run a workflow on seeded data and time its stages")
    run.add_argument("name", choices=list(WORKFLOWS))
    run.add_argument("--size", choices=SIZES, default="standard")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(func=_cmd_run)

    ingest = sub.add_parser("ingest", help="validate a CSV or GeoJSON file of observations")
    ingest.add_argument("file")
    ingest.add_argument("--json", action="store_true", help="print one JSON object")
    ingest.add_argument("--show", type=int, default=20, help="rejected rows to list")
    ingest.set_defaults(func=_cmd_ingest)

    register_perf_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (GeoInferError, OSError) as exc:
        print(f"geoinfer-workflows: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
