"""The guide's stress tests: scenarios, the run with admission control, recovery, verdict.

The guide names three stress tests and a CI stress stage (`SCENARIOS`); it ran them as
plain load tests and judged nothing. Here a scenario is run by the load tester
(`run_load`) through a served operation that

- passes an `AdmissionGate` when the scenario has one: a bounded queue, so overload is
  shed (counted "rejected") instead of slowing every request or exhausting memory; a
  shed user backs off for `BACKOFF_S` before asking again, as a client honouring a
  "retry later" answer does (without it a shed user would spin on the gate);
- reports every outcome to a `Timeline` (per-second ops/s, p50/p95, failures, shed
  requests, alerts), which is what the progress line, the live view and the recovery
  measurement read.

A scenario with a recovery phase (the CI stage: 200 users, then back to a normal load:
as many users as the CPU gate runs at once on the 2-core box, so none has to queue)
measures the recovery time: from the end of the overload until the per-second p95 is
back under `P95_BUDGET_S` and stays there (`RECOVERY_HOLD` ticks with figures).

Memory pressure runs in a child process under a hard address-space limit (RLIMIT_AS, set
by `run_limited` before the child starts): there the gate's width comes from the memory
one operation needs (`memory_gate`), so the child queues and sheds instead of dying.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import psutil

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.harness.admission import AdmissionGate, Overloaded
from geoinfer_workflows.harness.alerts import address_space_limit
from geoinfer_workflows.harness.load import LoadProgress, run_load
from geoinfer_workflows.harness.timeline import Timeline

__all__ = [
    "BACKOFF_S",
    "P95_BUDGET_S",
    "SCENARIOS",
    "StressScenario",
    "cpu_gate",
    "memory_gate",
    "recovery_time",
    "run_limited",
    "run_stress",
    "warm_memory_gate",
]

P95_BUDGET_S = 1.0  # the guide's load criterion: p95 response time < 1 s
MAX_ERROR_RATE = 0.01  # the guide's load criterion: error rate < 1%
MAX_RECOVERY_S = 60.0  # the guide's CI stress stage: recovery time < 60 s
RECOVERY_HOLD = 3  # ticks with figures the p95 must stay under budget to count as back
BACKOFF_S = 0.1  # a shed user's wait before it asks again
THREAD_STACK = 1 << 20  # under an address-space limit: 1 MiB stacks, not Linux's 8 MiB
LIMITED_CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"}
MEMORY_SAFETY = 0.75  # share of the headroom the admitted operations may plan to use


@dataclass(frozen=True)
class StressScenario:
    """One stress test, with its full (nightly) and short (CI, seconds) durations."""

    name: str
    summary: str
    users: int
    duration_s: float
    ramp_up_s: float
    workflow: str
    size: str
    short_duration_s: float
    short_ramp_up_s: float
    memory_limit_bytes: int | None = None
    admission: bool = False  # a bounded queue in front of the operation
    recovery_users: int | None = None  # then a normal load, to measure the recovery
    recovery_duration_s: float = 0.0
    short_recovery_duration_s: float = 0.0

    def durations(self, short: bool) -> tuple[float, float, float]:
        """(duration, ramp-up, recovery phase) in seconds for the chosen mode."""
        if short:
            return self.short_duration_s, self.short_ramp_up_s, self.short_recovery_duration_s
        return self.duration_s, self.ramp_up_s, self.recovery_duration_s


SCENARIOS: dict[str, StressScenario] = {
    s.name: s
    for s in (
        StressScenario(
            "high_concurrency",
            "guide: 100 users for 5 minutes after a 1-minute ramp-up",
            users=100,
            duration_s=300.0,
            ramp_up_s=60.0,
            workflow="basic",
            size="seed",
            short_duration_s=5.0,
            short_ramp_up_s=1.0,
        ),
        StressScenario(
            "large_datasets",
            "guide: 1e6 records, 10 users for 10 minutes",
            users=10,
            duration_s=600.0,
            ramp_up_s=30.0,
            workflow="basic",
            size="large",
            short_duration_s=8.0,
            short_ramp_up_s=1.0,
        ),
        StressScenario(
            "memory_pressure",
            "guide: 1 GB memory limit, 50 users for 5 minutes (1e6 records each call)",
            users=50,
            duration_s=300.0,
            ramp_up_s=30.0,
            workflow="basic",
            size="large",
            short_duration_s=8.0,
            short_ramp_up_s=1.0,
            memory_limit_bytes=1 << 30,
            admission=True,
        ),
        StressScenario(
            "ci_stability",
            "guide CI: 200 users for 5 minutes; stable, graceful degradation, "
            "recovery < 60 s (then 4 users: what the gate runs at once on 2 cores)",
            users=200,
            duration_s=300.0,
            ramp_up_s=30.0,
            workflow="climate_analysis",
            size="standard",
            short_duration_s=5.0,
            short_ramp_up_s=1.0,
            admission=True,
            recovery_users=4,
            recovery_duration_s=90.0,
            short_recovery_duration_s=8.0,
        ),
    )
}


def cpu_gate(cpus: int | None = None) -> AdmissionGate:
    """Two operations per CPU at once, twice that waiting: CPU-bound numpy work
    gains nothing from more, and the queue bounds the wait of what is admitted."""
    width = 2 * (cpus or os.cpu_count() or 1)
    return AdmissionGate(width, 2 * width)


def memory_gate(limit_bytes: int, in_use_bytes: int, per_operation_bytes: int) -> AdmissionGate:
    """As many operations at once as fit `MEMORY_SAFETY` of the headroom under the limit.

    Examples
    --------
    >>> memory_gate(1 << 30, 400 << 20, 150 << 20).max_in_flight
    3
    """
    headroom = limit_bytes - in_use_bytes
    if per_operation_bytes <= 0:
        raise ParameterError(f"per_operation_bytes must be > 0, got {per_operation_bytes}")
    width = max(1, int(MEMORY_SAFETY * headroom // per_operation_bytes))
    return AdmissionGate(width, 2 * width)


class _Served:
    """The operation as users call it: gate, run, time, report to the timeline."""

    def __init__(
        self, operation: Callable[[], Any], gate: AdmissionGate | None, timeline: Timeline
    ) -> None:
        self._operation = operation
        self._gate = gate
        self._timeline = timeline
        self._lock = threading.Lock()
        self.phase = "main"
        self.latencies: dict[str, array[float]] = {}
        self.failures: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def start_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
            self.latencies[phase] = array("d")
            self.failures[phase] = self.rejected[phase] = 0

    def __call__(self) -> None:
        t0 = time.perf_counter()
        try:
            if self._gate is None:
                self._operation()
            else:
                with self._gate.enter():
                    self._operation()
        except Overloaded:
            self._timeline.reject()
            with self._lock:
                self.rejected[self.phase] += 1
            time.sleep(BACKOFF_S)  # the client backs off, as asked
            raise
        except Exception as exc:
            self._record(time.perf_counter() - t0, type(exc).__name__)
            raise
        self._record(time.perf_counter() - t0, None)

    def _record(self, latency: float, error: str | None) -> None:
        self._timeline.observe(latency, error is None)
        with self._lock:
            self.latencies[self.phase].append(latency)
            if error is not None:
                self.failures[self.phase] += 1
                self.errors[error] = self.errors.get(error, 0) + 1


def _percentiles(latencies: array[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50_s": None, "p95_s": None, "p99_s": None, "max_s": None}
    values = np.frombuffer(latencies, dtype=np.float64)
    p50, p95, p99 = (float(v) for v in np.percentile(values, [50.0, 95.0, 99.0]))
    return {"p50_s": p50, "p95_s": p95, "p99_s": p99, "max_s": float(values.max())}


def recovery_time(
    points: Sequence[dict[str, Any]],
    overload_end_s: float,
    budget_s: float = P95_BUDGET_S,
    hold: int = RECOVERY_HOLD,
) -> float | None:
    """Seconds from `overload_end_s` to the end of the first tick whose p95 is under
    budget and stays under for `hold` ticks with figures (fewer if the run ends first).

    Ticks without a completed operation carry no p95 and neither break nor make a run.

    Examples
    --------
    >>> ticks = [{"t_s": t, "p95_s": p} for t, p in [(11, 3.0), (12, 0.4), (13, None),
    ...          (14, 1.5), (15, 0.3), (16, 0.2), (17, 0.2)]]
    >>> recovery_time(ticks, overload_end_s=10.0)
    5.0
    >>> recovery_time(ticks[:4], overload_end_s=10.0) is None
    True
    """
    after = [p for p in points if p["t_s"] > overload_end_s and p.get("p95_s") is not None]
    for i, point in enumerate(after):
        window = after[i : i + hold]
        if all(p["p95_s"] <= budget_s for p in window) and (
            len(window) == hold or i + len(window) == len(after)
        ):
            return float(point["t_s"] - overload_end_s)
    return None


def _phase(
    served: _Served,
    timeline: Timeline,
    name: str,
    on_point: Callable[[dict[str, Any]], Any] | None,
    **load: Any,
) -> float:
    """Run one phase of the load; its duration in seconds."""
    served.start_phase(name)

    def tick(progress: LoadProgress) -> None:
        point = timeline.tick(phase=name, users=progress.active_users)
        if on_point is not None:
            on_point(point)

    result = run_load(served, on_progress=tick, **load)
    last = timeline.tick(phase=name, users=0)  # the partial last second
    if on_point is not None:
        on_point(last)
    return result.duration_s


def run_stress(
    operation: Callable[[], Any],
    scenario: StressScenario,
    *,
    short: bool,
    gate: AdmissionGate | None = None,
    timeline: Timeline | None = None,
    on_point: Callable[[dict[str, Any]], Any] | None = None,
    users: int | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """Run `scenario` against `operation`; the JSON-ready report with its verdict.

    `gate` is the admission control the scenario calls for (`scenario.admission`; the
    caller sizes it with `cpu_gate` or `warm_memory_gate`), or None to run without one,
    as a control. `users` overrides the scenario's count (tests scale it down) and
    `duration_s` the main phase's seconds; the report says which were used. Under a
    finite RLIMIT_AS, user threads get 1 MiB stacks (Linux's default 8 MiB each would
    spend the limit on stacks).
    """
    users = scenario.users if users is None else users
    duration, ramp_up, recovery = scenario.durations(short)
    duration = duration if duration_s is None else duration_s
    timeline = Timeline() if timeline is None else timeline
    served = _Served(operation, gate, timeline)
    limited = address_space_limit() is not None
    previous_stack = threading.stack_size(THREAD_STACK) if limited else None
    try:
        main_s = _phase(
            served,
            timeline,
            "main",
            on_point,
            users=users,
            duration_s=duration,
            ramp_up_s=min(ramp_up, duration / 2),
        )
        overload_end = timeline.elapsed()
        if scenario.recovery_users is not None:
            _phase(
                served,
                timeline,
                "recovery",
                on_point,
                users=scenario.recovery_users,
                duration_s=recovery,
            )
    finally:
        if previous_stack is not None:
            threading.stack_size(previous_stack)
    report = _report(scenario, short, users, served, timeline, gate, main_s, overload_end)
    report["duration_limit_s"] = duration
    return report


def _report(
    scenario: StressScenario,
    short: bool,
    users: int,
    served: _Served,
    timeline: Timeline,
    gate: AdmissionGate | None,
    main_s: float,
    overload_end: float,
) -> dict[str, Any]:
    latencies = served.latencies["main"]
    failures, rejected = served.failures["main"], served.rejected["main"]
    admitted = len(latencies)
    error_rate = failures / admitted if admitted else None
    points = timeline.points()
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "mode": "short" if short else "full",
        **asdict(scenario),
        "users": users,
        "admission": None
        if gate is None
        else {"max_in_flight": gate.max_in_flight, "max_queued": gate.max_queued},
        "main_duration_s": main_s,
        "requests": admitted + rejected,
        "admitted": admitted,
        "successes": admitted - failures,
        "failures": failures,
        "rejected": rejected,
        "errors": dict(served.errors),
        "ops_per_s": (admitted - failures) / main_s if main_s > 0 else 0.0,
        "error_rate": error_rate,
        **_percentiles(latencies),
        "peak_rss_bytes": _peak_rss_bytes(),
        "alert_events": [e for p in points for e in p.get("alert_events", ())],
        "timeline": points,
    }
    if scenario.recovery_users is not None:
        recovered = recovery_time(points, overload_end)
        report["recovery"] = {
            "overload_end_s": overload_end,
            "p95_budget_s": P95_BUDGET_S,
            "recovery_s": recovered,
            **_percentiles(served.latencies["recovery"]),
            "failures": served.failures["recovery"],
            "rejected": served.rejected["recovery"],
        }
        report["recovery_s"] = recovered
    report.update(judge(report))
    return report


def judge(report: dict[str, Any]) -> dict[str, Any]:
    """The guide's stress criteria over a report: stable, graceful degradation, recovery.

    - stable: the process lived to the end (a child killed by a signal never gets here;
      `run_limited` reports that) and error rate < 1% of the admitted operations;
    - graceful degradation: stable, and operations were still served: overload was met
      by queueing and shedding (counted), not by failing;
    - recovery (scenarios with a recovery phase): back under the p95 budget in < 60 s.
    """
    error_rate = report.get("error_rate")
    stable = bool(report.get("survived", True)) and (
        error_rate is not None and error_rate < MAX_ERROR_RATE
    )
    graceful = stable and report.get("successes", 0) > 0
    criteria = {"stable": stable, "graceful_degradation": graceful}
    if "recovery_s" in report:
        recovered = report["recovery_s"]
        criteria["recovered"] = recovered is not None and recovered < MAX_RECOVERY_S
    return {**criteria, "passed": all(criteria.values())}


def run_limited(argv: Sequence[str], memory_limit_bytes: int) -> dict[str, Any]:
    """Run `argv` in a child under a hard address-space limit; how it ended.

    The limit is set between fork and exec (`preexec_fn`), so nothing of this process
    is limited. The child's stdout and stderr are this process's (progress lines pass
    through). Returns ``{"returncode", "killed_by"}``: a signal name if it was killed.

    RLIMIT_AS counts reserved address space, not memory used, so the child runs with
    the reservations that are not data kept small: two malloc arenas (glibc reserves
    64 MiB of address space for each thread's arena, up to 8 per core) and one OpenBLAS
    thread (each reserves its buffers). Without them 50 users spend ~300 MiB of the 1 GiB
    on reservations; with them the limit is spent on data.
    """
    env = {**os.environ, **LIMITED_CHILD_ENV}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))

    child = subprocess.run(list(argv), preexec_fn=limit, env=env, check=False)
    killed = -child.returncode if child.returncode < 0 else None
    return {
        "returncode": child.returncode,
        "killed_by": None if killed is None else signal.Signals(killed).name,
        "memory_limit_bytes": memory_limit_bytes,
    }


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def warm_memory_gate(operation: Callable[[], Any], users: int) -> AdmissionGate:
    """Run `operation` once (the warm-up) and size a `memory_gate` under this process's
    RLIMIT_AS from what it took: the peak resident growth of the call, against the
    address space in use plus the stacks of `users` threads."""
    limit = address_space_limit()
    if limit is None:
        raise ParameterError("warm_memory_gate needs an address-space limit (RLIMIT_AS)")
    process = psutil.Process()
    resident = process.memory_info().rss
    operation()
    per_operation = max(_peak_rss_bytes() - resident, 1 << 20)
    in_use = process.memory_info().vms + users * THREAD_STACK
    return memory_gate(limit, in_use, per_operation)
