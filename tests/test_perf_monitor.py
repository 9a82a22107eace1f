"""Monitor: errors recorded and re-raised, bounded buffer, exact percentiles, process-level RSS."""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import os
import threading
import time
import types

import numpy as np
import psutil
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.harness import monitor as monitor_module
from geoinfer_workflows.harness.monitor import Monitor


def test_success_is_recorded_with_process_figures() -> None:
    mon = Monitor()
    with mon.track("work"):
        sum(range(10_000))
    (rec,) = mon.records()
    assert rec.name == "work" and rec.ok and rec.error_type is None
    assert rec.wall_s > 0 and rec.cpu_s >= 0
    assert rec.rss_before is not None and rec.rss_after is not None and rec.rss_peak is not None
    assert rec.rss_peak >= rec.rss_after > 0
    assert rec.io_read_bytes is None  # I/O reading is off by default
    assert abs(rec.started_at - time.time()) < 60


def test_error_is_recorded_and_reraised_context_manager() -> None:
    mon = Monitor()
    with pytest.raises(KeyError, match="missing"), mon.track("lookup"):
        raise KeyError("missing")
    (rec,) = mon.records()
    assert not rec.ok
    assert rec.error_type == "KeyError"
    assert rec.error_message == "'missing'"
    summary = mon.summary()["lookup"]
    assert (summary.count, summary.failures, summary.success_rate) == (1, 1, 0.0)


def test_decorator_sync_and_async_record_and_reraise() -> None:
    mon = Monitor()

    @mon.track("div")
    def div(a: float, b: float) -> float:
        return a / b

    @mon.track("adiv")
    async def adiv(a: float, b: float) -> float:
        await asyncio.sleep(0)
        return a / b

    assert div(6, 3) == 2
    assert div.__name__ == "div"  # functools.wraps kept the identity
    with pytest.raises(ZeroDivisionError):
        div(1, 0)
    assert asyncio.run(adiv(8, 2)) == 4
    with pytest.raises(ZeroDivisionError):
        asyncio.run(adiv(1, 0))
    summary = mon.summary()
    assert (summary["div"].count, summary["div"].failures) == (2, 1)
    assert (summary["adiv"].count, summary["adiv"].failures) == (2, 1)
    errors = [r.error_type for r in mon.records() if not r.ok]
    assert errors == ["ZeroDivisionError", "ZeroDivisionError"]


def test_async_tracking_spans_the_awaited_time() -> None:
    mon = Monitor(rss=False)

    @mon.track("nap")
    async def nap() -> None:
        await asyncio.sleep(0.02)

    asyncio.run(nap())
    assert mon.records()[0].wall_s >= 0.015


def test_ring_buffer_is_bounded_and_totals_are_kept() -> None:
    mon = Monitor(capacity=100, rss=False)
    for i in range(1000):
        try:
            with mon.track("op"):
                if i % 2:
                    raise ValueError(str(i))
        except ValueError:
            pass
    records = mon.records()
    assert len(records) == 100
    assert mon.total == 1000 and mon.dropped == 900
    # The newest 100 are the ones kept, oldest first.
    kept_errors = [int(r.error_message) for r in records if not r.ok]
    assert kept_errors == list(range(901, 1000, 2))
    s = mon.summary()["op"]
    assert (s.count, s.failures, s.retained, s.dropped) == (1000, 500, 100, 900)


def test_name_entirely_dropped_still_summarised() -> None:
    mon = Monitor(capacity=2, rss=False)
    with mon.track("early"):
        pass
    for _ in range(3):
        with mon.track("late"):
            pass
    s = mon.summary()
    assert (s["early"].count, s["early"].retained, s["early"].dropped) == (1, 0, 1)
    assert np.isnan(s["early"].p95_s)
    assert s["late"].retained == 2


class _PlantedClock:
    """Replaces perf_counter inside the monitor: each operation lasts a planted duration."""

    def __init__(self, durations: np.ndarray) -> None:
        self.readings = iter(np.column_stack([np.zeros_like(durations), durations]).ravel())

    def __call__(self) -> float:
        return float(next(self.readings))


def test_summary_statistics_equal_numpy_on_planted_durations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    durations = np.random.default_rng(3).lognormal(-4, 1.0, size=997)
    fake_time = types.SimpleNamespace(
        perf_counter=_PlantedClock(durations), process_time=time.process_time, time=time.time
    )
    monkeypatch.setattr(monitor_module, "time", fake_time)
    mon = Monitor(rss=False)
    for _ in durations:
        with mon.track("planted"):
            pass
    s = mon.summary()["planted"]
    p50, p95, p99 = np.percentile(durations, [50, 95, 99])
    assert (s.p50_s, s.p95_s, s.p99_s) == (p50, p95, p99)
    assert s.min_s == durations.min() and s.max_s == durations.max()
    assert s.mean_s == pytest.approx(durations.mean(), rel=1e-12)


def test_thread_safety_no_record_lost() -> None:
    mon = Monitor(capacity=5_000, rss=False)
    n_threads, per_thread = 8, 2_000
    barrier = threading.Barrier(n_threads)

    def worker(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            try:
                with mon.track(f"t{k % 2}"):
                    if i % 10 == 0:
                        raise RuntimeError("planned")
            except RuntimeError:
                pass

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = mon.summary()
    assert mon.total == n_threads * per_thread
    assert len(mon.records()) == 5_000
    for name in ("t0", "t1"):
        assert summary[name].count == 4 * per_thread
        assert summary[name].failures == 4 * per_thread // 10
    assert sum(s.retained for s in summary.values()) == 5_000


def test_rss_is_process_level_and_sees_an_allocation() -> None:
    mon = Monitor()
    with mon.track("alloc"):
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    rec = mon.records()[0]
    assert rec.rss_after - rec.rss_before >= 48 * 2**20
    assert mon.summary()["alloc"].rss_delta_max >= 48 * 2**20
    # The fast /proc reading agrees with psutil's process RSS.
    reading = monitor_module._RssReader()()
    assert abs(reading - psutil.Process().memory_info().rss) < 16 * 2**20
    del block


def _child_rss(conn: multiprocessing.connection.Connection, reader: object) -> None:
    before = reader()  # type: ignore[operator]
    block = np.ones(128 * 2**20 // 8)  # 128 MiB, touched
    conn.send((before, reader(), psutil.Process().memory_info().rss))  # type: ignore[operator]
    del block


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods() or not os.path.exists("/proc/self"),
    reason="fork-specific /proc descriptor handling",
)
def test_rss_reader_follows_fork() -> None:
    """An inherited /proc/<pid>/statm descriptor would report the parent: it must not."""
    reader = monitor_module._RssReader()
    reader()  # open the descriptor in the parent
    ctx = multiprocessing.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()
    proc = ctx.Process(target=_child_rss, args=(child_conn, reader))
    proc.start()
    before, after, child_psutil = parent_conn.recv()
    proc.join(10)
    assert after - before >= 100 * 2**20  # the idle parent could not have grown by this
    assert abs(after - child_psutil) < 16 * 2**20


@pytest.mark.skipif(not hasattr(psutil.Process(), "io_counters"), reason="no I/O counters here")
def test_io_counters_when_enabled(tmp_path: os.PathLike[str]) -> None:
    mon = Monitor(io=True)
    with mon.track("write"), open(os.path.join(tmp_path, "blob"), "wb") as fh:
        fh.write(os.urandom(1 << 20))
        fh.flush()
        os.fsync(fh.fileno())
    rec = mon.records()[0]
    assert rec.io_read_bytes is not None and rec.io_read_bytes >= 0
    assert rec.io_write_bytes is not None and rec.io_write_bytes >= 0


def test_to_jsonl_path_and_file_object(tmp_path: os.PathLike[str]) -> None:
    mon = Monitor(capacity=3)
    for i in range(5):
        with mon.track(f"op{i}"):
            pass
    path = os.path.join(tmp_path, "ops.jsonl")
    assert mon.to_jsonl(path) == 3
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert [r["name"] for r in rows] == ["op2", "op3", "op4"]
    assert rows[0].keys() == mon.records()[0]._asdict().keys()
    buffer = io.StringIO()
    assert mon.to_jsonl(buffer) == 3
    assert buffer.getvalue().count("\n") == 3
    with pytest.raises(ParameterError):
        mon.to_jsonl(42)  # type: ignore[arg-type]


def test_clear_and_bad_parameters() -> None:
    mon = Monitor(rss=False)
    with mon.track("x"):
        pass
    mon.clear()
    assert mon.total == 0 and mon.summary() == {}
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ParameterError, match="capacity"):
            Monitor(capacity=bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="name"):
        mon.track("")


def test_long_error_message_is_truncated() -> None:
    mon = Monitor(rss=False)
    with pytest.raises(ValueError), mon.track("big"):
        raise ValueError("x" * 100_000)
    assert len(mon.records()[0].error_message) == monitor_module._MAX_MESSAGE
