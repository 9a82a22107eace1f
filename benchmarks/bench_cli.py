"""Start-up of the command line: `geoinfer-workflows list` and `--help` in a fresh
interpreter, wall time from spawn to exit (issue 13: under 0.5 s).

What a user waits for is the whole process (interpreter start, imports, argument
parsing, output), so each sample runs the command in a new interpreter with
`subprocess`; asv's default timer here is wall-clock time, which is the point. Before the
lazy imports these took ~1.3 s on the 2-core VM (numpy, scipy and h3 imported to print
four names); after, ~0.06 s.
"""

from __future__ import annotations

import subprocess
import sys

COMMAND = (sys.executable, "-m", "geoinfer_workflows.cli")


def _run(*args: str) -> None:
    subprocess.run((*COMMAND, *args), check=True, stdout=subprocess.DEVNULL, timeout=60)


class CliStartup:
    number = 1  # one process per sample: a sample is one user's wait
    repeat = (5, 15, 20.0)
    warmup_time = 0.0
    timeout = 120

    def time_cli_list(self) -> None:
        _run("list")

    time_cli_list.version = "cli-list-subprocess-wall-1"

    def time_cli_help(self) -> None:
        _run("--help")

    time_cli_help.version = "cli-help-subprocess-wall-1"
