"""The workflow commands: ``list``, ``run`` and ``ingest``.

`register(subparsers)` adds them; each handler takes the parsed arguments and returns an
exit code from `errors.ExitCode`. The workflows (numpy, scipy, h3) are imported by the
handlers that run them, so ``list`` and ``--help`` answer from `catalog` alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoinfer_workflows.cli.arguments import add_command, non_negative_int, positive_int
from geoinfer_workflows.cli.catalog import CATALOG, RUN_SIZE_NAMES
from geoinfer_workflows.errors import ExitCode

if TYPE_CHECKING:
    from geoinfer_workflows.orchestration.pipeline import WorkflowResult

__all__ = ["cmd_ingest", "cmd_list", "cmd_run", "register"]


def cmd_list(args: argparse.Namespace) -> int:
    """Print each workflow with its count and list of GEO-INFER modules."""
    width = max(len(name) for name in CATALOG)
    for name, entry in CATALOG.items():
        modules = ", ".join(entry.modules)
        print(f"{name:<{width}}  {len(entry.modules)} modules  {modules}")
    return ExitCode.OK


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


def cmd_run(args: argparse.Namespace) -> int:
    """Run one workflow on seeded data; print its stage table (or one JSON object)."""
    from geoinfer_workflows.workflows import get_workflow

    workflow = get_workflow(args.name)
    from geoinfer_workflows.distributed import run_workflow  # dask only if engine is dask

    result = run_workflow(
        args.name,
        args.size,
        args.seed,
        engine=args.engine,
        scheduler=args.scheduler,
        huge_rows=args.huge_rows,
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
        return ExitCode.OK
    print(f"{workflow.title} ({args.size}, seed {args.seed})")
    print(_stage_table(result))
    print(f"reference example at seed size: {workflow.reference_s * 1e3:.0f} ms")
    print(json.dumps(_summary(result), indent=2))
    return ExitCode.OK


def cmd_ingest(args: argparse.Namespace) -> int:
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


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The arguments of ``run``: one block, so engine or scheduler options join here."""
    run.add_argument("name", choices=list(CATALOG))
    run.add_argument("--size", choices=RUN_SIZE_NAMES, default="standard")
    run.add_argument("--seed", type=non_negative_int, default=0, help="data seed (>= 0)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument(
        "--engine",
        choices=("serial", "dask"),
        default=None,
        help="serial or dask (default: $GEOINFER_ENGINE, else serial)",
    )
    run.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="dask scheduler to connect to (default: $GEOINFER_SCHEDULER, else a LocalCluster)",
    )
    run.add_argument(
        "--huge-rows",
        type=positive_int,
        default=None,
        metavar="N",
        help="records of --size huge (default 1e7; 1e8 wants a cluster)",
    )


def register(subparsers: Any) -> None:
    """Add ``list``, ``run`` and ``ingest`` to an argparse subparsers object."""
    add_command(subparsers, "list", help="list the workflows and their modules").set_defaults(
        func=cmd_list
    )

    run = add_command(subparsers, "run", help="run a workflow on seeded data and time its stages")
    add_run_arguments(run)
    run.set_defaults(func=cmd_run)

    ingest = add_command(
        subparsers,
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
    ingest.set_defaults(func=cmd_ingest)
