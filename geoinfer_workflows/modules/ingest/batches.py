"""CSV batches, what both CSV engines (`csv`, the csv module; `arrow`, pyarrow) produce: one
batch's columns parsed to arrays, and consecutive batches joined for `result._assemble`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.modules.ingest.extras import _float_or_text
from geoinfer_workflows.modules.ingest.fields import _Checked, _Field
from geoinfer_workflows.modules.ingest.pooled import pooled_empty
from geoinfer_workflows.modules.ingest.result import Structural


@dataclass(frozen=True)
class _CsvBatch:
    """One batch of CSV records parsed to arrays; its Python str objects are already gone.

    Row indices (in `structural` and the fields' `cells`) count from the batch's first row.
    """

    n: int
    fields: list[_Field]  # `cells` keeps only the unparseable cells
    structural: Structural
    extras: dict[str, np.ndarray]


def _field_count_problem(width: int, got: int) -> tuple[str, str]:
    """(kind, reason) of a record whose number of fields is not the header's."""
    return "wrong field count", f"expected {width} fields, got {got}"


@dataclass(frozen=True)
class _JoinedField:
    """One canonical field over consecutive batches, their values never concatenated.

    WHY: validation reads each row's verdict, the values of the accepted rows and the
    reason of each rejected row; concatenating the batches and then taking the accepted
    rows wrote every value twice into fresh memory (at 1e6 CSV rows, 64 MB of page faults
    and copies). Here the accepted values are written once, into the table's arrays.
    """

    parts: list[_Field]
    offsets: np.ndarray  # the first row of each part, then the number of rows

    def ok(self) -> np.ndarray:
        return np.concatenate([p.ok() for p in self.parts])

    def take(self, keep: np.ndarray | None, dtype: type) -> np.ndarray:
        """The values of the rows `keep` marks (every row when None) in a new array of
        `dtype`, converted part by part (the timestamps: float64 parts, int64 table
        column), so no whole-length array is made twice and no index array at all."""
        if keep is None:
            out = pooled_empty(int(self.offsets[-1]), dtype)
            return np.concatenate([p.values for p in self.parts], out=out, casting="unsafe")
        bounds = self.offsets.tolist()
        masks = [keep[a:b] for a, b in itertools.pairwise(bounds)]
        ends = np.cumsum([np.count_nonzero(m) for m in masks]).tolist()
        out = pooled_empty(ends[-1], dtype)  # the table's columns: see pooled.py
        for part, mask, a, b in zip(self.parts, masks, [0, *ends], ends, strict=False):
            out[a:b] = part.values[mask]
        return out

    def explain(self, rows: np.ndarray) -> list[tuple[str, str]]:
        """(kind, reason) of each of `rows` (sorted), which failed `ok`."""
        bounds = np.searchsorted(rows, self.offsets).tolist()
        reasons = []
        for part, first, a, b in zip(
            self.parts, self.offsets.tolist(), bounds, bounds[1:], strict=False
        ):
            if b > a:
                reasons += part.explain(rows[a:b] - first)
        return reasons


def _concat_batches(batches: Sequence[_CsvBatch]) -> tuple[int, list[_Checked], Structural]:
    """(rows, fields, structural problems) of consecutive batches, rows renumbered."""
    if len(batches) == 1:
        return batches[0].n, list(batches[0].fields), batches[0].structural
    offsets = np.cumsum([0] + [b.n for b in batches])
    structural = {
        offset + i: why
        for b, offset in zip(batches, offsets.tolist(), strict=False)
        for i, why in b.structural.items()
    }
    fields: list[_Checked] = [
        _JoinedField([b.fields[k] for b in batches], offsets) for k in range(len(batches[0].fields))
    ]
    return int(offsets[-1]), fields, structural


def _text_extras(batches: Sequence[_CsvBatch]) -> Callable[[np.ndarray | None], dict]:
    """Extra columns: float64 when every accepted cell parses as a number, else text."""
    columns = {
        name: np.concatenate([b.extras[name] for b in batches]) for name in batches[0].extras
    }

    def build(keep: np.ndarray | None) -> dict[str, np.ndarray]:
        return {
            name: _float_or_text(column if keep is None else column[keep])
            for name, column in columns.items()
        }

    return build
