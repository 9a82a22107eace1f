"""The strict number rule, one for every source and field: cells to float64 with the
indices that did not parse, vectorised (see the package docstring for the rule)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

_FAST_RESTARTS = 32  # failed cells located one by one before switching to a tolerant pass


def _lenient_cells(cells: Sequence[Any]) -> list[int]:
    """Indices of cells float() would read but the strict number rule refuses.

    WHY: float() also takes "4_5" (45), Arabic-Indic or other non-ASCII digits, a
    non-breaking space and bytes. In a data file those are typos or encoding accidents, not
    numbers, so every path (CSV, records, GeoJSON, extras, epoch timestamps) refuses them
    through this one rule. One join and two C-level scans clear a clean column of text.
    """
    kinds = set(map(type, cells))
    if kinds <= {str}:
        joined = "".join(cells)
        if joined.isascii() and "_" not in joined:
            return []
    elif not any(issubclass(k, str | bytes | bytearray) for k in kinds):
        return []
    return [
        i
        for i, c in enumerate(cells)
        if isinstance(c, bytes | bytearray)
        or (isinstance(c, str) and (not c.isascii() or "_" in c))
    ]


def _float_or_nan(cell: Any) -> float:
    try:
        return float(cell)
    except (ValueError, TypeError, OverflowError):
        return np.nan


def _parses_as_float(cell: Any) -> bool:
    try:
        float(cell)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _parse_float_cells(cells: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """float64 of every cell (NaN where it does not parse) and the indices that did not parse.

    The fast path is one C-level pass, `np.fromiter(map(float, it))`. When a cell fails, the
    shared iterator has stopped just past it, so its index is exact: only the good prefix
    is converted again and parsing resumes after the bad cell. After `_FAST_RESTARTS`
    failures the rest goes through a tolerant pass, and only its NaN cells are re-checked
    one by one, so a column of garbage costs one Python call per cell, not one restart.
    """
    n = len(cells)
    out = np.empty(n, dtype=np.float64)
    bad: list[int] = []
    lenient = _lenient_cells(cells)
    if lenient:  # None fails float(), so these land among the failures like any garbage
        cells = list(cells)
        for i in lenient:
            cells[i] = None
    it = iter(cells)
    pos = 0
    while pos < n:
        if len(bad) >= _FAST_RESTARTS:
            out[pos:] = np.fromiter(map(_float_or_nan, it), dtype=np.float64, count=n - pos)
            maybe = pos + np.flatnonzero(np.isnan(out[pos:]))
            bad.extend(int(i) for i in maybe if not _parses_as_float(cells[i]))
            break
        try:
            out[pos:] = np.fromiter(map(float, it), dtype=np.float64, count=n - pos)
            break
        except (ValueError, TypeError, OverflowError):
            failed = n - operator.length_hint(it) - 1
            out[pos:failed] = np.fromiter(
                map(float, cells[pos:failed]), dtype=np.float64, count=failed - pos
            )
            out[failed] = np.nan
            bad.append(failed)
            pos = failed + 1
    return out, np.asarray(bad, dtype=np.intp)


def _is_blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _split_failures(cells: Sequence[Any], bad: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks (missing, unparseable) from the failed indices: blank cells are 'missing'."""
    missing = np.zeros(n, dtype=bool)
    unparseable = np.zeros(n, dtype=bool)
    if bad.size:
        blank = np.fromiter((_is_blank(cells[i]) for i in bad.tolist()), dtype=bool, count=bad.size)
        missing[bad[blank]] = True
        unparseable[bad[~blank]] = True
    return missing, unparseable


def _is_plain_number_type(kind: type) -> bool:
    return issubclass(kind, int | float | np.integer | np.floating) and not issubclass(
        kind, bool | np.bool_
    )


def _bool_rows(cells: Sequence[Any]) -> np.ndarray:
    """Indices of bool cells, which float() would silently read as 0/1."""
    if not any(issubclass(k, bool | np.bool_) for k in set(map(type, cells))):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero([isinstance(c, bool | np.bool_) for c in cells])


def _to_list(cells: Sequence[Any] | np.ndarray) -> list[Any] | tuple[Any, ...]:
    """A list or tuple (what `operator.length_hint` is exact on)."""
    if isinstance(cells, list | tuple):
        return cells
    if isinstance(cells, np.ndarray):
        return cells.tolist()
    return list(cells)


def _int_text(cell: int) -> str:
    """Decimal text of an int, or exact hex beyond Python's int-to-str digit limit (4300)."""
    try:
        return str(cell)
    except ValueError:
        return hex(cell)
