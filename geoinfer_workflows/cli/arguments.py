"""Argument types and subcommand set-up shared by every command of the command line.

The number types apply the package's one rulebook (`geoinfer_workflows.validation`), so
`--users 0` on the command line and ``run_load(users=0)`` in Python are refused by the
same rule with the same words. validation imports numpy, so it is imported when an
argument is parsed, never for --help or `list`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from geoinfer_workflows.errors import EXIT_CODES_HELP, ParameterError

__all__ = [
    "add_command",
    "add_live_arguments",
    "non_negative_int",
    "non_negative_seconds",
    "port_number",
    "positive_int",
    "positive_seconds",
]


def add_command(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit-code table, laid out as written."""
    return subparsers.add_parser(
        name, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


def _argument_type(convert: Callable[[str], Any], rule: str, **bounds: Any) -> Callable[[str], Any]:
    """An argparse type: `convert` the text, then check it with validation's `rule`.

    Text that does not convert ('abc', '2.5' for an integer) is handed to the rule as
    the string it is, which the rule refuses in its own words ("must be an integer, got
    'abc'"). The rule's message, without the parameter name (argparse prefixes
    "argument --users:"), becomes the usage error.
    """

    def parse(text: str) -> Any:
        from geoinfer_workflows import validation

        try:
            value: Any = convert(text)
        except (ValueError, OverflowError):
            value = text
        try:
            return getattr(validation, rule)(value, "", **bounds)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None

    parse.__name__ = rule
    return parse


non_negative_int = _argument_type(int, "check_int", minimum=0)
positive_int = _argument_type(int, "check_int", minimum=1)
port_number = _argument_type(int, "check_int", minimum=0, maximum=65535, note="0: any free")
positive_seconds = _argument_type(float, "check_positive_float", note="seconds")
non_negative_seconds = _argument_type(float, "check_non_negative_float", note="seconds")


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """``--live [PORT]`` and ``--live-linger SECONDS``, for the commands that can be watched."""
    parser.add_argument(
        "--live",
        metavar="PORT",
        type=port_number,
        nargs="?",
        const=0,
        help="serve a live view of the run on http://127.0.0.1:PORT/ (no PORT: any free)",
    )
    parser.add_argument(
        "--live-linger",
        metavar="SECONDS",
        type=non_negative_seconds,
        default=0.0,
        help="keep serving the live view this long after the run (to look at it)",
    )
