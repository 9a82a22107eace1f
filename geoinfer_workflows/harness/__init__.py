"""The performance toolkit: process monitor, alerts, load tester,
stress tests (admission control, timeline, live view), budgets.

Each module is importable on its own (`geoinfer_workflows.harness.monitor`, ...); this package
re-exports the entry points. Nothing here imports the workflows, so the workflows can use
the toolkit without an import cycle.
"""

from geoinfer_workflows.harness.admission import AdmissionGate, Overloaded
from geoinfer_workflows.harness.alerts import (
    GUIDE_RULES,
    AlertEngine,
    AlertEvent,
    AlertRule,
    JsonLinesSink,
    ResourceSampler,
)
from geoinfer_workflows.harness.budgets import BudgetError, BudgetVerdict, check_budgets
from geoinfer_workflows.harness.live import LiveView
from geoinfer_workflows.harness.load import LoadProgress, LoadResult, run_load
from geoinfer_workflows.harness.monitor import Monitor, OperationRecord, OperationSummary
from geoinfer_workflows.harness.stress import SCENARIOS, StressScenario, run_stress
from geoinfer_workflows.harness.timeline import Timeline

__all__ = [
    "GUIDE_RULES",
    "SCENARIOS",
    "AdmissionGate",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "BudgetError",
    "BudgetVerdict",
    "JsonLinesSink",
    "LiveView",
    "LoadProgress",
    "LoadResult",
    "Monitor",
    "OperationRecord",
    "OperationSummary",
    "Overloaded",
    "ResourceSampler",
    "StressScenario",
    "Timeline",
    "check_budgets",
    "run_load",
    "run_stress",
]
