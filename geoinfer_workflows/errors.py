"""One exception hierarchy, so callers can catch everything the package raises on purpose,
and the one table of exit codes the command line and the tools share."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of `geoinfer-workflows` and the tools (printed by --help, in the README)."""

    OK = 0
    FINDING = 1  # it ran and found something: slower, over budget, every row rejected
    INPUT = 2  # usage or input error: bad arguments, a malformed or unreadable input file
    CANNOT_RUN = 3  # it could not run: the environment, resources, a locked file, a bug


EXIT_CODES_HELP = """exit codes:
  0  ok
  1  a finding: slower, over budget, every input row rejected
  2  usage or input error: bad arguments, a malformed or unreadable input
  3  cannot run: environment or resources (disk, memory, a locked file), or a bug
"""


class GeoInferError(Exception):
    """Base class: every deliberate error of geoinfer_workflows derives from it.

    `exit_code` is what the command line exits with when this error ends a command.
    """

    exit_code = ExitCode.INPUT


class IngestError(GeoInferError):
    """The input as a whole cannot be read (not CSV, wrong header, empty, bad encoding).

    Row-level problems never raise: those rows are quarantined with a reason instead.
    """


class ParameterError(GeoInferError, ValueError):
    """An analysis was called with parameters that cannot give a meaningful answer."""


class UnknownWorkflowError(GeoInferError, KeyError):
    """A workflow name that is not in the registry."""
