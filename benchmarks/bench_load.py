"""Load test of the basic workflow at `seed` size: 50 concurrent users (threads) for
5 seconds after a 1-second ramp-up, the guide's "> 1000 requests/second sustained"
objective. One run per commit (setup_cache), three figures from it.

Throughput under concurrency depends on what else the machine is doing; asv.conf.json
keeps these out of step detection and perf-budgets.toml judges them instead.
"""

from __future__ import annotations

from . import compat

USERS = 50
DURATION_S = 5.0
RAMP_UP_S = 1.0


class BasicWorkflowLoad:
    timeout = 120

    def setup_cache(self) -> dict[str, float]:
        run_load = compat.import_first(
            "geoinfer_workflows.harness", "geoinfer_workflows.perf"
        ).run_load
        from geoinfer_workflows.workflows import WORKFLOWS

        pipeline = WORKFLOWS["basic"].pipeline
        inputs = WORKFLOWS["basic"].make_inputs("seed", 0)
        pipeline.run(inputs)  # warm caches and lazy imports outside the measurement
        result = run_load(
            lambda: pipeline.run(inputs),
            users=USERS,
            duration_s=DURATION_S,
            ramp_up_s=RAMP_UP_S,
        )
        return {
            "ops_per_s": result.ops_per_s,
            "p95_ms": (result.p95_s or float("nan")) * 1e3,
            "success_pct": (result.success_rate or 0.0) * 100,
        }

    setup_cache.timeout = 60

    def track_ops_per_second(self, figures: dict[str, float]) -> float:
        return figures["ops_per_s"]

    track_ops_per_second.version = (
        "97e32b6d1821182240b68b87b3d0291a3c232d18cdcbcf65b84016b100ca9be9"
    )

    track_ops_per_second.unit = "ops/s"

    def track_p95_latency_ms(self, figures: dict[str, float]) -> float:
        return figures["p95_ms"]

    track_p95_latency_ms.version = (
        "1242f550f76fed5158990ca49e4b249d60f725631d42ac44b475fa02139c77fa"
    )

    track_p95_latency_ms.unit = "ms"

    def track_success_percent(self, figures: dict[str, float]) -> float:
        return figures["success_pct"]

    track_success_percent.version = (
        "b6750485ded1f4b657294166151c0a7faa8eeba47dcdcd2633c7295f0ad3675e"
    )

    track_success_percent.unit = "%"
