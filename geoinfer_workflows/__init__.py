"""GEO-INFER integration workflows: real, vectorised geospatial modules under benchmark.

Public API: run a workflow by name (`run_workflow`, `WORKFLOWS`), build its seeded data
(`generate_*`), ingest observations (`ingest`, `IngestResult`), compose stages (`Pipeline`).
"""

from geoinfer_workflows.errors import (
    GeoInferError,
    IngestError,
    ParameterError,
    UnknownWorkflowError,
)
from geoinfer_workflows.modules.ingest import IngestResult, Rejection, ingest
from geoinfer_workflows.orchestration.pipeline import Pipeline, Stage, StageTiming, WorkflowResult
from geoinfer_workflows.synthetic import (
    SIZES,
    generate_climate,
    generate_disease_cases,
    generate_farm,
    generate_observations,
)
from geoinfer_workflows.table import PointTable
from geoinfer_workflows.workflows import WORKFLOWS, Workflow, get_workflow, run_workflow

__version__ = "0.1.0"

__all__ = [
    "SIZES",
    "WORKFLOWS",
    "GeoInferError",
    "IngestError",
    "IngestResult",
    "ParameterError",
    "Pipeline",
    "PointTable",
    "Rejection",
    "Stage",
    "StageTiming",
    "UnknownWorkflowError",
    "Workflow",
    "WorkflowResult",
    "generate_climate",
    "generate_disease_cases",
    "generate_farm",
    "generate_observations",
    "get_workflow",
    "ingest",
    "run_workflow",
]
