"""The performance toolkit: process monitor, load tester, budgets.

Each module is importable on its own (`geoinfer_workflows.harness.monitor`, ...); this package
re-exports the entry points. Nothing here imports the workflows, so the workflows can use
the toolkit without an import cycle.
"""

from geoinfer_workflows.harness.budgets import BudgetError, BudgetVerdict, check_budgets
from geoinfer_workflows.harness.load import LoadProgress, LoadResult, run_load
from geoinfer_workflows.harness.monitor import Monitor, OperationRecord, OperationSummary

__all__ = [
    "BudgetError",
    "BudgetVerdict",
    "LoadProgress",
    "LoadResult",
    "Monitor",
    "OperationRecord",
    "OperationSummary",
    "check_budgets",
    "run_load",
]
