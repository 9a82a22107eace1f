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
        base = await super().target()
        workers = (await self.scheduler.identity())["workers"].values()
        if not workers:
            return int(base)
        cpu = sum(w["metrics"]["cpu"] for w in workers) / len(workers) / 100.0
        memory = (
            max(w["metrics"]["memory"] / w["memory_limit"] for w in workers if w["memory_limit"])
            if any(w["memory_limit"] for w in workers)
            else 0.0
        )
        hot = cpu > self.policy.cpu_fraction or memory > self.policy.memory_fraction
        return int(max(base, len(workers) + 1 if hot else 0))


def adapt(cluster: Any, policy: ScalingPolicy) -> Any:
    """Make `cluster` (a LocalCluster or any deploy Cluster) scale itself by `policy`."""
    return cluster.adapt(Adaptive=ThresholdAdaptive, policy=policy)
