"""Alerts on a sliding window with hysteresis: a planted slow phase and a planted error
burst raise once and clear once; a lone slow call or a lone error raises nothing.

The operations are real: the fast one is the basic workflow at `seed` (~1 ms), the slow
one precision farming at `standard` (~0.4 s on the 2-core VM, 100x slower); the errors are
the package's own refusal of an unknown size. The response-time limit is scaled down to
0.1 s (the guide's 1 s would need 1 s operations to cross it); the rule is the same.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.harness import AlertEngine, AlertEvent, AlertRule, JsonLinesSink, Monitor
from geoinfer_workflows.harness.alerts import GUIDE_RULES, ResourceSampler
from geoinfer_workflows.workflows import run_workflow

WINDOW = 20


def fast() -> None:
    run_workflow("basic", "seed", 0)


def slow() -> None:
    run_workflow("precision_farming", "standard", 0)


def failing() -> None:
    run_workflow("basic", "huge", 0)  # type: ignore[arg-type]  # refused: ParameterError


def _monitor(rule: AlertRule) -> tuple[Monitor, list[AlertEvent], io.StringIO]:
    hooked: list[AlertEvent] = []
    lines = io.StringIO()
    engine = AlertEngine([rule], window=WINDOW, sinks=[hooked.append, JsonLinesSink(lines)])
    return Monitor(alerts=engine), hooked, lines


def _serve(monitor: Monitor, operation, times: int) -> list[str]:
    """Call `operation` through the monitor `times` times, one evaluation after each."""
    kinds = []
    for _ in range(times):
        try:
            with monitor.track("served"):
                operation()
        except ParameterError:
            pass
        kinds.extend(e.kind for e in monitor.check_alerts())
    return kinds


def test_one_slow_call_raises_nothing_a_slow_phase_raises_once_and_clears_once() -> None:
    fast()
    slow()  # warm both
    monitor, hooked, lines = _monitor(AlertRule("slow", "p95_response_s", 0.1, 3, 3))
    assert _serve(monitor, fast, WINDOW) == []
    assert _serve(monitor, slow, 1) + _serve(monitor, fast, WINDOW) == []  # a lone slow call
    assert _serve(monitor, slow, 6) == ["raised"]
    assert monitor.alerts is not None and monitor.alerts.active == ["slow"]
    assert _serve(monitor, fast, 2 * WINDOW) == ["cleared"]
    raised, cleared = hooked
    assert raised.kind == "raised" and raised.value > 0.1 and raised.evaluations == 3
    assert cleared.kind == "cleared" and cleared.value <= 0.1
    assert [json.loads(line) for line in lines.getvalue().splitlines()] == [
        raised.to_dict(),
        cleared.to_dict(),
    ]


def test_one_error_raises_nothing_an_error_burst_raises_once_and_clears_once() -> None:
    monitor, hooked, _ = _monitor(AlertRule("errors", "error_rate", 0.05, 3, 3))
    assert _serve(monitor, fast, WINDOW) == []
    assert _serve(monitor, failing, 1) + _serve(monitor, fast, WINDOW) == []  # 1/20 = 5%
    assert _serve(monitor, failing, 5) + _serve(monitor, fast, 1) == ["raised"]
    assert hooked[0].value == 4 / WINDOW  # raised on the 4th error: held 3 evaluations
    assert _serve(monitor, fast, 2 * WINDOW) == ["cleared"]
    assert [e.kind for e in hooked] == ["raised", "cleared"]
    assert monitor.summary()["served"].failures == 6


def test_guide_rules_are_the_guides_thresholds() -> None:
    limits = {r.metric: r.limit for r in GUIDE_RULES}
    assert limits == {
        "p95_response_s": 1.0,
        "error_rate": 0.05,
        "cpu_fraction": 0.8,
        "memory_fraction": 0.8,
    }


def test_resource_sampler_sees_real_cpu_work() -> None:
    sampler = ResourceSampler()
    time.sleep(0.3)  # idle (but for BLAS threads still spinning after earlier tests)
    idle = sampler()["cpu_fraction"]
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        sum(i * i for i in range(10_000))
    busy = sampler()["cpu_fraction"]
    assert busy > max(2 * idle, 0.1), (idle, busy)  # one busy thread: 1/cpus when alone


def test_memory_fraction_is_against_the_address_space_limit() -> None:
    """In a child under RLIMIT_AS, memory_fraction is the address space used of the limit."""
    code = (
        "import resource, psutil\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))\n"
        "from geoinfer_workflows.harness.alerts import ResourceSampler\n"
        "fraction = ResourceSampler()()['memory_fraction']\n"
        "print(fraction, psutil.Process().memory_info().vms / (4 * 2**30))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    fraction, expected = map(float, out.stdout.split())
    assert fraction == pytest.approx(expected, rel=0.05) and 0 < fraction < 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "latency"}, "unknown metric"),
        ({"limit": 0}, "limit must be"),
        ({"raise_after": 0}, "raise_after must be"),
        ({"clear_after": 1.5}, "clear_after must be"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], message: str) -> None:
    rule = {"name": "r", "metric": "error_rate", "limit": 0.05, **kwargs}
    with pytest.raises(ParameterError, match=message):
        AlertRule(**rule)  # type: ignore[arg-type]


def test_bad_engines_and_monitors_are_refused() -> None:
    with pytest.raises(ParameterError, match="distinct"):
        AlertEngine([GUIDE_RULES[0], GUIDE_RULES[0]])
    with pytest.raises(ParameterError, match="callable"):
        AlertEngine(sinks=["not a function"])  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="no alerts"):
        Monitor().check_alerts()
    with pytest.raises(ParameterError, match="AlertEngine"):
        Monitor(alerts=GUIDE_RULES)  # type: ignore[arg-type]
