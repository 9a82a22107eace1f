"""Memory-bounded streaming over point CSV files larger than the memory budget.

What the GEO-INFER benchmarking guide's `MemoryOptimizer` (the guide is the project's
brief, kept outside this repository) got wrong, and what this does instead: it
built chunks as Python lists of rows and decided chunk sizes from *system-wide* memory
percentages (other processes' memory changed our behaviour). Here a chunk is a fixed
number of records parsed straight into numpy columns, so peak memory is set by
`chunk_rows` (plus, for `aggregate_csv`, the number of distinct grid cells), never by
the file size.

Parsing and validation are not done here: a chunk is one batch of
`geoinfer_workflows.modules.ingest.iter_csv_batches`, the parser `ingest()` uses. So the
header aliases, the CSV records (a quoted field may hold commas and newlines), the number
and timestamp rules (ISO 8601 or epoch seconds, fractions floored), the rejection kinds
(`REJECTION_KINDS`) and the row numbers are those of `ingest()`, and no verdict depends on
the chunk size. Every data row is accounted for: ``rows_in == accepted + rejected``, per
chunk and per file. Extra columns are read but not kept.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.ingest.csv import iter_csv_batches
from geoinfer_workflows.modules.ingest.result import Rejection
from geoinfer_workflows.validation import check_int

__all__ = [
    "COLUMNS",
    "ChunkedAggregate",
    "CsvChunk",
    "aggregate_csv",
    "cell_index",
    "iter_csv_chunks",
]

COLUMNS = ("lat", "lon", "t", "value")
_MAX_EXAMPLES = 100


@dataclass(frozen=True, eq=False)
class CsvChunk(Mapping[str, np.ndarray]):
    """One chunk: the accepted rows as columns (``chunk["lat"]`` ...), and what was rejected.

    A Mapping over the accepted columns ``lat, lon, t`` (int64 epoch seconds) and
    ``value``. Rows are numbered as `ingest()` numbers them (1-based data records, blank
    lines not counted); `rejections` carries each rejected row's number and reason.
    """

    columns: dict[str, np.ndarray]
    first_row: int
    rows_in: int
    rejections: tuple[Rejection, ...]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.columns[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def accepted(self) -> int:
        return int(self.columns["lat"].size)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def rejected_rows(self) -> np.ndarray:
        """File row number of each rejected row (int64)."""
        return np.array([r.row for r in self.rejections], dtype=np.int64)

    @property
    def rejected_reasons(self) -> np.ndarray:
        """The kind (from `REJECTION_KINDS`) of each rejected row."""
        return np.array([r.kind for r in self.rejections], dtype=str)


def _check_chunk_rows(chunk_rows: int) -> None:
    check_int(chunk_rows, "chunk_rows", 1)


def iter_csv_chunks(path: str | os.PathLike[str], *, chunk_rows: int) -> Iterator[CsvChunk]:
    """Yield the file's data rows `chunk_rows` at a time as validated numpy columns.

    Memory is O(chunk_rows) whatever the file size. Raises IngestError for what
    `ingest()` refuses as a whole (empty file, a required column missing, not UTF-8, not
    a regular file); bad *rows* never raise.
    """
    _check_chunk_rows(chunk_rows)
    for first_row, result in iter_csv_batches(path, batch_rows=chunk_rows):
        table = result.table
        yield CsvChunk(
            columns={"lat": table.lat, "lon": table.lon, "t": table.t, "value": table.value},
            first_row=first_row,
            rows_in=result.rows_read,
            rejections=tuple(
                Rejection(first_row + r.row - 1, r.reason, r.kind) for r in result.rejected
            ),
        )


def cell_index(lat: np.ndarray, lon: np.ndarray, cell_deg: float) -> np.ndarray:
    """Stable integer id of the regular lat/lon grid cell holding each point.

    Rows count from the south pole, columns from the antimeridian; the poles and +180°
    fall in the last row/column rather than off the grid.
    """
    _check_cell_deg(cell_deg)
    n_rows, n_cols = math.ceil(180.0 / cell_deg), math.ceil(360.0 / cell_deg)
    row = np.clip(np.floor((np.asarray(lat) + 90.0) / cell_deg), 0, n_rows - 1).astype(np.int64)
    col = np.clip(np.floor((np.asarray(lon) + 180.0) / cell_deg), 0, n_cols - 1).astype(np.int64)
    return row * n_cols + col


def _check_cell_deg(cell_deg: float) -> None:
    if not (isinstance(cell_deg, int | float) and math.isfinite(cell_deg) and 0 < cell_deg <= 180):
        raise ParameterError(f"cell_deg must be in (0, 180] degrees, got {cell_deg!r}")


@dataclass(frozen=True)
class ChunkedAggregate:
    """Per-cell count, sum, min and max of `value` over a whole file, plus row accounting.

    Arrays are aligned and sorted by cell id (see `cell_index`); only occupied cells
    appear. `rejected_by_reason` counts rejections by kind; `rejected_examples` holds the
    first 100 rejected rows (number and reason, as `ingest()` words them).
    """

    cell_deg: float
    cells: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    rows_in: int
    rows_accepted: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    rejected_examples: tuple[Rejection, ...] = field(repr=False)
    chunks: int

    @property
    def means(self) -> np.ndarray:
        return self.sums / self.counts

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of the centre of each cell in `cells`."""
        n_cols = math.ceil(360.0 / self.cell_deg)
        row, col = np.divmod(self.cells, n_cols)
        return (row + 0.5) * self.cell_deg - 90.0, (col + 0.5) * self.cell_deg - 180.0


def _reduce_by_cell(
    cells: np.ndarray, counts: np.ndarray, sums: np.ndarray, mins: np.ndarray, maxs: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Combine partial aggregates sharing a cell id (input order irrelevant)."""
    if cells.size == 0:
        return cells, counts, sums, mins, maxs
    # Stable sort is timsort for int64: merging two already-sorted runs is linear.
    order = np.argsort(cells, kind="stable")
    cells = cells[order]
    starts = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1])))
    return (
        cells[starts],
        np.add.reduceat(counts[order], starts),
        np.add.reduceat(sums[order], starts),
        np.minimum.reduceat(mins[order], starts),
        np.maximum.reduceat(maxs[order], starts),
    )


def aggregate_csv(
    path: str | os.PathLike[str], *, chunk_rows: int, cell_deg: float = 0.1
) -> ChunkedAggregate:
    """Count, sum, min and max of `value` per grid cell, streaming the file chunk by chunk.

    Memory is O(chunk_rows + occupied cells): each chunk is reduced to per-cell partials
    and merged into the running totals, then dropped.
    """
    _check_chunk_rows(chunk_rows)
    _check_cell_deg(cell_deg)
    empty_f = np.empty(0, dtype=np.float64)
    state = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), empty_f, empty_f, empty_f)
    rows_in = accepted = n_chunks = 0
    by_reason: dict[str, int] = {}
    examples: list[Rejection] = []
    for chunk in iter_csv_chunks(path, chunk_rows=chunk_rows):
        n_chunks += 1
        rows_in += chunk.rows_in
        accepted += chunk.accepted
        for rejection in chunk.rejections:
            by_reason[rejection.kind] = by_reason.get(rejection.kind, 0) + 1
        examples.extend(chunk.rejections[: _MAX_EXAMPLES - len(examples)])
        value = chunk["value"]
        cells = cell_index(chunk["lat"], chunk["lon"], cell_deg)
        part = _reduce_by_cell(cells, np.ones(cells.size, dtype=np.int64), value, value, value)
        state = _reduce_by_cell(*(np.concatenate(pair) for pair in zip(state, part, strict=True)))
    cells, counts, sums, mins, maxs = state
    return ChunkedAggregate(
        cell_deg=float(cell_deg),
        cells=cells,
        counts=counts,
        sums=sums,
        mins=mins,
        maxs=maxs,
        rows_in=rows_in,
        rows_accepted=accepted,
        rows_rejected=rows_in - accepted,
        rejected_by_reason=dict(sorted(by_reason.items())),
        rejected_examples=tuple(examples),
        chunks=n_chunks,
    )
