"""What the long-running commands (``load``, ``stress``) share on the way out: a live
progress line, the live view, report paths checked before the run, JSON reports."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from geoinfer_workflows.errors import ParameterError

if TYPE_CHECKING:
    from geoinfer_workflows.harness.timeline import Timeline

__all__ = [
    "ProgressLine",
    "check_writable",
    "latency_summary",
    "live_view",
    "milliseconds",
    "write_report",
]


class ProgressLine:
    """One live line on a stream: rewritten in place on a terminal, appended otherwise."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._width = 0

    def write(self, text: str) -> None:
        if self._tty:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()


@contextlib.contextmanager
def live_view(timeline: Timeline, title: str, port: int | None, linger_s: float) -> Iterator[None]:
    """Serve `timeline` on 127.0.0.1:`port` for the block (nothing when `port` is None),
    announce the address on stderr, and keep serving `linger_s` seconds after it."""
    if port is None:
        yield
        return
    from geoinfer_workflows.harness.live import LiveView

    with LiveView(timeline, title, port) as view:
        print(f"live view: {view.url}", file=sys.stderr, flush=True)
        yield
        view.finish()
        time.sleep(linger_s)  # the run is over; a person is looking at the page


def milliseconds(seconds: float | None) -> str:
    """'12.34 ms', or '-' when there is no figure."""
    return "-" if seconds is None else f"{seconds * 1e3:.2f} ms"


def latency_summary(figures: Mapping[str, Any]) -> str:
    """'mean 1.00 ms  p50 ...  max ...' from a report's *_s figures (those it has)."""
    keys = ("mean", "p50", "p95", "p99", "max")
    return "  ".join(
        f"{key} {milliseconds(figures[key + '_s'])}" for key in keys if key + "_s" in figures
    )


def check_writable(option: str, path: Path) -> None:
    """Refuse a report path that cannot be written, before minutes of testing."""
    folder = path.parent
    if path.is_dir():
        raise ParameterError(f"{option} {path}: is a folder; give a file name")
    if not folder.is_dir():
        raise ParameterError(f"{option} {path}: the folder {folder} does not exist")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK)
    if not writable:
        raise ParameterError(f"{option} {path}: not writable")


def write_report(target: str, report: dict[str, Any]) -> None:
    """The report as indented JSON (no NaN) to the file `target`, or stdout for '-'."""
    text = json.dumps(report, indent=2, allow_nan=False)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n", encoding="utf-8")
