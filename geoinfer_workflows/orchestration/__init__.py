"""How modules become a workflow run: stages composed into a pipeline (`pipeline`), the
engines that run a stage's row blocks serially or in a pool (`engines`), and the opt-in
cache that reuses stage computations across runs (`cache`).

The workflows import this layer; it imports only the base modules (errors), never the
workflows or the harness above it.
"""

from geoinfer_workflows.orchestration.cache import LRUCache, TwoLevelCache, memoize
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
    "LRUCache",
    "Pipeline",
    "Stage",
    "StageTiming",
    "TwoLevelCache",
    "WorkflowResult",
    "make_executor",
    "map_row_blocks",
    "memoize",
]
