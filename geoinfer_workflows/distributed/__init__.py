"""The workflows past one machine: partitioned algorithms on Dask distributed.

`run_workflow(name, size, seed, engine=..., scheduler=...)` is the one entry point: the
``serial`` engine is the in-process pipeline (`workflows.run_workflow`); ``dask`` runs the
workflow's partitioned pipeline on a cluster (a LocalCluster, or the one at `scheduler`).
Engine and address come from the arguments, else GEOINFER_ENGINE / GEOINFER_SCHEDULER.

Every workflow is partitioned: ``basic`` (ingest, H3 binning and cell-day aggregates
per row partition, exact merges), ``climate_analysis`` (QC, daily means and trends per
station partition), ``precision_farming`` (ingest, IoT aggregation and the drying
readings per stream partition) and ``disease_surveillance`` (ingest, binning and counts
per case partition, Gi* with a halo exchange; DBSCAN serial, see `disease`). ``huge``
(>= 1e7 records, drawn per partition on the workers) exists for ``basic`` and
``climate_analysis``; `NOT_HUGE` says why not for the other two. Also
`kmeans.lloyd_partitioned` (distributed assignment, reduced update) and
`streams.aggregate_partitioned`, each equal to its serial function.
"""

from __future__ import annotations

from geoinfer_workflows.distributed import basic, climate, disease, farming
from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.orchestration.engines import dask_client, resolve_engine
from geoinfer_workflows.orchestration.pipeline import Pipeline, WorkflowResult
from geoinfer_workflows.validation import check_int
from geoinfer_workflows.workflows import get_workflow
from geoinfer_workflows.workflows import run_workflow as run_serial

PARTITIONED: dict[str, Pipeline] = {
    "basic": basic.PIPELINE,
    "climate_analysis": climate.PIPELINE,
    "precision_farming": farming.PIPELINE,
    "disease_surveillance": disease.PIPELINE,
}
DASK_SIZES = ("seed", "standard", "large", "huge")
# Why `huge` is not offered where it is not: the part that would not stay partitioned.
NOT_HUGE: dict[str, str] = {
    "precision_farming": "its sensors fill a field, so the raster stages (IDW, NDVI, k-means "
    "zones) and the per-sensor drying partials grow with the stream and run whole",
    "disease_surveillance": "DBSCAN of the recent cases (half the stream) runs in one process "
    "until a partitioned DBSCAN (eps halo + union-find merge) exists",
}


def run_workflow(
    name: str,
    size: str = "standard",
    seed: int = 0,
    *,
    engine: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    partition_rows: int | None = None,
    huge_rows: int | None = None,
) -> WorkflowResult:
    """Run workflow `name` at `size` on the chosen engine; the result has the serial shape.

    `workers` and `processes` shape the LocalCluster started when no scheduler is given;
    `partition_rows` is the rows per partition (one task each; None: the workflow's own).
    ``huge`` (`huge_rows` records, default 1e7, drawn partition by partition on the
    workers; 1e8 wants a cluster, see the README) exists only on ``dask``, for ``basic``
    and ``climate_analysis`` (`NOT_HUGE` says why not the others).

    Examples
    --------
    >>> from geoinfer_workflows.distributed import run_workflow
    >>> run_workflow("basic", "seed", engine="serial").output["metadata"]["accepted"]
    50
    """
    chosen, address = resolve_engine(engine, scheduler)
    get_workflow(name)  # an unknown name fails before a cluster starts
    if size not in DASK_SIZES:
        raise ParameterError(f"unknown size {size!r}; expected one of {', '.join(DASK_SIZES)}")
    if size == "huge" and name in NOT_HUGE:
        raise ParameterError(f"size 'huge' is not partitioned for {name}: {NOT_HUGE[name]}")
    if chosen == "serial":
        if size == "huge":
            raise ParameterError("size 'huge' is generated per partition: use engine 'dask'")
        return run_serial(name, size, seed)  # type: ignore[arg-type]
    if partition_rows is not None:
        check_int(partition_rows, "partition_rows", 1, note="or None: the workflow's default")
    if huge_rows is not None:
        check_int(huge_rows, "huge_rows", 1, note="or None: 1e7")
    with dask_client(address, workers=workers, processes=processes) as client:
        return PARTITIONED[name].run(
            {
                "client": client,
                "size": size,
                "seed": seed,
                "partition_rows": partition_rows,
                "huge_rows": huge_rows,
            }
        )


__all__ = ["DASK_SIZES", "NOT_HUGE", "PARTITIONED", "run_workflow"]
