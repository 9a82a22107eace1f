"""Numpy arrays in pyarrow's memory pool: the large arrays CSV ingestion makes per call.

WHY: ingesting a file makes the same large arrays call after call (each block's fields,
then the table's four columns, 32 MB at 1e6 rows). From numpy's allocator (glibc malloc)
their pages go back to the OS when they are freed and are faulted in afresh by the next
call, one fault per 4 KiB at ~2-4 us each on this VM: at 1e6 CSV rows ~5,400 faults a
call, a tenth of its time, where pyarrow.csv, whose arrays come from its pool (mimalloc or
jemalloc), has a few hundred. These arrays come from that pool too and stay mapped.

They are ordinary writable numpy arrays whose base is a pyarrow Buffer. tracemalloc does
not see the pool: `benchmarks.common.traced_and_arrow_peak_mib` counts both.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pooled_empty(n: int, dtype: Any) -> np.ndarray:
    """An uninitialised 1-D array of `n` items of `dtype` in pyarrow's default pool."""
    import pyarrow as pa  # lazily: the CLI's start-up does not need it

    dtype = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(n * dtype.itemsize), dtype=dtype)
