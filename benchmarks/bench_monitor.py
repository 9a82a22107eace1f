"""The process monitor's own overhead per tracked operation, beside two baselines in one
run: no monitor at all, and a monitor that reads system-wide counters as the reference
guide's sketch does (psutil.virtual_memory and cpu_percent around every operation).

Wall time (asv's default timer): the overhead a caller waits for is what matters here.
"""

from __future__ import annotations

from . import common, compat

OPERATIONS = 1_000  # tracked no-ops per timed call, so per-op cost is time / 1000


class MonitorOverhead:
    params = (["none", "process", "process_no_rss", "system_wide"],)
    param_names = ["monitor"]
    timeout = 120
    repeat = (10, 20, 10.0)

    def setup(self, monitor: str) -> None:
        import psutil

        Monitor = compat.import_first(
            "geoinfer_workflows.harness", "geoinfer_workflows.perf"
        ).Monitor

        if monitor == "none":
            self.tracked = _untracked
        elif monitor == "system_wide":
            self.tracked = _system_wide(psutil)
        else:
            # capacity above OPERATIONS x calls keeps the ring buffer's eviction in the
            # measurement too once it fills, as it would in a long-running service.
            self.tracked = Monitor(capacity=10_000, rss=monitor == "process").track

    def time_track_1000_ops(self, monitor: str) -> None:
        track = self.tracked
        for _ in range(OPERATIONS):
            with track("op"):
                pass

    time_track_1000_ops.version = "4f1ca5397e04774c98a4ee68f94c7f7a72508896d94868a79d39edc67f165823"

    def track_overhead_us_per_op(self, monitor: str) -> float:
        """Median over runs of (tracked - untracked) microseconds per operation."""
        baseline = common.median_wall_seconds(lambda: _run(_untracked), runs=7)
        tracked = common.median_wall_seconds(lambda: _run(self.tracked), runs=7)
        return max(tracked - baseline, 1e-9) / OPERATIONS * 1e6

    track_overhead_us_per_op.version = (
        "948e7ac1f17ce5e4d76600833920e1b4bc8a50dc2ae120983da871207916c1ce"
    )

    track_overhead_us_per_op.unit = "us"


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NOTHING = _Nothing()


def _untracked(name: str) -> _Nothing:
    return _NOTHING


def _system_wide(psutil):
    """The guide's monitor, minus its one-second blocking cpu_percent(interval=1)."""

    class _Track:
        def __enter__(self):
            self.memory = psutil.virtual_memory().used
            self.cpu = psutil.cpu_percent(interval=None)
            return self

        def __exit__(self, *exc):
            psutil.virtual_memory()
            psutil.cpu_percent(interval=None)
            return False

    return lambda name: _Track()


def _run(track) -> None:
    for _ in range(OPERATIONS):
        with track("op"):
            pass


class AlertsOverhead:
    """What the alert rules add: `observe` on every tracked operation (through a Monitor
    with an AlertEngine, beside the same Monitor without one), and one evaluation tick of
    the guide's four rules over a full 100-operation window (the p95 is numpy's)."""

    timeout = 120
    repeat = (10, 20, 10.0)

    def setup(self) -> None:
        alerts = compat.import_first("geoinfer_workflows.harness.alerts")
        from geoinfer_workflows.harness import Monitor

        self.engine = alerts.AlertEngine(window=100)
        self.with_alerts = Monitor(capacity=10_000, alerts=self.engine).track
        self.without = Monitor(capacity=10_000).track
        for i in range(100):
            self.engine.observe(0.001 * (i % 7), ok=i % 50 != 0)

    def time_track_1000_ops_with_alerts(self) -> None:
        _run(self.with_alerts)

    time_track_1000_ops_with_alerts.version = "alerts-track-1000-ops-1"

    def time_evaluate_guide_rules(self) -> None:
        self.engine.evaluate()

    time_evaluate_guide_rules.version = "alerts-evaluate-window-100-1"

    def track_alerts_overhead_us_per_op(self) -> float:
        """Median over runs of (with alerts - without) microseconds per operation."""
        without = common.median_wall_seconds(lambda: _run(self.without), runs=7)
        with_alerts = common.median_wall_seconds(lambda: _run(self.with_alerts), runs=7)
        return max(with_alerts - without, 1e-9) / OPERATIONS * 1e6

    track_alerts_overhead_us_per_op.version = "alerts-overhead-us-per-op-1"
    track_alerts_overhead_us_per_op.unit = "us"
