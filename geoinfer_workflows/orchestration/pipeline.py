"""Stages and pipelines: how GEO-INFER modules are composed into a workflow.

A stage is a named function of the shared context (a dict of everything earlier stages
produced) that returns the new entries it adds. Each stage is timed in wall and process
CPU seconds, so a regression in a workflow points at the module that caused it.

A run may be given a cache (`orchestration.cache`): the computations its stages wrap in
`cache.memoize` are then reused across runs; without one, every stage computes as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from geoinfer_workflows.orchestration.cache import CacheLike, using_cache

Context = dict[str, Any]
StageFn = Callable[[Context], Mapping[str, Any]]


@dataclass(frozen=True)
class Stage:
    name: str
    module: str  # the GEO-INFER module it belongs to: DATA, SPACE, TIME, ...
    fn: StageFn


@dataclass(frozen=True)
class StageTiming:
    name: str
    module: str
    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class WorkflowResult:
    workflow: str
    output: Any  # what the last stage returned as "report": JSON-serialisable
    context: Context  # every intermediate product, for tests and inspection
    timings: tuple[StageTiming, ...]

    @property
    def wall_s(self) -> float:
        return sum(s.wall_s for s in self.timings)

    @property
    def cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.timings)

    def stage(self, name: str) -> StageTiming:
        for timing in self.timings:
            if timing.name == name:
                return timing
        raise KeyError(f"no stage {name!r} in workflow {self.workflow!r}")


@dataclass(frozen=True)
class Pipeline:
    name: str
    stages: tuple[Stage, ...]

    @property
    def modules(self) -> tuple[str, ...]:
        """Distinct GEO-INFER modules in first-use order (the guide's 'modules' count)."""
        return tuple(dict.fromkeys(stage.module for stage in self.stages))

    def run(self, inputs: Mapping[str, Any], *, cache: CacheLike | None = None) -> WorkflowResult:
        """Run the stages in order over a context that starts as `inputs`.

        `cache` (optional, e.g. an `LRUCache` a service keeps between requests) is where
        the stages' memoised computations are looked up and stored during this run; the
        results are the same with or without it.
        """
        with using_cache(cache):
            return self._run(inputs)

    def _run(self, inputs: Mapping[str, Any]) -> WorkflowResult:
        context: Context = dict(inputs)
        timings = []
        for stage in self.stages:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            produced = stage.fn(context)
            timings.append(
                StageTiming(
                    stage.name,
                    stage.module,
                    time.perf_counter() - wall0,
                    time.process_time() - cpu0,
                )
            )
            context.update(produced)
        return WorkflowResult(
            workflow=self.name,
            output=context.get("report"),
            context=context,
            timings=tuple(timings),
        )
