"""How modules become a workflow run: stages composed into a pipeline (`pipeline`), and
the engines that run a stage's row blocks serially or in a pool (`engines`).

The workflows import this layer; it imports only the base modules (errors), never the
workflows or the harness above it.
"""

from geoinfer_workflows.orchestration.engines import (
    Executor,
    ExecutorKind,
    make_executor,
    map_row_blocks,
)
from geoinfer_workflows.orchestration.pipeline import (
    Context,
    Pipeline,
    Stage,
    StageTiming,
    WorkflowResult,
)

__all__ = [
    "Context",
    "Executor",
    "ExecutorKind",
    "Pipeline",
    "Stage",
    "StageTiming",
    "WorkflowResult",
    "make_executor",
    "map_row_blocks",
]
