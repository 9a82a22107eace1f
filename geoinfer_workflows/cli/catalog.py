"""What the command line must know before it imports any workflow: names, modules, sizes,
stress scenarios.

`list`, `--help` and the argument checks of `run` need the four workflows' names and
GEO-INFER modules and the data size names, nothing else. The registry itself
(`geoinfer_workflows.workflows.WORKFLOWS`) builds the pipelines, which imports numpy, scipy
and h3 (~1 s); this table answers in microseconds. `tests/test_cli.py` checks that it
equals the registry, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CATALOG", "RUN_SIZE_NAMES", "SIZE_NAMES", "STRESS_SCENARIOS", "WorkflowEntry"]


class WorkflowEntry(NamedTuple):
    """One workflow as `list` prints it: its title and modules in first-use order."""

    title: str
    modules: tuple[str, ...]


CATALOG: dict[str, WorkflowEntry] = {
    "basic": WorkflowEntry("Basic integration demo", ("DATA", "SPACE", "TIME", "API")),
    "disease_surveillance": WorkflowEntry(
        "Disease surveillance",
        ("DATA", "SPACE", "TIME", "HEALTH", "BAYES", "RISK", "AI", "API"),
    ),
    "precision_farming": WorkflowEntry(
        "Precision farming", ("DATA", "IOT", "TIME", "SPACE", "AG", "AI", "API")
    ),
    "climate_analysis": WorkflowEntry(
        "Climate analysis", ("DATA", "CLIMATE", "TIME", "AI", "SPACE", "RISK", "API")
    ),
}

# geoinfer_workflows.synthetic.SIZES, without importing the generators (scipy).
SIZE_NAMES: tuple[str, ...] = ("seed", "standard", "large")
# geoinfer_workflows.distributed.DASK_SIZES, what `run` takes: `huge` is drawn per partition
# on the dask engine only (the serial engine refuses it with the reason).
RUN_SIZE_NAMES: tuple[str, ...] = (*SIZE_NAMES, "huge")

# geoinfer_workflows.harness.stress.SCENARIOS, without importing the harness (numpy).
STRESS_SCENARIOS: tuple[str, ...] = (
    "high_concurrency",
    "large_datasets",
    "memory_pressure",
    "ci_stability",
)
