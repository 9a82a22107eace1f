"""Executors: same results, same order, whatever the engine; chunk size from planted cost."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.orchestration.engines import (
    Executor,
    apply_chunk,
    default_chunk_size,
    make_executor,
    split_chunks,
)

KINDS = ("serial", "threads", "processes")


def _row_stats(chunk: np.ndarray) -> tuple[float, float]:
    """Module level so process pools can pickle it."""
    return float(chunk.sum()), float(chunk.max())


def _fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError("seven")
    return x


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk_size", [None, 1, 3, 1000])
def test_map_keeps_order_and_values(kind: str, chunk_size: int | None) -> None:
    rng = np.random.default_rng(7)
    chunks = [rng.normal(size=int(n)) for n in rng.integers(1, 50, size=23)]
    expected = [(float(c.sum()), float(c.max())) for c in chunks]
    with make_executor(kind, 2) as ex:  # type: ignore[arg-type]
        assert isinstance(ex, Executor)
        got = ex.map(_row_stats, chunks, chunk_size=chunk_size)
        again = ex.map(_row_stats, chunks[::-1], chunk_size=chunk_size)
    assert got == expected
    assert again == expected[::-1]


@pytest.mark.parametrize("kind", KINDS)
def test_empty_input_and_first_error_propagates(kind: str) -> None:
    with make_executor(kind, 2) as ex:  # type: ignore[arg-type]
        assert ex.map(_row_stats, []) == []
        with pytest.raises(ValueError, match="seven"):
            ex.map(_fail_on_seven, list(range(20)), chunk_size=2)


@pytest.mark.parametrize("kind", KINDS)
def test_map_after_close_is_an_error(kind: str) -> None:
    ex = make_executor(kind, 1)  # type: ignore[arg-type]
    with ex:
        assert ex.map(abs, [-1, 2]) == [1, 2]
    with pytest.raises(ParameterError, match="closed"):
        ex.map(abs, [-1])


def test_threads_really_use_several_threads() -> None:
    seen: set[int] = set()
    barrier = threading.Barrier(2, timeout=5)

    def note(x: int) -> int:
        seen.add(threading.get_ident())
        barrier.wait()  # both workers must be inside at once, or this times out
        return x

    with make_executor("threads", 2) as ex:
        assert ex.map(note, [1, 2], chunk_size=1) == [1, 2]
    assert len(seen) == 2


def test_processes_reject_unpicklable_function_clearly() -> None:
    with (
        make_executor("processes", 1) as ex,
        pytest.raises(ParameterError, match="module level"),
    ):
        ex.map(lambda x: x, [1, 2])


def test_processes_work_when_threads_are_alive() -> None:
    """Another thread alive: fork would be unsafe, so a forkserver/spawn pool must work."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with make_executor("processes", 2) as ex:
            assert ex.map(_fail_on_seven, [1, 2, 3]) == [1, 2, 3]
    finally:
        stop.set()
        other.join()


@pytest.mark.parametrize(
    ("kind", "workers", "message"),
    [("gpu", None, "unknown executor kind"), ("threads", 0, "workers"), ("serial", -2, "workers")],
)
def test_bad_parameters(kind: str, workers: int | None, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        make_executor(kind, workers)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="chunk_size"), make_executor("serial") as ex:
        ex.map(abs, [1], chunk_size=0)


def test_split_and_apply_chunks_cover_every_item_once() -> None:
    items = list(range(17))
    chunks = split_chunks(items, 5)
    assert [len(c) for c in chunks] == [5, 5, 5, 2]
    assert [y for c in chunks for y in apply_chunk(lambda v: v * 2, c)] == [2 * i for i in items]
    assert default_chunk_size(17, 2) == 3  # ceil(17 / 8)
    assert default_chunk_size(0, 2) == 1


class _FakeClock:
    """Time advances only when the probed function says it spent time."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_map_row_blocks_covers_every_row_once_in_order():
    from geoinfer_workflows.orchestration.engines import map_row_blocks

    parts = map_row_blocks(
        lambda rows: list(range(rows.start, rows.stop)),
        10_000,
        block_rows=4_000,
        kind="threads",
        workers=2,
    )
    assert [x for part in parts for x in part] == list(range(10_000))
    assert [len(p) for p in parts] == [4_000, 4_000, 2_000]


def test_map_row_blocks_runs_one_block_inline():
    import threading

    from geoinfer_workflows.orchestration.engines import map_row_blocks

    threads = set()
    parts = map_row_blocks(lambda rows: threads.add(threading.get_ident()), 50, block_rows=50)
    assert len(parts) == 1 and threads == {threading.get_ident()}
    assert map_row_blocks(lambda rows: (rows.start, rows.stop), 0, block_rows=8) == [(0, 0)]


def test_map_row_blocks_split_does_not_depend_on_timing(monkeypatch):
    """The split is the deterministic trackers' business: no clock may decide it."""
    import time

    from geoinfer_workflows.orchestration.engines import map_row_blocks

    def splits() -> list[tuple[int, int]]:
        return map_row_blocks(lambda r: (r.start, r.stop), 1_000, block_rows=300, kind="serial")

    fast = splits()
    ticks = iter(range(0, 10**9, 10**6))
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
    assert splits() == fast == [(0, 300), (300, 600), (600, 900), (900, 1_000)]
