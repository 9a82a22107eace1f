"""Adaptive scaling: the decision (`scale_target`) from the workers' CPU and memory figures
against the configured thresholds and dask's response-time estimate, the decision read
from a real scheduler's figures, and (slow: it waits on dask's own adapt loop) a cluster
with no workers growing under a real load (H3 binning of seeded observations, queued past
the 500 ms response target) and shrinking back after."""

from __future__ import annotations

import time

import distributed
import pytest

from geoinfer_workflows.distributed.adaptive import (
    ScalingPolicy,
    WorkerLoad,
    adapt,
    scale_target,
)
from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules import space
from geoinfer_workflows.synthetic import observation_partition

DEADLINE_S = 20


def _bin(index: int) -> int:
    obs = observation_partition(index, 200_000)
    return int(space.h3_cells(obs.lat, obs.lon, 9).size)


def _wait_for(client: distributed.Client, check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_S
    while not check(len(client.scheduler_info()["workers"])):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
def test_workers_added_under_load_and_removed_after() -> None:
    policy = ScalingPolicy(minimum=0, maximum=2, interval_s=0.2, wait_count=2)
    with (
        distributed.LocalCluster(
            n_workers=0, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        adapt(cluster, policy)
        assert len(client.scheduler_info()["workers"]) == 0
        futures = client.map(_bin, range(16))
        _wait_for(client, lambda n: n == policy.maximum, "no scale-out to the maximum")
        assert sum(client.gather(futures)) == 16 * 200_000
        del futures
        _wait_for(client, lambda n: n == policy.minimum, "idle workers were not removed")


@pytest.mark.parametrize(
    "kwargs", [{"minimum": -1}, {"minimum": 3, "maximum": 2}, {"wait_count": 0}]
)
def test_bad_policy_is_a_parameter_error(kwargs: dict[str, int]) -> None:
    with pytest.raises(ParameterError):
        ScalingPolicy(**kwargs)


GiB = 2.0**30
POLICY = ScalingPolicy(minimum=1, maximum=4)  # the guide's 70% CPU, 80% memory, 500 ms


def _loads(*figures: tuple[float, float]) -> list[WorkerLoad]:
    """Workers of (CPU percent, memory fraction of a 1 GiB limit)."""
    return [WorkerLoad(cpu, memory * GiB, GiB) for cpu, memory in figures]


@pytest.mark.parametrize(
    ("loads", "response_workers", "expected"),
    [
        (_loads((75, 0.1), (75, 0.1)), 1, 3),  # mean CPU above 70%: one more
        (_loads((100, 0.1), (30, 0.1)), 1, 1),  # one busy worker: the mean (65%) decides
        (_loads((70, 0.1), (70, 0.1)), 1, 1),  # at the threshold, not above: dask's estimate
        (_loads((10, 0.81), (10, 0.1)), 1, 3),  # one worker above 80% memory
        (_loads((10, 0.80), (10, 0.1)), 1, 1),
        ([WorkerLoad(10, 10 * GiB, 0)], 1, 1),  # no memory limit: memory never hot
        (_loads((10, 0.1), (10, 0.1)), 4, 4),  # queued work past 500 ms: dask's estimate
        (_loads((90, 0.9), (90, 0.9), (90, 0.9), (90, 0.9)), 1, 4),  # capped at the maximum
        (_loads((5, 0.1), (5, 0.1)), 0, 1),  # idle: down to the minimum, not below
        ([], 2, 2),  # no workers yet: the queued work decides
    ],
)
def test_scale_target_follows_the_thresholds(
    loads: list[WorkerLoad], response_workers: int, expected: int
) -> None:
    assert scale_target(POLICY, loads, response_workers) == expected


def test_the_thresholds_come_from_the_policy() -> None:
    loads = _loads((60, 0.5), (60, 0.5))
    assert scale_target(POLICY, loads, 1) == 1
    assert scale_target(ScalingPolicy(maximum=4, cpu_fraction=0.5), loads, 1) == 3
    assert scale_target(ScalingPolicy(maximum=4, memory_fraction=0.4), loads, 1) == 3


def test_the_decision_reads_the_schedulers_figures() -> None:
    """A real idle worker (its memory limit the machine's memory): under the guide's 80% it
    stays alone; with a memory threshold of 0 its resident memory is above it and one more
    worker is wanted. CPU is left out (a threshold no figure reaches): a thread worker's
    CPU figure is this whole process's, busy or not with the test itself."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        for memory, expected in [(0.8, 1), (0.0, 2)]:
            adaptive = adapt(
                cluster,
                ScalingPolicy(maximum=2, cpu_fraction=1e9, memory_fraction=memory, interval_s=3600),
            )
            assert cluster.sync(adaptive.target) == expected
