"""One canonical field (lat, lon, timestamp or value) parsed from cells, and the reason
each of its failed rows is rejected with (a kind from `REJECTION_KINDS` and its wording)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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

    def take(self, rows: np.ndarray | None) -> np.ndarray:
        """The values of `rows` (every row when None) in a new array."""
        # take, not a boolean mask: ~10x faster when the rejected rows are scattered
        return self.values.copy() if rows is None else self.values.take(rows)

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

        Rows are sorted into cases with whole-array tests. Missing, NaN and infinite rows
        share one wording per case, worded once and repeated by a C-level take (a sensor
        stream with a few % dropouts rejects ~1e4 NaN rows per run); only unparseable and
        out-of-range rows, which quote their cell or value, are worded one by one.
        """
        n = rows.size
        picked = self.values[rows]
        case = np.full(n, _WORDED, dtype=np.intp)
        if picked.dtype.kind == "f":  # integer values are never NaN or infinite
            case[np.isposinf(picked)] = _POS_INF
            case[np.isneginf(picked)] = _NEG_INF
            case[np.isnan(picked)] = _NAN
        if self.unparseable is not None:
            case[self.unparseable[rows]] = _UNPARSEABLE
        if self.missing is not None:
            case[self.missing[rows]] = _MISSING
        shared = np.empty(_WORDED + 1, dtype=object)  # None for the cases worded per row
        for code, (missing, value) in enumerate(_SHARED_CASES):
            shared[code] = self._reason(-1, missing, False, value)
        reasons: list[tuple[str, str]] = shared.take(case).tolist()
        own = np.flatnonzero(case >= _UNPARSEABLE)
        picked = picked[own]
        # float64 to Python floats in one call; other dtypes as scalars, float() per row below
        values = picked.tolist() if picked.dtype == np.float64 else list(picked)
        for k, i, unparseable, value in zip(
            own.tolist(),
            rows[own].tolist(),
            (case[own] == _UNPARSEABLE).tolist(),
            values,
            strict=True,
        ):
            reasons[k] = self._reason(i, False, unparseable, value)
        return reasons

    def _reason(self, i: int, missing: bool, unparseable: bool, value: Any) -> tuple[str, str]:
        name = self.name
        if missing:
            return f"missing {name}", f"missing {name}"
        if unparseable:
            cell = self.cells[i] if self.cells is not None else self.values[i]
            return f"unparseable {name}", f"unparseable {name} {_quote(cell)}"
        v = float(value)
        if math.isnan(v):  # math, not numpy: a Python float, per rejected row
            return f"{name} not finite", f"{name} is NaN"
        if math.isinf(v):
            return f"{name} not finite", f"{name} is {'inf' if v > 0 else '-inf'}"
        return _range_reason(name, v)


# The cases of `_Field.explain`, in `_reason`'s order of precedence. The first four have
# one wording per field, from these (missing, value) arguments of `_reason`; the last two
# quote each row's cell or value.
_SHARED_CASES = ((True, 0.0), (False, math.nan), (False, math.inf), (False, -math.inf))
_MISSING, _NAN, _POS_INF, _NEG_INF, _UNPARSEABLE, _WORDED = range(6)


class _Checked(Protocol):
    """What validation (`result._assemble`) reads of a field: a `_Field`, or one joined
    from consecutive batches (`batches._JoinedField`)."""

    def ok(self) -> np.ndarray: ...

    def take(self, rows: np.ndarray | None) -> np.ndarray: ...

    def explain(self, rows: np.ndarray) -> list[tuple[str, str]]: ...


def _quote(cell: Any) -> str:
    text = _int_text(cell) if type(cell) is int else repr(cell)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(v: float) -> str:
    """Exact (repr) for coordinate-sized numbers, so 90.0000001 never prints as 90."""
    return f"{v:.6g}" if abs(v) >= 1e6 else repr(v).removesuffix(".0")


def _range_reason(name: str, v: float) -> tuple[str, str]:
    if name == "value":
        return (
            "value implausible magnitude",
            f"value {_number(v)} implausible magnitude (|value| > {_number(MAX_ABS_VALUE)})",
        )
    if name == "timestamp":
        shown = f"{np.datetime64(int(v), 's')}Z" if abs(v) < 1e15 else f"{v:g} s"
        return "timestamp out of range", f"timestamp {shown} outside [1900-01-01, 2200-01-01]"
    lo, hi = LAT_RANGE if name == "lat" else LON_RANGE
    return f"{name} out of range", f"{name} {_number(v)} outside [{lo:g}, {hi:g}]"


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
