"""Extra columns, the passengers: float64 when every accepted cell is a number by the
strict rule, else their text (numpy unicode; object when a cell is very long)."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from geoinfer_workflows.modules.ingest.numbers import _int_text, _lenient_cells

_MAX_UNICODE_CHARS = 256  # wider string extras are stored as object arrays


def _pick_cells(cells: Sequence[Any], keep: np.ndarray | None) -> Sequence[Any]:
    if keep is None:
        return cells
    index = np.flatnonzero(keep).tolist()
    if len(index) < 2:
        return [cells[i] for i in index]
    return operator.itemgetter(*index)(cells)


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, int) and not isinstance(cell, bool):
        return _int_text(cell)
    if isinstance(cell, dict | list):
        try:
            return json.dumps(cell)
        except (ValueError, TypeError, RecursionError):  # a huge int or a cycle inside
            return repr(cell)[:_MAX_UNICODE_CHARS]
    return str(cell)


def _text_column(cells: Sequence[str]) -> np.ndarray:
    """Cells as a numpy unicode array, or object when one is very long (U is fixed-width)."""
    if max(map(len, cells), default=0) <= _MAX_UNICODE_CHARS:
        return np.array(cells, dtype=str)
    out = np.empty(len(cells), dtype=object)
    out[:] = list(cells)
    return out


def _extra_column(cells: Sequence[Any], keep: np.ndarray | None) -> np.ndarray:
    """float64 when every accepted cell is a number, else their text (never lost)."""
    chosen = _pick_cells(cells, keep)
    kinds = set(map(type, chosen))
    if not any(issubclass(k, bool | np.bool_) for k in kinds) and not _lenient_cells(chosen):
        try:
            return np.fromiter(map(float, chosen), dtype=np.float64, count=len(chosen))
        except (ValueError, TypeError, OverflowError):
            pass
    return _text_column(chosen if kinds <= {str} else [_text(c) for c in chosen])


def _cell_extras(columns: Mapping[str, Sequence[Any]]) -> Callable[[np.ndarray | None], dict]:
    return lambda keep: {name: _extra_column(cells, keep) for name, cells in columns.items()}


def _float_or_text(column: np.ndarray) -> np.ndarray:
    """float64 when every cell is a number by the strict rule, else the text as is."""
    if column.size and _lenient_cells(column.tolist()):
        return column
    try:
        return column.astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        return column
