"""Issue 12, monitor: a decorated generator is timed over its iteration, not its creation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from geoinfer_workflows.harness import Monitor


def test_a_decorated_generator_is_timed_over_its_iteration() -> None:
    monitor = Monitor()

    @monitor.track("rows")
    def rows(n: int) -> Iterator[int]:
        for i in range(n):
            time.sleep(0.01)
            yield i

    stream = rows(5)
    assert monitor.total == 0  # creating the generator ran nothing
    assert list(stream) == [0, 1, 2, 3, 4]
    (record,) = monitor.records()
    assert record.ok and record.wall_s >= 0.05


def test_a_generator_that_raises_or_is_abandoned_is_recorded() -> None:
    monitor = Monitor()

    @monitor.track("bad")
    def bad() -> Iterator[int]:
        yield 1
        raise ValueError("row 2 is broken")

    with pytest.raises(ValueError, match="row 2"):
        list(bad())
    stream = bad()
    next(stream)
    stream.close()  # the consumer stopped early: not a failure of the operation
    first, second = monitor.records()
    assert (first.ok, first.error_type) == (False, "ValueError")
    assert second.ok


def test_a_decorated_async_generator_is_timed_over_its_iteration() -> None:
    monitor = Monitor()

    @monitor.track("ticks")
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0.01)
            yield i

    async def consume() -> list[int]:
        return [i async for i in ticks(3)]

    assert asyncio.run(consume()) == [0, 1, 2]
    (record,) = monitor.records()
    assert record.ok and record.wall_s >= 0.03
