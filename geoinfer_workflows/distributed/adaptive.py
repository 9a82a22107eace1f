"""Adaptive scaling as the GEO-INFER benchmarking guide sketches it: add a worker when the
workers run above 70% CPU or 80% of their memory limit, or when queued work would take
longer than the 500 ms response target; let idle workers go.

Built on dask's `Adaptive` (its scheduler already estimates how long the queued work
takes, which is the response-time rule with ``target_duration``); the CPU and memory
thresholds are added on top, from the workers' own metrics as the scheduler reports
them. Scaling down stays dask's: a worker is retired after `wait_count` consecutive
checks found it surplus, moving its data first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distributed.deploy.adaptive import Adaptive

from geoinfer_workflows.validation import check_int


@dataclass(frozen=True)
class ScalingPolicy:
    """Bounds and thresholds of adaptive scaling (the guide's values by default).

    Examples
    --------
    >>> from geoinfer_workflows.distributed.adaptive import ScalingPolicy
    >>> ScalingPolicy(minimum=1, maximum=4).cpu_fraction
    0.7
    """

    minimum: int = 1
    maximum: int = 2
    cpu_fraction: float = 0.70  # mean worker CPU above which a worker is added
    memory_fraction: float = 0.80  # worker memory / limit above which a worker is added
    response_s: float = 0.5  # queued work should finish within this: dask's target_duration
    interval_s: float = 0.5  # how often the policy is evaluated
    wait_count: int = 3  # consecutive surplus checks before a worker is retired

    def __post_init__(self) -> None:
        check_int(self.minimum, "minimum", 0)
        check_int(self.maximum, "maximum", max(1, self.minimum))
        check_int(self.wait_count, "wait_count", 1)


@dataclass(frozen=True)
class WorkerLoad:
    """One worker's figures as the scheduler reports them: CPU percent (100 = one core
    busy), resident memory and its memory limit in bytes (0: no limit)."""

    cpu_percent: float
    memory_bytes: float
    memory_limit: float


def scale_target(policy: ScalingPolicy, loads: Sequence[WorkerLoad], response_workers: int) -> int:
    """How many workers the cluster should have: one more than now when the mean CPU is
    above ``policy.cpu_fraction`` or any worker's memory above ``policy.memory_fraction``
    of its limit, else `response_workers` (what the queued work needs to finish within
    ``policy.response_s``: dask's estimate); clamped to the policy's bounds.

    Why the mean CPU but the maximum memory: CPU is a shared budget that new tasks can
    spread over a new worker, while one worker at its memory limit spills, pauses or is
    killed whatever the others hold.

    Examples
    --------
    >>> from geoinfer_workflows.distributed.adaptive import ScalingPolicy, WorkerLoad, scale_target
    >>> policy = ScalingPolicy(minimum=1, maximum=4)
    >>> busy = [WorkerLoad(90.0, 1e8, 1e9), WorkerLoad(60.0, 1e8, 1e9)]  # mean CPU 75%
    >>> scale_target(policy, busy, response_workers=1)
    3
    >>> scale_target(policy, [WorkerLoad(10.0, 1e8, 1e9)] * 2, response_workers=1)
    1
    """
    hot = False
    if loads:
        cpu = sum(w.cpu_percent for w in loads) / len(loads) / 100.0
        memory = max((w.memory_bytes / w.memory_limit for w in loads if w.memory_limit), default=0)
        hot = cpu > policy.cpu_fraction or memory > policy.memory_fraction
    wanted = max(response_workers, len(loads) + 1 if hot else 0)
    return min(policy.maximum, max(policy.minimum, wanted))


class ThresholdAdaptive(Adaptive):  # type: ignore[misc]
    """dask's Adaptive whose target also honours the policy's CPU and memory thresholds."""

    def __init__(self, cluster: Any, policy: ScalingPolicy, **kwargs: Any) -> None:
        # Cluster.adapt passes its own minimum/maximum defaults: the policy's replace them.
        kwargs |= {
            "interval": policy.interval_s,
            "minimum": policy.minimum,
            "maximum": policy.maximum,
            "wait_count": policy.wait_count,
            "target_duration": policy.response_s,
        }
        super().__init__(cluster, **kwargs)
        self.policy = policy

    async def target(self) -> int:
        workers = (await self.scheduler.identity())["workers"].values()
        loads = [
            WorkerLoad(w["metrics"]["cpu"], w["metrics"]["memory"], w["memory_limit"] or 0)
            for w in workers
        ]
        return scale_target(self.policy, loads, int(await super().target()))


def adapt(cluster: Any, policy: ScalingPolicy) -> Any:
    """Make `cluster` (a LocalCluster or any deploy Cluster) scale itself by `policy`."""
    return cluster.adapt(Adaptive=ThresholdAdaptive, policy=policy)
