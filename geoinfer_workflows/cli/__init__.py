"""`geoinfer-workflows`: list and run the workflows, ingest a file, load-test, check budgets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geoinfer_workflows.cli.harness_commands import add_command, non_negative_int
from geoinfer_workflows.cli.harness_commands import register as register_perf_commands
from geoinfer_workflows.errors import EXIT_CODES_HELP, ExitCode, GeoInferError
from geoinfer_workflows.orchestration.engines import ENGINE_ENV, ENGINES, SCHEDULER_ENV
from geoinfer_workflows.orchestration.pipeline import WorkflowResult
from geoinfer_workflows.synthetic import SIZES
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
    from geoinfer_workflows.distributed import run_workflow  # dask only if engine is dask

    workflow = get_workflow(args.name)
    result = run_workflow(
        args.name, args.size, args.seed, engine=args.engine, scheduler=args.scheduler
    )
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
    """Validate a file; exit 1 (a finding) when it has rows and every one was rejected."""
    from geoinfer_workflows.modules.ingest import ingest

    result = ingest(Path(args.file))  # always a path, whatever characters the name has
    if args.json:
        payload = {
            "rows_read": result.rows_read,
            "accepted": result.accepted,
            "rejected": result.rejected_count,
            "rejections": [{"row": r.row, "reason": r.reason} for r in result.rejected],
        }
        print(json.dumps(payload))
    else:
        counts = f"accepted {result.accepted}, rejected {result.rejected_count}"
        print(f"rows read {result.rows_read}: {counts}")
        for reason, count in result.reasons_summary().items():
            print(f"  {count:>8}  {reason}")
        for rejection in result.rejected[: args.show]:
            print(f"  row {rejection.row}: {rejection.reason}")
        if result.rejected_count > args.show:
            print(f"  ... {result.rejected_count - args.show} more (use --json for all)")
    if result.rejected_count and not result.accepted:
        print(f"geoinfer-workflows: {args.file}: every row was rejected", file=sys.stderr)
        return ExitCode.FINDING
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geoinfer-workflows",
        description=__doc__,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    add_command(sub, "list", help="list the workflows and their modules").set_defaults(
        func=_cmd_list
    )

    run = add_command(sub, "run", help="run a workflow on seeded data and time its stages")
    run.add_argument("name", choices=list(WORKFLOWS))
    run.add_argument("--size", choices=SIZES, default="standard")
    run.add_argument("--seed", type=non_negative_int, default=0, help="data seed (>= 0)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help=f"serial or dask (default: ${ENGINE_ENV}, else serial)",
    )
    run.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help=f"dask scheduler to connect to (default: ${SCHEDULER_ENV}, else a LocalCluster)",
    )
    run.set_defaults(func=_cmd_run)

    ingest = add_command(
        sub,
        "ingest",
        help="validate a CSV or GeoJSON file of observations",
        description="Validate a CSV or GeoJSON file (a regular file; its name is always a "
        "path). Exit 1 if it has data rows and every one was rejected.",
    )
    ingest.add_argument("file", help="path of the file (.csv/.txt, .geojson/.json)")
    ingest.add_argument("--json", action="store_true", help="print one JSON object")
    ingest.add_argument(
        "--show", type=non_negative_int, default=20, help="rejected rows to list (>= 0)"
    )
    ingest.set_defaults(func=_cmd_ingest)

    register_perf_commands(sub)
    return parser


def _fail(message: str, code: ExitCode) -> int:
    print(f"geoinfer-workflows: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (see EXIT_CODES_HELP); never a traceback.

    The package's own errors carry their exit code; anything else that escapes a command
    is the environment (OSError, MemoryError) or a bug, so it cannot run: exit 3.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GeoInferError as exc:
        return _fail(str(exc), exc.exit_code)
    except MemoryError:
        return _fail("out of memory", ExitCode.CANNOT_RUN)
    except OSError as exc:
        return _fail(str(exc), ExitCode.CANNOT_RUN)
    except Exception as exc:  # a bug: one line, not a traceback, and the code says so
        return _fail(f"internal error ({type(exc).__name__}: {exc})", ExitCode.CANNOT_RUN)
