"""Per-second figures of a running load or stress test: ops/s, p50/p95, failures, shed
requests and active alerts, one point a tick.

The load tester's own progress gives only counts; a person watching a stress test (and
the recovery measurement) needs the latency of *this* second, not of the whole run. The
served operation reports each outcome here (`observe`, `reject`); `tick` (once a second,
from the load tester's progress callback) closes the current second into a point,
evaluates the alert rules and keeps the point for the report and the live view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from geoinfer_workflows.harness.alerts import AlertEngine

__all__ = ["Timeline"]


class Timeline:
    """Outcomes bucketed by tick, with an optional alert engine fed and evaluated alongside.

    Examples
    --------
    >>> timeline = Timeline(clock=lambda: 10.0)
    >>> for latency in (0.1, 0.2, 0.3):
    ...     timeline.observe(latency, ok=True)
    >>> timeline.reject()
    >>> point = timeline.tick(users=3)
    >>> point["operations"], point["rejected"], point["p50_s"], point["users"]
    (3, 1, 0.2, 3)
    """

    def __init__(
        self,
        *,
        alerts: AlertEngine | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.alerts = alerts
        self._clock = clock
        self._origin = clock()
        self._last = self._origin
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._failures = 0
        self._rejected = 0
        self._points: list[dict[str, Any]] = []

    def elapsed(self) -> float:
        """Seconds since the timeline started."""
        return self._clock() - self._origin

    def observe(self, latency_s: float, ok: bool) -> None:
        """One completed operation (admitted and run): its response time and success."""
        with self._lock:
            self._latencies.append(latency_s)
            if not ok:
                self._failures += 1
        if self.alerts is not None:
            self.alerts.observe(latency_s, ok)

    def observed(self, fn: Callable[[], Any]) -> Callable[[], None]:
        """`fn` (no arguments) timed: each call's wall time and success go to `observe`,
        its exception (if any) propagates unchanged."""

        def call() -> None:
            t0 = time.perf_counter()
            try:
                fn()
            except Exception:
                self.observe(time.perf_counter() - t0, False)
                raise
            self.observe(time.perf_counter() - t0, True)

        return call

    def reject(self) -> None:
        """One request shed by admission control."""
        with self._lock:
            self._rejected += 1

    def tick(self, **extra: Any) -> dict[str, Any]:
        """Close the current interval into a point (plus `extra` fields) and return it."""
        now = self._clock()
        with self._lock:
            latencies, self._latencies = self._latencies, []
            failures, self._failures = self._failures, 0
            rejected, self._rejected = self._rejected, 0
        interval = now - self._last
        self._last = now
        p50 = p95 = None
        if latencies:
            p50, p95 = (float(v) for v in np.percentile(latencies, [50.0, 95.0]))
        point: dict[str, Any] = {
            "t_s": round(now - self._origin, 3),
            "operations": len(latencies),
            "ops_per_s": len(latencies) / interval if interval > 0 else 0.0,
            "p50_s": p50,
            "p95_s": p95,
            "failures": failures,
            "rejected": rejected,
            **extra,
        }
        if self.alerts is not None:
            events = self.alerts.evaluate()
            point["alerts"] = self.alerts.active
            point["alert_events"] = [e.to_dict() for e in events]
            point.update(_rounded(self.alerts.last_figures, ("cpu_fraction", "memory_fraction")))
        with self._lock:
            self._points.append(point)
        return point

    def points(self, since: int = 0) -> list[dict[str, Any]]:
        """The points from index `since` on (a copy: safe to read from another thread)."""
        with self._lock:
            return list(self._points[since:])


def _rounded(figures: Mapping[str, float], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: round(figures[key], 4) for key in keys if key in figures}
