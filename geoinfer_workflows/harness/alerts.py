"""Alerts: the guide's dashboard thresholds on a sliding window, with hysteresis.

The guide's dashboard printed an alert for every single operation over a threshold, so
one slow call (a GC pause, a cold cache) raised an alarm and the next fast one silently
forgot it. Here:

- Operations are observed into a sliding window of the last `window` operations; the
  rules read the window's figures (p95 response time, error rate) and the latest
  resource reading (this process's CPU share and memory share), not one call.
- A rule *raises* after its condition has held for `raise_after` consecutive evaluations
  and *clears* after it has been false for `clear_after` consecutive ones. Evaluations are
  ticks (the load and stress commands tick once a second), so a lone slow call that
  barely moves the window's p95 raises nothing, and a recovering system does not flap.
- Each change of state is one structured `AlertEvent`, handed to every sink: a callable
  hook, or `JsonLinesSink` writing one JSON object per line.

The guide's thresholds (`GUIDE_RULES`): response time > 1 s, error rate > 5%, CPU > 80%,
memory > 80%.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import IO, Any, Literal

import numpy as np
import psutil

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import check_int, check_options, check_positive_float

__all__ = [
    "GUIDE_RULES",
    "METRICS",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "JsonLinesSink",
    "ResourceSampler",
    "address_space_limit",
]

# What a rule may watch, and its unit.
METRICS: dict[str, str] = {
    "p95_response_s": "seconds",  # 95th percentile of the window's operation wall times
    "error_rate": "fraction",  # failed / operations in the window
    "cpu_fraction": "fraction",  # this process's CPU time / (wall time x CPUs), last tick
    "memory_fraction": "fraction",  # memory in use / the limit it runs under, last tick
}


@dataclass(frozen=True)
class AlertRule:
    """Raise when `metric` > `limit` for `raise_after` evaluations; clear after `clear_after`.

    Examples
    --------
    >>> AlertRule("slow", "p95_response_s", 1.0).limit
    1.0
    >>> AlertRule("slow", "latency", 1.0)
    Traceback (most recent call last):
    ...
    geoinfer_workflows.errors.ParameterError: unknown metric 'latency'; valid: p95_response_s, \
error_rate, cpu_fraction, memory_fraction
    """

    name: str
    metric: str
    limit: float
    raise_after: int = 3
    clear_after: int = 5

    def __post_init__(self) -> None:
        check_options(self.metric, "metric", METRICS)
        object.__setattr__(self, "limit", check_positive_float(self.limit, "limit"))
        check_int(self.raise_after, "raise_after", 1)
        check_int(self.clear_after, "clear_after", 1)


GUIDE_RULES: tuple[AlertRule, ...] = (
    AlertRule("high_response_time", "p95_response_s", 1.0),
    AlertRule("high_error_rate", "error_rate", 0.05),
    AlertRule("high_cpu", "cpu_fraction", 0.8),
    AlertRule("high_memory", "memory_fraction", 0.8),
)


@dataclass(frozen=True)
class AlertEvent:
    """One change of an alert's state: ``raised`` or ``cleared``."""

    kind: Literal["raised", "cleared"]
    rule: str
    metric: str
    value: float
    limit: float
    unit: str
    at: float  # epoch seconds
    evaluations: int  # consecutive evaluations the new state had held for
    window_operations: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (plain floats and strings)."""
        return asdict(self)


class JsonLinesSink:
    """An alert sink writing one JSON object per event to a text file, flushed at once.

    >>> import io
    >>> buffer = io.StringIO()
    >>> JsonLinesSink(buffer)(AlertEvent("raised", "r", "error_rate", 0.5, 0.05, "fraction",
    ...                                  0.0, 3, 20))
    >>> json.loads(buffer.getvalue())["kind"]
    'raised'
    """

    def __init__(self, stream: IO[str]) -> None:
        if not hasattr(stream, "write"):
            raise ParameterError("JsonLinesSink needs a text stream with write()")
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: AlertEvent) -> None:
        line = json.dumps(event.to_dict(), allow_nan=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def address_space_limit() -> int | None:
    """This process's RLIMIT_AS in bytes, or None when it has none (or the OS has none).

    >>> address_space_limit() is None  # a process started without `ulimit -v`
    True
    """
    if not hasattr(psutil, "RLIMIT_AS"):  # pragma: no cover - platform dependent
        return None
    soft, _hard = psutil.Process().rlimit(psutil.RLIMIT_AS)
    return None if soft == psutil.RLIM_INFINITY else int(soft)


class ResourceSampler:
    """This process's CPU and memory shares, as the alert rules read them.

    CPU: process CPU seconds since the previous call over wall seconds x CPUs (1.0 is
    every core busy with this process). Memory: against an address-space limit
    (RLIMIT_AS, what a memory-pressure run sets) the virtual size counts, since that is
    what the limit refuses; otherwise resident memory over physical memory.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._cpus = os.cpu_count() or 1
        limit = address_space_limit()
        self._limited = limit is not None
        self._limit = limit if limit is not None else int(psutil.virtual_memory().total)
        self._last = (time.perf_counter(), time.process_time())

    def __call__(self) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        last_wall, last_cpu = self._last
        self._last = (wall, cpu)
        elapsed = wall - last_wall
        share = (cpu - last_cpu) / (elapsed * self._cpus) if elapsed > 0 else 0.0
        info = self._process.memory_info()
        used = info.vms if self._limited else info.rss
        return {"cpu_fraction": max(share, 0.0), "memory_fraction": used / self._limit}


class _RuleState:
    __slots__ = ("active", "streak")

    def __init__(self) -> None:
        self.active = False
        self.streak = 0  # consecutive evaluations whose condition disagreed with `active`


class AlertEngine:
    """Evaluate alert rules on a sliding window of operations; hand state changes to sinks.

    Parameters
    ----------
    rules : iterable of AlertRule
        Default: the guide's four thresholds (`GUIDE_RULES`).
    window : int
        Operations the response-time and error-rate figures are computed over.
    sinks : iterable of callables
        Each is called with every `AlertEvent` (a hook, or a `JsonLinesSink`).
    sampler : callable, optional
        Returns the resource figures (``cpu_fraction``, ``memory_fraction``) at each
        evaluation; without one the resource rules have no figure and keep their state.

    Examples
    --------
    >>> engine = AlertEngine([AlertRule("errors", "error_rate", 0.05, 2, 2)], window=10)
    >>> for _ in range(10):
    ...     engine.observe(0.01, ok=False)
    >>> [e.kind for e in engine.evaluate()], [e.kind for e in engine.evaluate()]
    ([], ['raised'])
    >>> engine.active
    ['errors']
    """

    def __init__(
        self,
        rules: Iterable[AlertRule] = GUIDE_RULES,
        *,
        window: int = 100,
        sinks: Iterable[Callable[[AlertEvent], Any]] = (),
        sampler: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        if not self.rules or not all(isinstance(r, AlertRule) for r in self.rules):
            raise ParameterError("rules must be one or more AlertRule")
        if len({r.name for r in self.rules}) != len(self.rules):
            raise ParameterError("alert rule names must be distinct")
        self.window = check_int(window, "window", 1)
        self._sinks = tuple(sinks)
        if not all(callable(s) for s in self._sinks):
            raise ParameterError("every alert sink must be callable")
        self._sampler = sampler
        self._walls: deque[float] = deque(maxlen=self.window)
        self._oks: deque[bool] = deque(maxlen=self.window)
        self._lock = threading.Lock()
        self._states = {r.name: _RuleState() for r in self.rules}
        self.events: list[AlertEvent] = []  # every event so far, oldest first
        self.last_figures: dict[str, float] = {}

    def observe(self, wall_s: float, ok: bool) -> None:
        """Record one operation (thread-safe, O(1)): its wall time and success."""
        with self._lock:
            self._walls.append(wall_s)
            self._oks.append(ok)

    def figures(self) -> dict[str, float]:
        """The window's figures now (a metric without data is absent)."""
        with self._lock:
            walls = np.fromiter(self._walls, dtype=np.float64, count=len(self._walls))
            failures = self._oks.count(False)
        out: dict[str, float] = {}
        if walls.size:
            out["p95_response_s"] = float(np.percentile(walls, 95.0))
            out["error_rate"] = failures / walls.size
        if self._sampler is not None:
            out.update(self._sampler())
        return out

    def evaluate(self) -> list[AlertEvent]:
        """One tick: judge every rule on the current figures; return (and sink) the events."""
        figures = self.figures()
        self.last_figures = figures
        operations = len(self._walls)
        events = []
        for rule in self.rules:
            value = figures.get(rule.metric)
            if value is None:
                continue  # no figure: no evidence either way, the state holds
            state = self._states[rule.name]
            breached = value > rule.limit
            if breached == state.active:
                state.streak = 0
                continue
            state.streak += 1
            if state.streak < (rule.clear_after if state.active else rule.raise_after):
                continue
            state.active, held, state.streak = breached, state.streak, 0
            kind: Literal["raised", "cleared"] = "raised" if breached else "cleared"
            events.append(
                AlertEvent(
                    kind,
                    rule.name,
                    rule.metric,
                    value,
                    rule.limit,
                    METRICS[rule.metric],
                    time.time(),
                    held,
                    operations,
                )
            )
        for event in events:
            self.events.append(event)
            for sink in self._sinks:
                sink(event)
        return events

    @property
    def active(self) -> list[str]:
        """Names of the rules currently raised."""
        return [name for name, state in self._states.items() if state.active]
