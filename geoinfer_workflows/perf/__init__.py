"""The performance toolkit: executors, process monitor, cache, load tester, budgets.

Each module is importable on its own (`geoinfer_workflows.perf.cache`, ...); this package
re-exports the entry points. Nothing here imports the workflows, so the workflows can use
the toolkit without an import cycle.
"""

from geoinfer_workflows.perf.budgets import BudgetError, BudgetVerdict, check_budgets
from geoinfer_workflows.perf.cache import (
    CacheError,
    LRUCache,
    SQLiteCache,
    TwoLevelCache,
    cached_stage,
)
from geoinfer_workflows.perf.load import LoadProgress, LoadResult, run_load
from geoinfer_workflows.perf.monitor import Monitor, OperationRecord, OperationSummary
from geoinfer_workflows.perf.parallel import Executor, choose_chunk_size, make_executor

__all__ = [
    "BudgetError",
    "BudgetVerdict",
    "CacheError",
    "Executor",
    "LRUCache",
    "LoadProgress",
    "LoadResult",
    "Monitor",
    "OperationRecord",
    "OperationSummary",
    "SQLiteCache",
    "TwoLevelCache",
    "cached_stage",
    "check_budgets",
    "choose_chunk_size",
    "make_executor",
    "run_load",
]
