"""Adaptive scaling: a cluster with no workers grows under a real load (H3 binning of
seeded observations, queued past the 500 ms response target) and shrinks back after."""

from __future__ import annotations

import time

import distributed
import pytest

from geoinfer_workflows.distributed.adaptive import ScalingPolicy, adapt
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
