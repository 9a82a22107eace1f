"""Stress tests: admission control sheds and counts, the report adds up, a planted
overload recovers (and the recovery is measured), planted failures fail the verdict.

The users call real workflows (climate analysis at `standard`, ~75 ms alone: 2 cores
serve ~25 a second, so 40 users overload it). Scenarios are scaled to seconds here; the
command line's memory-pressure run under RLIMIT_AS is in test_stress_cli.py.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.harness import SCENARIOS, AdmissionGate, Overloaded, Timeline, run_stress
from geoinfer_workflows.harness.stress import cpu_gate, judge, memory_gate, recovery_time
from geoinfer_workflows.workflows import run_workflow


def heavy() -> None:
    run_workflow("climate_analysis", "standard", 0)


@pytest.fixture(scope="module")
def overload_report() -> dict:
    """ci_stability scaled: 40 users for 2 s behind the CPU gate, then 2 users for 4 s."""
    heavy()  # warm
    scenario = replace(
        SCENARIOS["ci_stability"],
        short_duration_s=2.0,
        short_ramp_up_s=0.2,
        recovery_users=2,
        short_recovery_duration_s=4.0,
    )
    points: list[dict] = []
    report = run_stress(
        heavy, scenario, short=True, gate=cpu_gate(), users=40, on_point=points.append
    )
    report["seen_points"] = points
    return report


def test_requests_are_served_or_shed_and_the_timeline_adds_up(overload_report: dict) -> None:
    r = overload_report
    assert r["requests"] == r["admitted"] + r["rejected"]
    assert r["admitted"] == r["successes"] + r["failures"]
    assert r["rejected"] > 0 and r["failures"] == 0 and r["errors"] == {}
    main = [p for p in r["timeline"] if p["phase"] == "main"]
    assert sum(p["operations"] for p in main) == r["admitted"]
    assert sum(p["rejected"] for p in main) == r["rejected"]
    cpus = os.cpu_count() or 1
    assert r["admission"] == {"max_in_flight": 2 * cpus, "max_queued": 4 * cpus}
    assert r["seen_points"] == r["timeline"]  # every point was shown as it happened


def test_overload_recovery_is_measured_and_passes(overload_report: dict) -> None:
    recovery = overload_report["recovery"]
    assert recovery["recovery_s"] is not None and 0 < recovery["recovery_s"] < 60
    assert overload_report["recovered"] and overload_report["stable"]
    assert overload_report["passed"]
    after = [p for p in overload_report["timeline"] if p["phase"] == "recovery"]
    assert after and after[-1]["p95_s"] is not None and after[-1]["p95_s"] < 1.0


def test_planted_failures_fail_the_verdict() -> None:
    calls = iter(range(10**6))

    def flaky() -> None:
        if next(calls) % 10 == 0:  # every tenth call asks for a size that does not exist
            run_workflow("basic", "huge", 0)  # type: ignore[arg-type]
        run_workflow("basic", "seed", 0)

    scenario = replace(SCENARIOS["high_concurrency"], short_duration_s=1.0, short_ramp_up_s=0.1)
    report = run_stress(flaky, scenario, short=True, users=4)
    assert report["errors"] == {"ParameterError": report["failures"]} and report["failures"] > 0
    assert report["error_rate"] == pytest.approx(0.1, abs=0.02)
    assert not report["stable"] and not report["passed"]


def test_gate_serves_in_arrival_order_and_counts_what_it_sheds() -> None:
    gate = AdmissionGate(max_in_flight=1, max_queued=2)
    order: list[int] = []
    release = threading.Event()
    first = gate.enter()
    first.__enter__()
    tickets = [gate.enter(), gate.enter()]  # queued in this order
    with pytest.raises(Overloaded):
        gate.enter()

    def run(i: int) -> None:
        with tickets[i]:
            order.append(i)
            release.wait(5)

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 0)]  # started out of order
    for t in threads:
        t.start()
    first.__exit__(None, None, None)
    release.set()
    for t in threads:
        t.join(5)
    assert order == [0, 1]
    assert (gate.admitted, gate.rejected, gate.running, gate.waiting) == (3, 1, 0, 0)


def test_recovery_needs_the_p95_to_stay_under_budget() -> None:
    ticks = [{"t_s": t, "p95_s": p} for t, p in [(1, 0.2), (2, 0.3), (3, 2.0), (4, 0.1)]]
    assert recovery_time(ticks, overload_end_s=0.5) == 3.5  # 3 ticks: only the last run
    assert recovery_time(ticks, overload_end_s=0.5, hold=2) == 0.5  # 2 ticks: the first two
    assert recovery_time(ticks, overload_end_s=3.5) == 0.5  # the run ends: fewer suffice
    assert recovery_time([], overload_end_s=0.0) is None


def test_judge_reads_the_guides_criteria() -> None:
    ok = {"error_rate": 0.0, "successes": 5}
    assert judge(ok)["passed"]
    assert not judge({**ok, "error_rate": 0.02})["stable"]
    assert not judge({**ok, "survived": False})["stable"]
    assert not judge({**ok, "successes": 0})["graceful_degradation"]
    assert not judge({**ok, "recovery_s": 61.0})["passed"]
    assert not judge({**ok, "recovery_s": None})["recovered"]


def test_memory_gate_and_timeline_refuse_nonsense() -> None:
    with pytest.raises(ParameterError, match="per_operation_bytes"):
        memory_gate(1 << 30, 1 << 20, 0)
    assert memory_gate(1 << 30, 1 << 30, 1 << 20).max_in_flight == 1  # no headroom: one
    with pytest.raises(ParameterError, match="max_in_flight"):
        AdmissionGate(0, 1)
    assert Timeline().tick()["p95_s"] is None  # a tick without operations has no p95
