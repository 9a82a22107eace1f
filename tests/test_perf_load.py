"""Load tester: counts add up, exact percentiles on planted latencies, exact stopping rules."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import numpy as np
import psutil
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.harness.load import LoadProgress, LoadResult, run_load


class Counter:
    """Thread-safe call numbering, so failures can be planted by call index."""

    def __init__(self) -> None:
        self._it = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._it)


def _planted_outcome(i: int) -> None:
    if i % 7 == 0:
        raise KeyError(i)
    if i % 3 == 0:
        raise ValueError(f"call {i}")


def _expected_errors(n: int) -> dict[str, int]:
    keys = sum(1 for i in range(n) if i % 7 == 0)
    values = sum(1 for i in range(n) if i % 7 and i % 3 == 0)
    return {"KeyError": keys, "ValueError": values}


def _check_consistent(result: LoadResult) -> None:
    assert result.successes + result.failures == result.operations
    assert sum(result.errors.values()) == result.failures
    assert sum(result.throughput_per_s) == result.operations
    assert result.latencies_s.size == result.operations
    json.dumps(result.to_dict(), allow_nan=False)  # the report is strict JSON


def test_sync_counts_add_up_and_max_operations_is_exact() -> None:
    calls = Counter()

    def op() -> None:
        _planted_outcome(calls.next())

    result = run_load(op, users=8, max_operations=3_000)
    _check_consistent(result)
    assert result.operations == 3_000 and calls.next() == 3_000  # not one call more
    assert result.errors == _expected_errors(3_000)
    assert result.failures == sum(_expected_errors(3_000).values())
    assert result.success_rate == pytest.approx(result.successes / 3_000)
    assert result.error_samples["ValueError"].startswith("call ")
    p50, p95, p99 = np.percentile(result.latencies_s, [50, 95, 99])
    assert (result.p50_s, result.p95_s, result.p99_s) == (p50, p95, p99)


def test_async_counts_add_up_and_max_operations_is_exact() -> None:
    calls = Counter()
    concurrent = 0
    peak = 0

    async def op() -> None:
        nonlocal concurrent, peak
        concurrent += 1
        peak = max(peak, concurrent)
        await asyncio.sleep(0)
        concurrent -= 1
        _planted_outcome(calls.next())

    result = run_load(op, users=20, max_operations=2_000)
    _check_consistent(result)
    assert result.operations == 2_000 and calls.next() == 2_000
    assert result.errors == _expected_errors(2_000)
    assert peak > 1  # users really interleave on the event loop


def test_async_from_inside_a_running_loop() -> None:
    async def op() -> None:
        await asyncio.sleep(0)

    async def caller() -> LoadResult:
        return run_load(op, users=3, max_operations=30)

    result = asyncio.run(caller())
    assert result.operations == 30 and result.failures == 0


class PlantedClock:
    """Time moves only when the operation under load says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_percentiles_equal_numpy_on_planted_latencies() -> None:
    clock = PlantedClock()
    # Dyadic latencies keep every clock reading exact, so recorded == planted bit for bit.
    planted = np.random.default_rng(4).integers(1, 4096, size=1_001) / 1024.0
    it = iter(planted)

    def op() -> None:
        clock.now += next(it)

    result = run_load(op, users=1, max_operations=planted.size, clock=clock)
    np.testing.assert_array_equal(result.latencies_s, planted)
    p50, p95, p99 = np.percentile(planted, [50, 95, 99])
    assert (result.p50_s, result.p95_s, result.p99_s) == (p50, p95, p99)
    assert result.mean_s == pytest.approx(planted.mean(), rel=1e-12)
    assert result.max_s == planted.max()
    assert result.duration_s == pytest.approx(planted.sum(), rel=1e-12)
    assert result.ops_per_s == pytest.approx(planted.size / planted.sum(), rel=1e-12)


def test_duration_stop_and_per_second_timeline_on_planted_clock() -> None:
    clock = PlantedClock()

    def op() -> None:
        clock.now += 0.25

    result = run_load(op, users=1, duration_s=10, clock=clock)
    # Operations start while elapsed < 10 s: 40 of them; op k ends at 0.25 (k + 1) s.
    assert result.operations == 40
    assert result.throughput_per_s == (3, *([4] * 9), 1)
    assert result.duration_s == 10.0 and result.ops_per_s == 4.0


def test_both_limits_whichever_first() -> None:
    clock = PlantedClock()

    def op() -> None:
        clock.now += 1.0

    assert run_load(op, users=1, duration_s=5, max_operations=100, clock=clock).operations == 5
    assert run_load(op, users=1, duration_s=100, max_operations=7, clock=clock).operations == 7


def test_real_duration_run_stops() -> None:
    result = run_load(lambda: None, users=4, duration_s=0.3)
    _check_consistent(result)
    assert result.failures == 0 and result.operations > 0
    assert result.duration_s >= 0.3


def test_ramp_up_staggers_user_starts() -> None:
    first_call: dict[str, float] = {}
    start = time.perf_counter()

    def op() -> None:
        name = threading.current_thread().name
        first_call.setdefault(name, time.perf_counter() - start)
        time.sleep(0.001)

    users, ramp = 4, 0.4
    run_load(op, users=users, duration_s=0.8, ramp_up_s=ramp)
    assert len(first_call) == users
    for i in range(users):  # user i may not start before i * ramp / users
        assert first_call[f"load-user-{i}"] >= i * ramp / users - 1e-3


def test_progress_is_reported_and_consistent() -> None:
    snapshots: list[LoadProgress] = []
    result = run_load(lambda: None, users=2, duration_s=1.6, on_progress=snapshots.append)
    assert 1 <= len(snapshots) <= 2
    snap = snapshots[0]
    assert snap.successes + snap.failures == snap.operations <= result.operations
    assert 0.9 <= snap.elapsed_s < 1.6 and snap.active_users == 2 and snap.ops_per_s > 0


def test_a_failing_progress_callback_is_not_silent() -> None:
    def broken(_: LoadProgress) -> None:
        raise RuntimeError("printer broke")

    with pytest.raises(RuntimeError, match="printer broke"):
        run_load(lambda: None, users=1, duration_s=1.3, on_progress=broken)


def test_fatal_exit_in_a_user_ends_the_run() -> None:
    def op() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        run_load(op, users=3, duration_s=30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0, "max_operations": 1}, "users"),
        ({"users": 1}, "duration_s, max_operations"),
        ({"users": 1, "duration_s": 0}, "duration_s"),
        ({"users": 1, "duration_s": float("inf")}, "duration_s"),
        ({"users": 1, "max_operations": 0}, "max_operations"),
        ({"users": 1, "duration_s": 1, "ramp_up_s": -1}, "ramp_up_s"),
        ({"users": 1, "duration_s": 1, "ramp_up_s": 2}, "shorter"),
        ({"users": 1, "max_operations": 1, "on_progress": 5}, "on_progress"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        run_load(lambda: None, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="callable"):
        run_load(42, users=1, max_operations=1)  # type: ignore[arg-type]


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def test_stress_200_users_cheap_function() -> None:
    data = np.arange(1_000, dtype=np.float64)
    before = _rss()
    result = run_load(lambda: float(data.sum()), users=200, duration_s=2.0, ramp_up_s=0.5)
    growth = _rss() - before
    _check_consistent(result)
    assert result.failures == 0 and result.errors == {}
    assert result.operations > 1_000
    # 8 bytes of latency per operation plus 200 thread stacks' touched pages, not more.
    assert growth < 64 * 2**20 + 16 * result.operations


def test_stress_200_users_basic_workflow() -> None:
    workflows = pytest.importorskip("geoinfer_workflows.workflows")
    run_workflow = getattr(workflows, "run_workflow", None)
    if run_workflow is None:
        pytest.skip("geoinfer_workflows.workflows.run_workflow is not written yet")
    run_workflow("basic", size="seed", seed=0)  # warm imports and caches
    before = _rss()
    result = run_load(
        lambda: run_workflow("basic", size="seed", seed=0), users=200, max_operations=2_000
    )
    growth = _rss() - before
    _check_consistent(result)
    assert result.errors == {} and result.failures == 0 and result.operations == 2_000
    assert growth < 256 * 2**20


def test_load_command_writes_a_report(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    import argparse

    workflows = pytest.importorskip("geoinfer_workflows.workflows")
    if getattr(workflows, "run_workflow", None) is None:
        pytest.skip("geoinfer_workflows.workflows.run_workflow is not written yet")
    from geoinfer_workflows.cli.harness_commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    path = tmp_path / "load.json"
    args = parser.parse_args(
        ["load", "basic", "--users", "4", "--max-ops", "40", "--json", str(path)]
    )
    assert args.func(args) == 0
    report = json.loads(path.read_text())
    assert report["workflow"] == "basic" and report["size"] == "seed" and report["users"] == 4
    assert report["operations"] == 40 == report["successes"]
    assert report["duration_limit_s"] is None and report["max_operations"] == 40
    assert "load test: basic" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["load", "basic", "--users", "0"])


def test_load_live_view_serves_the_running_timeline() -> None:
    """`load --live`: while the users run, the page and its data answer on 127.0.0.1."""
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, "-m", "geoinfer_workflows.cli", "load", "basic", "--users", "2"]
    command += ["--duration", "3", "--live", "--live-linger", "1"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("live view: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert '<svg id="plot"' in page and "load: basic" in page
        deadline = time.monotonic() + 15
        points: list[dict] = []
        while time.monotonic() < deadline and len(points) < 2:
            data = json.loads(urllib.request.urlopen(url + "data.json", timeout=10).read())
            points = data["points"]
            time.sleep(0.5)  # poll the page's data as the page itself does
        assert len(points) >= 2 and points[0]["phase"] == "load"
        assert points[0]["operations"] > 0 and points[0]["p95_s"] is not None
        assert process.wait(60) == 0
