"""`geoinfer-workflows`: list and run the workflows, ingest a file, load- and stress-test,
check budgets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from geoinfer_workflows.cli import harness_commands, stress_command, workflow_commands
from geoinfer_workflows.errors import EXIT_CODES_HELP, ExitCode, GeoInferError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; building it imports no workflow (see `cli.catalog`)."""
    parser = argparse.ArgumentParser(
        prog="geoinfer-workflows",
        description=__doc__,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    workflow_commands.register(sub)
    harness_commands.register(sub)
    stress_command.register(sub)
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
