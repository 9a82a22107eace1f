"""Timestamp cells to epoch seconds: ISO 8601 read on code points, or epoch seconds by the
strict number rule (see the package docstring for the accepted forms)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from geoinfer_workflows.modules.ingest.numbers import (
    _is_plain_number_type,
    _lenient_cells,
    _parse_float_cells,
    _split_failures,
)

_MAX_TIMESTAMP_CHARS = 64  # longer cells cannot be a timestamp; keeps the U array narrow


_C = {c: ord(c) for c in "0-:T t.,Zz+"}
_ASCII_BLANKS = "".join(map(chr, range(1, 33)))  # space and control characters
# Zone offsets: (characters, digit positions after the sign, colon position or None).
_ZONE_FORMS = ((6, (1, 2, 4, 5), 3), (5, (1, 2, 3, 4), None), (3, (1, 2), None))


class _CodePoints:
    """A unicode column seen as a (width, n) matrix of code points, one row per position.

    WHY: numpy's own datetime64 string parser takes "now", "today", "NaT" and "" as valid,
    warns on zone offsets and cannot say which row failed. Reading fixed ISO positions
    from the code-point matrix validates every row's layout with a few vector operations,
    so a bad timestamp costs nothing extra and never needs a per-row fallback. The matrix
    is transposed once so that each position is one contiguous array.
    """

    def __init__(self, cols: np.ndarray) -> None:
        """From a (width, n) int32 matrix: position i of string j at ``cols[i, j]``, 0 past
        its end (what `of_unicode` builds, and the CSV engine from UTF-8 bytes)."""
        self.width, self.n = cols.shape
        self.cols = cols
        self.flat = self.cols.ravel()
        self.length = np.count_nonzero(self.cols, axis=0)
        self.rows = np.arange(self.n)

    @classmethod
    def of_unicode(cls, u: np.ndarray) -> _CodePoints:
        by_row = np.ascontiguousarray(u).view(np.uint32).reshape(u.shape[0], -1)
        return cls(np.ascontiguousarray(by_row.T).view(np.int32))  # code points < 2**31

    def at(self, i: int) -> np.ndarray:
        """Code points at fixed position i (0 past the end of every string)."""
        return self.cols[i] if i < self.width else np.zeros(self.n, dtype=np.int32)

    def at_each(self, pos: np.ndarray) -> np.ndarray:
        """Code point at a per-row position (0 where the position is outside the string)."""
        inside = (pos >= 0) & (pos < self.length)
        index = np.clip(pos, 0, self.width - 1) * self.n + self.rows
        return np.where(inside, self.flat[index], 0)

    def number(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Decimal value of the fixed digits [start, stop) and whether all are digits."""
        value = np.zeros(self.n, dtype=np.int64)
        ok = np.ones(self.n, dtype=bool)
        for i in range(start, stop):
            digit = self.at(i) - _C["0"]
            ok &= (digit >= 0) & (digit <= 9)
            value = value * 10 + digit
        return value, ok

    def digits_between(self, start: int, stop: np.ndarray) -> np.ndarray:
        """Whether every character in [start, stop) of each row is a decimal digit."""
        if self.width <= start:
            return np.ones(self.n, dtype=bool)
        tail = self.cols[start:]
        inside = np.arange(start, self.width)[:, None] < stop
        not_digit = (tail < _C["0"]) | (tail > _C["0"] + 9)
        return ~(inside & not_digit).any(axis=0)

    def padded(self) -> np.ndarray:
        """Rows with leading or trailing whitespace (or control characters)."""
        first, last = self.at(0), self.at_each(self.length - 1)
        return ((first > 0) & (first <= 32)) | ((last > 0) & (last <= 32))


def _zone(cp: _CodePoints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(end of the local part, UTC offset in seconds, zone valid) of each string."""
    last = cp.at_each(cp.length - 1)
    has_zone = (last == _C["Z"]) | (last == _C["z"])
    end = np.where(has_zone, cp.length - 1, cp.length)
    offset = np.zeros(cp.n, dtype=np.int64)
    ok = np.ones(cp.n, dtype=bool)
    if not (~has_zone & (cp.length >= 16)).any():  # all "Z" or too short for an offset
        return end, offset, ok
    for chars, digit_at, colon in _ZONE_FORMS:
        p = cp.length - chars  # where the sign would be; 13 is the earliest (after "Thh")
        sign = cp.at_each(p)
        digits = [cp.at_each(p + q) - _C["0"] for q in digit_at]
        form = ~has_zone & (p >= 13) & ((sign == _C["+"]) | (sign == _C["-"]))
        for d in digits:
            form &= (d >= 0) & (d <= 9)
        if colon is not None:
            form &= cp.at_each(p + colon) == _C[":"]
        hh = digits[0] * 10 + digits[1]
        mm = digits[2] * 10 + digits[3] if len(digits) == 4 else 0
        ok &= ~form | ((hh <= 23) & (mm <= 59))
        offset = np.where(form, np.where(sign == _C["-"], -1, 1) * (hh * 3600 + mm * 60), offset)
        end = np.where(form, p, end)
        has_zone |= form
    return end, offset, ok


def _parse_iso(cp: _CodePoints) -> np.ndarray:
    """Epoch seconds (float64, exact integers; NaN where invalid) of ISO 8601 strings."""
    if cp.n == 0:
        return np.empty(0, dtype=np.float64)
    end, offset, ok = _zone(cp)
    year, y_ok = cp.number(0, 4)
    month, m_ok = cp.number(5, 7)
    day, d_ok = cp.number(8, 10)
    ok &= y_ok & m_ok & d_ok & (cp.at(4) == _C["-"]) & (cp.at(7) == _C["-"])
    sep = cp.at(10)
    has_time = end >= 13
    ok &= (end == 10) | (has_time & ((sep == _C["T"]) | (sep == _C["t"]) | (sep == _C[" "])))
    ok &= (end == 10) | (end == 13) | (end == 16) | (end == 19) | (end >= 21)
    ok &= (end == cp.length) | has_time  # a zone needs a time of day
    hour, h_ok = cp.number(11, 13)
    minute, mi_ok = cp.number(14, 16)
    second, s_ok = cp.number(17, 19)
    ok &= ~has_time | h_ok
    ok &= (end < 16) | (mi_ok & (cp.at(13) == _C[":"]))
    ok &= (end < 19) | (s_ok & (cp.at(16) == _C[":"]))
    fraction_mark = cp.at(19)
    ok &= (end < 21) | (
        ((fraction_mark == _C["."]) | (fraction_mark == _C[","])) & cp.digits_between(20, end)
    )
    hour = np.where(has_time, hour, 0)
    minute = np.where(end >= 16, minute, 0)
    second = np.where(end >= 19, second, 0)
    return _utc_seconds(ok & (second <= 59), year, month, day, hour, minute, second - offset)


@cache
def _month_starts() -> np.ndarray:
    """Epoch day of the first of each month from January of year 0 to January 10000.

    Calendar arithmetic by numpy's datetime64, once: a row's month is then one lookup.
    """
    months = np.arange(10_000 * 12 + 1) - 1970 * 12
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _utc_seconds(ok: np.ndarray, *fields: np.ndarray) -> np.ndarray:
    """Epoch seconds (float64; NaN where not `ok` or not a real date and time) of the fields
    year, month, day, hour, minute and second; the caller checks the second (0..59) and
    has already taken the zone offset from it.

    int32 fields (the fixed form's) look the month up in int32 starts, half the memory
    traffic of int64; from the day count on the sum is float64, exact (integers below
    2**53) whatever the fields' type.
    """
    year, month, day, hour, minute, second = fields
    ok = ok & (month >= 1) & (month <= 12) & (hour <= 23) & (minute <= 59)
    starts = _month_starts_int32() if year.dtype == np.int32 else _month_starts()
    months = np.where(ok, year * 12 + month - 1, 0)  # four-digit years: 0 <= months < 120,000
    first = starts[months]
    ok &= (day >= 1) & (day <= starts[months + 1] - first)
    seconds = (first + day - 1).astype(np.float64) * 86_400
    seconds += hour * 3600 + minute * 60 + second
    seconds[~ok] = np.nan
    return seconds


@cache
def _month_starts_int32() -> np.ndarray:
    """`_month_starts` as int32 (epoch days of years 0..10,000 fit: |days| < 2.2e6)."""
    return _month_starts().astype(np.int32)


# The digits of YYYY-MM-DDThh:mm:ssZ, in pairs: century, year, month, day, hour, minute, second.
_FIXED_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
# Its marks: bytes 4, 7, 13, 16 as they are; 10 'T' or 't' (or ' ', apart) and 19 'Z' or
# 'z', both compared with the 0x20 (lower case) bit set: b | 0x20 == 't' only for 'T', 't'.
_FIXED_MARK_AT = np.array([4, 7, 10, 13, 16, 19])
_FIXED_MARK_CASE = np.array([0, 0, 0x20, 0, 0, 0x20], dtype=np.uint8)
_FIXED_MARK_WANT = np.frombuffer(b"--t::z", dtype=np.uint8)


def _parse_iso_fixed(by_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds, read) of rows of 20 bytes (a (n, 20) uint8 matrix) in the one form
    of most files, YYYY-MM-DDThh:mm:ssZ: a few whole-matrix operations instead of the
    general parser's hundred. A row not `read` (another form, or invalid) is the general
    parser's to judge (`_parse_iso`); a row read gets the seconds that parser gives.

    WHY in chunks of `_FIXED_CHUNK` rows: the temporaries of a chunk stay in cache; made
    for a million rows at once they cost 2.5x more (measured at 1e6 GeoJSON timestamps).
    """
    seconds = np.empty(by_row.shape[0], dtype=np.float64)
    for start in range(0, by_row.shape[0], _FIXED_CHUNK):
        seconds[start : start + _FIXED_CHUNK] = _fixed_chunk(by_row[start : start + _FIXED_CHUNK])
    return seconds, ~np.isnan(seconds)


_FIXED_CHUNK = 1 << 16


def _fixed_chunk(by_row: np.ndarray) -> np.ndarray:
    """Epoch seconds (NaN where not read) of one chunk of `_parse_iso_fixed`; its fields
    are int32, which `_utc_seconds` keeps to the day count."""
    digits = by_row[:, _FIXED_DIGITS] - np.uint8(_C["0"])  # wraps below '0': then > 9
    ok = (digits <= 9).all(axis=1)
    marks = by_row[:, _FIXED_MARK_AT]  # a gather: one column after another in memory
    space = marks[:, 2] == _C[" "]
    marks |= _FIXED_MARK_CASE
    marks[space, 2] = _C["t"]
    ok &= (marks == _FIXED_MARK_WANT).all(axis=1)
    # two digits make at most 99: uint8 holds the pairs; int32 the fields (years < 10,000)
    pairs = (digits[:, 0::2] * np.uint8(10) + digits[:, 1::2]).T.astype(np.int32)
    century, year, month, day, hour, minute, second = pairs
    return _utc_seconds(ok & (second <= 59), century * 100 + year, month, day, hour, minute, second)


def _timestamp_text(cell: Any) -> str:
    """A str a timestamp parser can read for any record cell; '?' marks the unreadable."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool | np.bool_):
        return "?"
    if isinstance(cell, dt.date):  # datetime too; an aware one carries its offset
        return cell.isoformat()
    if isinstance(cell, np.datetime64):
        return "" if np.isnat(cell) else str(cell)
    if isinstance(cell, int | float | np.integer | np.floating):
        try:
            return repr(float(cell))
        except OverflowError:  # an int beyond float range (a 400-digit "timestamp")
            return "?"
    return "?"


def _fixed_form_cells(
    texts: Sequence[str], lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """`_parse_timestamp_cells` of ASCII cells all 20 characters long, the common form
    (YYYY-MM-DDThh:mm:ssZ) read from their bytes by `_parse_iso_fixed`, the other cells
    by the general path; None when the cells are not of that shape."""
    n = len(texts)
    if not n or lengths.min() != 20 or lengths.max() != 20:
        return None
    joined = "".join(texts)
    if not joined.isascii():
        return None
    seconds, done = _parse_iso_fixed(np.frombuffer(joined.encode("ascii"), np.uint8).reshape(n, 20))
    rest = np.flatnonzero(~done)
    if rest.size == n:
        return None
    out = (seconds, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
    if rest.size:
        others = _parse_timestamp_cells([texts[i] for i in rest.tolist()], all_text=True)
        for target, part in zip(out, others, strict=True):
            target[rest] = part
    return out


def _parse_timestamp_cells(
    cells: Sequence[Any], *, all_text: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epoch seconds float64 floored, missing mask, unparseable mask) of timestamp cells.

    A cell with '-' at position 4 is ISO 8601, any other is epoch seconds: a bare number
    such as 20240301 is read as seconds, never as a compact date.
    """
    n = len(cells)
    kinds = {str} if all_text else set(map(type, cells))
    if all(_is_plain_number_type(k) for k in kinds):
        values, bad = _parse_float_cells(cells)
        return np.floor(values), *_split_failures(cells, bad, n)
    texts = cells if kinds <= {str} else [_timestamp_text(c) for c in cells]
    # Per cell, with the same verdict as the epoch pass below for every cell, so that no
    # row's fate depends on its neighbours (or on where a batch boundary falls). The usual
    # ISO column is read first: no cell of it is a number, so the pass would fail anyway.
    lengths = np.fromiter(map(len, texts), dtype=np.intp, count=n)
    fixed = _fixed_form_cells(texts, lengths)
    if fixed is not None:
        return fixed
    if not _lenient_cells(texts):
        try:  # all epoch strings: one pass; an ISO column fails on its first cell
            values = np.fromiter(map(float, texts), dtype=np.float64, count=n)
        except (ValueError, TypeError, OverflowError):
            pass
        else:
            return np.floor(values), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    too_long = lengths > _MAX_TIMESTAMP_CHARS  # never ISO; still read as epoch seconds
    short = texts
    if too_long.any():
        short = ["" if long else s for s, long in zip(texts, too_long.tolist(), strict=True)]
    u = np.array(short, dtype=str)
    cp = _CodePoints.of_unicode(u)
    if cp.padded().any():
        u = np.char.strip(u, _ASCII_BLANKS)  # what `padded` tests; float() strips the same
        cp = _CodePoints.of_unicode(u)
    values = _parse_iso(cp)
    iso = cp.at(4) == _C["-"]
    unparseable = iso & np.isnan(values)
    numeric = np.flatnonzero(~iso)
    if numeric.size:
        epoch, bad = _parse_float_cells([texts[i] for i in numeric.tolist()])
        values[numeric] = np.floor(epoch)
        unparseable[numeric[bad]] = True
    missing = (cp.length == 0) & ~too_long
    unparseable &= ~missing
    return values, missing, unparseable
