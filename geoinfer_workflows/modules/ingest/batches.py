"""CSV batches, what both CSV engines (`csv`, the csv module; `arrow`, pyarrow) produce: one
batch's columns parsed to arrays, and consecutive batches joined for `result._assemble`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.modules.ingest.extras import _float_or_text
from geoinfer_workflows.modules.ingest.fields import _Field
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


def _concat_batches(batches: Sequence[_CsvBatch]) -> tuple[int, list[_Field], Structural]:
    """(rows, fields, structural problems) of consecutive batches, rows renumbered."""
    if len(batches) == 1:
        return batches[0].n, batches[0].fields, batches[0].structural
    offsets = np.cumsum([0] + [b.n for b in batches]).tolist()
    structural = {
        offset + i: why
        for b, offset in zip(batches, offsets, strict=False)
        for i, why in b.structural.items()
    }
    out = []
    for k, first in enumerate(batches[0].fields):
        parts = [b.fields[k] for b in batches]
        cells = {
            offset + i: cell
            for part, offset in zip(parts, offsets, strict=False)
            for i, cell in (part.cells or {}).items()
        }
        out.append(
            _Field(
                first.name,
                np.concatenate([p.values for p in parts]),
                first.lo,
                first.hi,
                _concat_masks([p.missing for p in parts], [b.n for b in batches]),
                _concat_masks([p.unparseable for p in parts], [b.n for b in batches]),
                cells,
            )
        )
    return offsets[-1], out, structural


def _concat_masks(masks: list[np.ndarray | None], sizes: list[int]) -> np.ndarray | None:
    """Consecutive per-row masks, None standing for all False (and staying None if all are)."""
    if all(m is None for m in masks):
        return None
    parts = [
        np.zeros(size, dtype=bool) if m is None else m for m, size in zip(masks, sizes, strict=True)
    ]
    return np.concatenate(parts)


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
