"""The four GEO-INFER integration workflows and the registry that names them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geoinfer_workflows.errors import UnknownWorkflowError
from geoinfer_workflows.orchestration.cache import CacheLike
from geoinfer_workflows.orchestration.pipeline import Context, Pipeline, WorkflowResult
from geoinfer_workflows.synthetic import Size, check_size
from geoinfer_workflows.workflows import (
    basic,
    climate_analysis,
    disease_surveillance,
    precision_farming,
)


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    pipeline: Pipeline
    make_inputs: Callable[[Size, int], Context]
    reference_s: float  # the guide's timing of the reference example at `seed` size

    def run(
        self, size: Size = "standard", seed: int = 0, *, cache: CacheLike | None = None
    ) -> WorkflowResult:
        return self.pipeline.run(self.make_inputs(check_size(size), seed), cache=cache)


WORKFLOWS: dict[str, Workflow] = {
    w.name: w
    for w in (
        Workflow("basic", "Basic integration demo", basic.PIPELINE, basic.make_inputs, 0.09),
        Workflow(
            "disease_surveillance",
            "Disease surveillance",
            disease_surveillance.PIPELINE,
            disease_surveillance.make_inputs,
            0.07,
        ),
        Workflow(
            "precision_farming",
            "Precision farming",
            precision_farming.PIPELINE,
            precision_farming.make_inputs,
            0.33,
        ),
        Workflow(
            "climate_analysis",
            "Climate analysis",
            climate_analysis.PIPELINE,
            climate_analysis.make_inputs,
            0.44,
        ),
    )
}


def get_workflow(name: str) -> Workflow:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise UnknownWorkflowError(
            f"unknown workflow {name!r}; expected one of {', '.join(WORKFLOWS)}"
        ) from None


def run_workflow(
    name: str, size: Size = "standard", seed: int = 0, *, cache: CacheLike | None = None
) -> WorkflowResult:
    """Build the workflow's seeded input at `size` and run it; the result carries timings.
    `cache` (optional) reuses the stages' memoised computations across runs."""
    return get_workflow(name).run(size, seed, cache=cache)


__all__ = ["WORKFLOWS", "Workflow", "get_workflow", "run_workflow"]
