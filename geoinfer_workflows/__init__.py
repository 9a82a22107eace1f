"""GEO-INFER integration workflows: real, vectorised geospatial modules under benchmark.

Public API: run a workflow by name (`run_workflow`, `WORKFLOWS`), build its seeded data
(`generate_*`), ingest observations (`ingest`, `IngestResult`), compose stages (`Pipeline`).

The names are imported on first use (PEP 562 ``__getattr__``), not with the package: the
command line imports ``geoinfer_workflows.errors`` to print its --help and its workflow
list, and must not pay ~1 s of numpy, scipy and h3 imports for that.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "GeoInferError": "geoinfer_workflows.errors",
    "IngestError": "geoinfer_workflows.errors",
    "ParameterError": "geoinfer_workflows.errors",
    "UnknownWorkflowError": "geoinfer_workflows.errors",
    "IngestResult": "geoinfer_workflows.modules.ingest",
    "Rejection": "geoinfer_workflows.modules.ingest",
    "ingest": "geoinfer_workflows.modules.ingest",
    "Pipeline": "geoinfer_workflows.orchestration.pipeline",
    "Stage": "geoinfer_workflows.orchestration.pipeline",
    "StageTiming": "geoinfer_workflows.orchestration.pipeline",
    "WorkflowResult": "geoinfer_workflows.orchestration.pipeline",
    "SIZES": "geoinfer_workflows.synthetic",
    "generate_climate": "geoinfer_workflows.synthetic",
    "generate_disease_cases": "geoinfer_workflows.synthetic",
    "generate_farm": "geoinfer_workflows.synthetic",
    "generate_observations": "geoinfer_workflows.synthetic",
    "PointTable": "geoinfer_workflows.table",
    "WORKFLOWS": "geoinfer_workflows.workflows",
    "Workflow": "geoinfer_workflows.workflows",
    "get_workflow": "geoinfer_workflows.workflows",
    "run_workflow": "geoinfer_workflows.workflows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geoinfer_workflows' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
