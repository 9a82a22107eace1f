"""Process-level operation monitor: wall, CPU, RSS and I/O per tracked operation.

What the GEO-INFER benchmarking guide's monitor (the guide is the project's
brief, kept outside this repository) got wrong, and what this one does instead:

- It read *system-wide* memory and CPU (`virtual_memory`, `cpu_percent`): other processes'
  activity landed in our figures. Every figure here is this process's own.
- It blocked for a second at start-up (`cpu_percent(interval=1)`). Nothing here blocks.
- Its metrics list grew without bound. Records live in a ring buffer of `capacity`
  entries; per-name totals are counted separately, so a summary still says how many
  operations ran and how many records were dropped from the buffer.

Cost per tracked operation (timeit on the 2-core dev VM; `benchmarks/bench_monitor.py`
tracks it over time): about 3 µs for wall + CPU + recording, about 6 µs more for the
RSS readings (two RSS reads and the peak), 9 µs in all. RSS is therefore on by default;
I/O counters (psutil, ~13-15 µs a read, two reads per operation: ~38 µs in all) are off
by default and enabled with ``Monitor(io=True)``.

Caveats a reader of the numbers must know: `cpu_s` is *process* CPU time
(`time.process_time`, user + sys of all threads), so with several operations running at
once each one's CPU figure includes the others'. RSS before/after is a delta of resident
memory, not the allocation peak inside the operation (use tracemalloc for that);
`rss_peak` is the process's high-water mark so far (`getrusage` ru_maxrss).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple, Self, TypeVar

import numpy as np
import psutil

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.harness.alerts import AlertEngine, AlertEvent
from geoinfer_workflows.validation import check_int

try:  # not on Windows
    import resource
except ImportError:  # pragma: no cover - platform dependent
    resource = None  # type: ignore[assignment]

__all__ = [
    "Monitor",
    "OperationRecord",
    "OperationSummary",
]

F = TypeVar("F", bound=Callable[..., Any])

_MAX_MESSAGE = 500  # error messages are truncated so one huge message cannot bloat the buffer
# ru_maxrss is KiB on Linux and bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


class OperationRecord(NamedTuple):
    """One tracked operation.

    A NamedTuple rather than a frozen dataclass because it is built on the hot path of
    every tracked call: it is immutable all the same and several times cheaper to create.
    Byte figures are None when their reading is switched off or the OS does not give it.
    """

    name: str
    started_at: float  # epoch seconds, for timelines across processes
    wall_s: float
    cpu_s: float
    rss_before: int | None
    rss_after: int | None
    rss_peak: int | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    ok: bool
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True)
class OperationSummary:
    """Statistics of one operation name.

    `count` and `failures` cover every operation ever tracked; the timing figures cover
    the `retained` records still in the ring buffer (`dropped` = count - retained).
    Percentiles are numpy's exact (linear-interpolation) percentiles of wall seconds.
    """

    name: str
    count: int
    failures: int
    retained: int
    dropped: int
    mean_s: float
    min_s: float
    max_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    cpu_mean_s: float
    rss_delta_max: int | None

    @property
    def success_rate(self) -> float:
        return (self.count - self.failures) / self.count if self.count else float("nan")


class _RssReader:
    """Resident set size of this process, cheaply.

    psutil's `memory_info()` opens and parses /proc/<pid>/statm on each call (~12 µs);
    re-reading an already open /proc/self/statm with `pread` gives the same number in
    ~1 µs. The descriptor is tied to the pid that opened it, so it is reopened after a
    fork. Elsewhere (macOS, Windows) psutil is used.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._fd: int | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._process = psutil.Process()
        self._use_proc = os.path.exists("/proc/self/statm")

    def __call__(self) -> int:
        if not self._use_proc:
            return int(self._process.memory_info().rss)
        pid = os.getpid()
        if pid != self._pid:
            self._reopen(pid)
        assert self._fd is not None
        return int(os.pread(self._fd, 128, 0).split()[1]) * self._page

    def _reopen(self, pid: int) -> None:
        # An inherited descriptor still points at the parent's statm: never close it here
        # (the parent owns it); just stop using it.
        self._fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._pid = pid
        self._process = psutil.Process(pid)

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):  # already closed at interpreter exit
                os.close(self._fd)


def _peak_rss() -> int | None:
    if resource is None:  # pragma: no cover - platform dependent
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * _MAXRSS_UNIT


class _IoReader:
    """Storage I/O bytes of this process, or None where psutil does not offer them."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._pid = os.getpid()
        self.available = hasattr(self._process, "io_counters")

    def __call__(self) -> tuple[int, int] | None:
        if not self.available:
            return None
        if os.getpid() != self._pid:
            self._process, self._pid = psutil.Process(), os.getpid()
        try:
            counters = self._process.io_counters()
        except (psutil.AccessDenied, NotImplementedError, OSError):
            return None
        return int(counters.read_bytes), int(counters.write_bytes)


class _Track:
    """One ``with monitor.track(name)`` block, or a decorator that makes one per call."""

    __slots__ = ("_c0", "_io0", "_monitor", "_name", "_rss0", "_started", "_t0")

    def __init__(self, monitor: Monitor, name: str) -> None:
        self._monitor = monitor
        self._name = name

    def __enter__(self) -> Self:
        monitor = self._monitor
        self._rss0 = monitor._rss() if monitor._rss is not None else None
        self._io0 = monitor._io() if monitor._io is not None else None
        self._started = time.time()
        self._c0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall = time.perf_counter() - self._t0
        cpu = time.process_time() - self._c0
        monitor = self._monitor
        if exc_type is not None and issubclass(exc_type, GeneratorExit):
            exc_type = exc = None  # a consumer that stopped early, not a failed operation
        rss_after = rss_peak = None
        if monitor._rss is not None:
            rss_after = monitor._rss()
            # The kernel updates its high-water mark lazily; the peak is at least now.
            rss_peak = max(_peak_rss() or 0, rss_after)
        io_read = io_write = None
        if self._io0 is not None and monitor._io is not None:
            io1 = monitor._io()
            if io1 is not None:
                io_read, io_write = io1[0] - self._io0[0], io1[1] - self._io0[1]
        monitor._add(
            OperationRecord(
                self._name,
                self._started,
                wall,
                cpu,
                self._rss0,
                rss_after,
                rss_peak,
                io_read,
                io_write,
                exc_type is None,
                None if exc_type is None else exc_type.__name__,
                None if exc is None else str(exc)[:_MAX_MESSAGE],
            )
        )
        # Returning None lets the exception (if any) propagate unchanged.

    def __call__(self, fn: F) -> F:
        """Decorate `fn` (sync or async): each call is tracked as one operation.

        A generator function's call only creates the generator, so for generators (sync
        or async) the operation is the iteration: from the first item requested to the
        last, the consumer's time between items included. A consumer that stops early
        (closing the generator) ends the operation without marking it failed.
        """
        monitor, name = self._monitor, self._name
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _Track(monitor, name):
                    return (yield from fn(*args, **kwargs))

            return generator_wrapper  # type: ignore[return-value]
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _Track(monitor, name):
                    async for item in fn(*args, **kwargs):
                        yield item

            return async_generator_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _Track(monitor, name):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _Track(monitor, name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class Monitor:
    """Records tracked operations in a bounded, thread-safe ring buffer.

    ``capacity`` is the number of records kept (each ~0.3 KB, so the default 10,000 is
    ~3 MB); older records are dropped, totals are not. ``rss`` (default on, ~6 µs) and
    ``io`` (default off, ~30 µs) switch the optional readings. With ``alerts`` (an
    `AlertEngine`), every tracked operation is also observed by its sliding window, and
    `check_alerts` evaluates the rules (call it on a tick, e.g. once a second).
    """

    def __init__(
        self,
        capacity: int = 10_000,
        *,
        rss: bool = True,
        io: bool = False,
        alerts: AlertEngine | None = None,
    ) -> None:
        self.capacity = check_int(capacity, "capacity", 1)
        self._records: deque[OperationRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._rss: _RssReader | None = _RssReader() if rss else None
        io_reader = _IoReader() if io else None
        self._io: _IoReader | None = io_reader if io_reader and io_reader.available else None
        if alerts is not None and not isinstance(alerts, AlertEngine):
            raise ParameterError(f"alerts must be an AlertEngine, got {type(alerts).__name__}")
        self.alerts = alerts

    def track(self, name: str) -> _Track:
        """Context manager and decorator: ``with m.track("x"):`` or ``@m.track("x")``.

        An exception inside is recorded (type and message) and re-raised unchanged.
        """
        if not isinstance(name, str) or not name:
            raise ParameterError(f"operation name must be a non-empty string, got {name!r}")
        return _Track(self, name)

    def _add(self, record: OperationRecord) -> None:
        name = record.name
        with self._lock:
            self._records.append(record)
            self._counts[name] = self._counts.get(name, 0) + 1
            if not record.ok:
                self._failures[name] = self._failures.get(name, 0) + 1
        if self.alerts is not None:
            self.alerts.observe(record.wall_s, record.ok)

    def check_alerts(self) -> list[AlertEvent]:
        """Evaluate the alert rules once (one tick); the events raised or cleared now."""
        if self.alerts is None:
            raise ParameterError("this Monitor has no alerts: Monitor(alerts=AlertEngine())")
        return self.alerts.evaluate()

    @property
    def total(self) -> int:
        """Operations tracked since creation (or `clear`), retained or not."""
        with self._lock:
            return sum(self._counts.values())

    @property
    def dropped(self) -> int:
        """Records pushed out of the ring buffer by newer ones."""
        with self._lock:
            return sum(self._counts.values()) - len(self._records)

    def records(self) -> list[OperationRecord]:
        """A snapshot of the retained records, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget all records and totals."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._failures.clear()

    def summary(self) -> dict[str, OperationSummary]:
        """Per-name statistics, in order of first appearance among retained records."""
        with self._lock:
            records = list(self._records)
            counts = dict(self._counts)
            failures = dict(self._failures)
        groups: dict[str, list[OperationRecord]] = {}
        for record in records:
            groups.setdefault(record.name, []).append(record)
        out = {
            name: _summarise(name, group, counts[name], failures.get(name, 0))
            for name, group in groups.items()
        }
        for name, count in counts.items():  # every record of this name was dropped
            if name not in out:
                out[name] = _summarise(name, [], count, failures.get(name, 0))
        return out

    def to_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str]) -> int:
        """Write retained records as JSON lines (one object per operation); returns lines."""
        records = self.records()
        if isinstance(path_or_file, str | os.PathLike):
            with Path(path_or_file).open("w", encoding="utf-8") as fh:
                return _write_jsonl(records, fh)
        if not hasattr(path_or_file, "write"):
            raise ParameterError("to_jsonl needs a path or a text file object with write()")
        return _write_jsonl(records, path_or_file)


def _write_jsonl(records: Iterable[OperationRecord], fh: IO[str]) -> int:
    n = 0
    for record in records:
        fh.write(json.dumps(record._asdict(), allow_nan=False) + "\n")
        n += 1
    return n


def _summarise(
    name: str, records: list[OperationRecord], count: int, failures: int
) -> OperationSummary:
    nan = float("nan")
    if not records:
        return OperationSummary(
            name, count, failures, 0, count, nan, nan, nan, nan, nan, nan, nan, None
        )
    wall = np.fromiter((r.wall_s for r in records), dtype=np.float64, count=len(records))
    cpu = np.fromiter((r.cpu_s for r in records), dtype=np.float64, count=len(records))
    p50, p95, p99 = np.percentile(wall, [50.0, 95.0, 99.0])
    deltas = [
        r.rss_after - r.rss_before
        for r in records
        if r.rss_after is not None and r.rss_before is not None
    ]
    return OperationSummary(
        name=name,
        count=count,
        failures=failures,
        retained=len(records),
        dropped=count - len(records),
        mean_s=float(wall.mean()),
        min_s=float(wall.min()),
        max_s=float(wall.max()),
        p50_s=float(p50),
        p95_s=float(p95),
        p99_s=float(p99),
        cpu_mean_s=float(cpu.mean()),
        rss_delta_max=max(deltas) if deltas else None,
    )
