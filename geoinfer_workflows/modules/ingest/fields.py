"""One canonical field (lat, lon, timestamp or value) parsed from cells, and the reason
each of its failed rows is rejected with (a kind from `REJECTION_KINDS` and its wording)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from geoinfer_workflows.modules.ingest.numbers import (
    _bool_rows,
    _int_text,
    _parse_float_cells,
    _split_failures,
    _to_list,
)
from geoinfer_workflows.modules.ingest.rules import (
    LAT_RANGE,
    LON_RANGE,
    MAX_ABS_VALUE,
    T_MAX,
    T_MIN,
    VALUE_RANGE,
)
from geoinfer_workflows.modules.ingest.timestamps import _parse_timestamp_cells


@dataclass(frozen=True)
class _Field:
    """One canonical column, numeric, with why parsing failed where it did.

    Rows that failed to parse hold NaN, so the single range test in `ok` rejects them too;
    `missing`/`unparseable`/`cells` are only read to word the reason of rejected rows.
    """

    name: str
    values: np.ndarray  # float64, or int64 for integer / datetime64 timestamps
    lo: float
    hi: float
    missing: np.ndarray | None = None
    unparseable: np.ndarray | None = None
    cells: Sequence[Any] | Mapping[int, Any] | None = None  # indexed by row

    def ok(self) -> np.ndarray:
        return (self.values >= self.lo) & (self.values <= self.hi)

    def take(self, keep: np.ndarray | None, dtype: type) -> np.ndarray:
        """The values of the rows `keep` marks (every row when None) in a new array of
        `dtype`."""
        if keep is None:
            return self.values.astype(dtype)
        return self.values[keep].astype(dtype, copy=False)

    def with_bad_cells(self) -> _Field:
        """This field keeping only its unparseable cells, keyed by row index.

        The reasons quote only those cells, so the rest of the source text can be freed.
        """
        bad = np.flatnonzero(self.unparseable).tolist() if self.unparseable is not None else []
        cells = {i: self.cells[i] for i in bad} if self.cells is not None else None
        return _Field(
            self.name, self.values, self.lo, self.hi, self.missing, self.unparseable, cells
        )

    def explain(self, rows: np.ndarray) -> list[tuple[str, str]]:
        """(kind, reason) of each of `rows` (sorted), which failed `ok`.

        The rows are sorted into their problems with whole-array masks, so per row only
        the wording is Python: the constant reasons (missing, NaN) are shared, a range
        reason is one format (at 1e6 CSV rows with 1% bad, half the time of a
        per-row classification).
        """
        n = rows.size
        why: list[tuple[str, str]] = [("", "")] * n
        missing = np.zeros(n, dtype=bool) if self.missing is None else self.missing[rows]
        unparseable = (
            np.zeros(n, dtype=bool) if self.unparseable is None else self.unparseable[rows]
        )
        unparseable &= ~missing
        values = self.values[rows].astype(np.float64)  # what float() gives each value
        nan = np.isnan(values) & ~missing & ~unparseable
        inf = np.isinf(values) & ~missing & ~unparseable
        name = self.name
        _place(why, missing, itertools.repeat((f"missing {name}", f"missing {name}")))
        _place(why, nan, itertools.repeat((f"{name} not finite", f"{name} is NaN")))
        signs = (values[inf] > 0).tolist()
        _place(
            why, inf, [(f"{name} not finite", f"{name} is {'inf' if s else '-inf'}") for s in signs]
        )
        kind = f"unparseable {name}"
        cells = [
            self.cells[i] if self.cells is not None else self.values[i]
            for i in rows[unparseable].tolist()
        ]
        _place(why, unparseable, [(kind, f"{kind} {_quote(cell)}") for cell in cells])
        out = ~(missing | unparseable | nan | inf)
        _place(why, out, _range_reasons(name, values[out].tolist()))
        return why


class _Checked(Protocol):
    """What validation (`result._assemble`) reads of a field: a `_Field`, or one joined
    from consecutive batches (`batches._JoinedField`)."""

    def ok(self) -> np.ndarray: ...

    def take(self, keep: np.ndarray | None, dtype: type) -> np.ndarray: ...

    def explain(self, rows: np.ndarray) -> list[tuple[str, str]]: ...


def _quote(cell: Any) -> str:
    text = _int_text(cell) if type(cell) is int else repr(cell)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(v: float) -> str:
    """Exact (repr) for coordinate-sized numbers, so 90.0000001 never prints as 90."""
    return f"{v:.6g}" if abs(v) >= 1e6 else repr(v).removesuffix(".0")


def _place(why: list[tuple[str, str]], mask: np.ndarray, items: Iterable[tuple[str, str]]) -> None:
    """Write `items` at the positions of `mask` (in order)."""
    for k, item in zip(np.flatnonzero(mask).tolist(), items, strict=False):
        why[k] = item


def _range_reasons(name: str, values: list[float]) -> list[tuple[str, str]]:
    """(kind, reason) of finite values outside the field's range: one format per field."""
    if name == "timestamp":
        return [_timestamp_range_reason(v) for v in values]
    if name == "value":
        kind = "value implausible magnitude"
        tail = f" implausible magnitude (|value| > {_number(MAX_ABS_VALUE)})"
    else:
        lo, hi = LAT_RANGE if name == "lat" else LON_RANGE
        kind, tail = f"{name} out of range", f" outside [{lo:g}, {hi:g}]"
    return [(kind, f"{name} {_number(v)}{tail}") for v in values]


def _timestamp_range_reason(v: float) -> tuple[str, str]:
    shown = f"{np.datetime64(int(v), 's')}Z" if abs(v) < 1e15 else f"{v:g} s"
    return "timestamp out of range", f"timestamp {shown} outside [1900-01-01, 2200-01-01]"


def _numeric_field(
    name: str, cells: Sequence[Any], bounds: tuple[float, float], *, typed: bool = True
) -> _Field:
    """A lat/lon/value field from record cells (`typed`) or text cells (all str)."""
    cells = _to_list(cells)
    n = len(cells)
    values, bad = _parse_float_cells(cells)
    bools = _bool_rows(cells) if typed else np.empty(0, dtype=np.intp)
    if bools.size:
        values[bools] = np.nan
        bad = np.union1d(bad, bools)
    missing, unparseable = _split_failures(cells, bad, n)
    return _Field(name, values, *bounds, missing, unparseable, cells)


def _timestamp_field(cells: Sequence[Any], *, typed: bool = True) -> _Field:
    cells = _to_list(cells)
    values, missing, unparseable = _parse_timestamp_cells(cells, all_text=not typed)
    return _Field("timestamp", values, T_MIN, T_MAX, missing, unparseable, cells)


def _cell_fields(
    lat: Sequence[Any],
    lon: Sequence[Any],
    timestamp: Sequence[Any],
    value: Sequence[Any],
    *,
    typed: bool = True,
) -> list[_Field]:
    """The four canonical fields, in CANONICAL order, from record cells (`typed`) or text
    cells (all str): what CSV, records and GeoJSON hand to `_assemble`."""
    return [
        _numeric_field("lat", lat, LAT_RANGE, typed=typed),
        _numeric_field("lon", lon, LON_RANGE, typed=typed),
        _timestamp_field(timestamp, typed=typed),
        _numeric_field("value", value, VALUE_RANGE, typed=typed),
    ]
