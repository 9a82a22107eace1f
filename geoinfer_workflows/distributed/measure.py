"""What a run costs on the workers, measured in the workers themselves.

The client's own clocks see none of the cluster's work, so CPU and peak memory are read
in each worker process: CPU from `time.process_time`, peak memory from the kernel's
high-water mark of the process (`ru_maxrss`), which is what bounds a worker, not what
Python happens to hold when asked.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

# ru_maxrss is KiB on Linux, bytes on macOS.
_MAXRSS_TO_MIB = 1.0 / (1024 * 1024) if sys.platform == "darwin" else 1.0 / 1024


def _cpu_seconds() -> float:
    return time.process_time()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_TO_MIB


def worker_cpu_seconds(client: Any) -> dict[str, float]:
    """CPU seconds each worker process has used so far, by worker address.

    Examples
    --------
    >>> from geoinfer_workflows.distributed.measure import worker_cpu_seconds
    >>> from geoinfer_workflows.orchestration.engines import dask_client
    >>> with dask_client(workers=1, processes=False) as client:
    ...     [type(s) for s in worker_cpu_seconds(client).values()]
    [<class 'float'>]
    """
    return dict(client.run(_cpu_seconds))


def worker_peak_rss_mib(client: Any) -> dict[str, float]:
    """Peak resident memory (MiB) of each worker process since it started, by address.

    Meaningful with process workers (a LocalCluster with ``processes=True`` or `dask
    worker`); threads share the client's process and its high-water mark.
    """
    return dict(client.run(_peak_rss_mib))
