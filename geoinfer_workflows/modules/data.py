"""DATA: ingest point observations (CSV, GeoJSON, records, numpy columns) into a PointTable.

Every input ends in the same validation (`_assemble`): one boolean mask per canonical field,
one reason per rejected row built only for the rejected rows, and an invariant checked on
every result: accepted + rejected == rows read. Row-level problems quarantine their row
with a reason; only a problem with the input as a whole raises `IngestError`.

Rules a caller can rely on:

- Schema: `lat`, `lon`, `timestamp`, `value` plus any extra columns. Names are matched after
  stripping surrounding whitespace and lower-casing; aliases are in `COLUMN_ALIASES`.
- Timestamps: ISO 8601 `YYYY-MM-DD[(T|t| )hh[:mm[:ss[(.|,)fff]]]][Z|z|+hh:mm|+hhmm|+hh]`
  (no zone means UTC; an offset is converted to UTC) or epoch seconds (int or float).
  Fractions of a second are floored. Accepted range: 1900-01-01 .. 2200-01-01 UTC.
- A `str` source is content (not a path) when it is empty, contains a line break or a
  comma, or starts with `{` or `[`; anything else is a path. `text=True/False` overrides.
- Numbers: one strict rule for every source and field: ASCII decimal or exponent
  notation (`nan`/`inf` are read, then rejected as not finite); `4_5`, non-ASCII digits
  or spaces and bytes are unparseable. An integer too large for a float is unparseable
  (or, in JSON text, beyond 4300 digits, infinite), never an exception.
- CSV is read as records (a quoted field may hold commas and newlines). A record the csv
  module cannot parse (a character after a closing quote, a field over 131,072
  characters) or with the wrong number of fields is quarantined alone; a quote left open
  to the end of the input fails the input. Paths must be regular files.
- Rejection rows are 1-based: CSV data records not counting the header or blank lines;
  GeoJSON features and records by position. Kinds are from `REJECTION_KINDS`.
- Extra columns from text are float64 when every accepted cell parses as a number, else
  strings (numpy unicode; object when a cell is longer than 256 characters). Extras are
  passengers: they are never a reason to reject a row. Extras given to `ingest_columns`
  keep their dtype.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import json
import operator
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from geoinfer_workflows.errors import IngestError, ParameterError
from geoinfer_workflows.table import PointTable

__all__ = [
    "COLUMN_ALIASES",
    "MAX_ABS_VALUE",
    "REJECTION_KINDS",
    "T_MAX",
    "T_MIN",
    "IngestResult",
    "Rejection",
    "ingest",
    "ingest_columns",
    "ingest_csv",
    "ingest_geojson",
    "ingest_records",
    "iter_csv_batches",
]

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "lat": ("lat", "latitude"),
    "lon": ("lon", "longitude", "lng"),
    "timestamp": ("timestamp", "time", "datetime"),
    "value": ("value",),
}
CANONICAL = tuple(COLUMN_ALIASES)
# The one vocabulary of rejection kinds (`Rejection.kind`), for every source and for the
# chunked CSV path: a row's own structure first, then per field in CANONICAL order.
REJECTION_KINDS: tuple[str, ...] = (
    "wrong field count",
    "malformed record",
    "record not a mapping",
    "not a feature",
    "bad properties",
    "missing geometry",
    "geometry not Point",
    "bad coordinates",
    *(f"{problem} {name}" for name in CANONICAL for problem in ("missing", "unparseable")),
    *(f"{name} not finite" for name in CANONICAL),
    "lat out of range",
    "lon out of range",
    "timestamp out of range",
    "value implausible magnitude",
)
LAT_RANGE = (-90.0, 90.0)
LON_RANGE = (-180.0, 180.0)
MAX_ABS_VALUE = 1e12  # beyond this a reading is a unit or encoding error, not a measurement
VALUE_RANGE = (-MAX_ABS_VALUE, MAX_ABS_VALUE)
T_MIN = -2_208_988_800  # 1900-01-01T00:00:00Z
T_MAX = 7_258_118_400  # 2200-01-01T00:00:00Z
_MAX_TIMESTAMP_CHARS = 64  # longer cells cannot be a timestamp; keeps the U array narrow
_MAX_UNICODE_CHARS = 256  # wider string extras are stored as object arrays
_FAST_RESTARTS = 32  # failed cells located one by one before switching to a tolerant pass
_CSV_BATCH_ROWS = 65_536  # records parsed per batch: bounds the Python objects alive at once
_CSV_DIALECT = {"skipinitialspace": True, "strict": True}

Source = str | os.PathLike | bytes | IO[str] | IO[bytes]


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Rejection:
    """One quarantined input row.

    `kind` groups reasons for `IngestResult.reasons_summary` ("lat out of range"); it is not
    part of equality so `Rejection(3, "missing lat")` compares on what a reader sees.
    """

    row: int
    reason: str
    kind: str = field(default="", compare=False)


@dataclass(frozen=True)
class IngestResult:
    """The accepted rows as a table plus every rejected row with its reason."""

    table: PointTable
    rejected: tuple[Rejection, ...]
    rows_read: int

    def __post_init__(self) -> None:
        # Checked on every construction (not an `assert`, which -O strips): a lost row is a
        # silent data error, the one failure ingestion must never have.
        rows = [r.row for r in self.rejected]
        if self.accepted + len(rows) != self.rows_read:
            raise AssertionError(
                f"ingestion lost rows: {self.accepted} accepted + {len(rows)} rejected "
                f"!= {self.rows_read} read"
            )
        if len(set(rows)) != len(rows) or (
            rows and not 1 <= min(rows) <= max(rows) <= self.rows_read
        ):
            raise AssertionError("rejected row numbers must be unique and within rows read")

    @property
    def accepted(self) -> int:
        return len(self.table)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def reasons_summary(self) -> dict[str, int]:
        """Rejections per kind of reason, most frequent first (ties by name)."""
        counts = Counter(r.kind or r.reason for r in self.rejected)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ------------------------------------------------------------------------ reading input


def _is_inline(source: str, text: bool | None) -> bool:
    """Whether a str is content rather than a path: the documented, filesystem-free rule."""
    if text is not None:
        return text
    if not source or "\n" in source or "\r" in source or "," in source:
        return True
    return source.lstrip()[:1] in ("{", "[")


def _decode(data: bytes) -> str:
    """UTF-8 text of `data` without its BOM; a decoding failure names the byte offset."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise IngestError(
            "input is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
        )
    try:
        return str(memoryview(data)[bom:], "utf-8")  # no copy of the bytes
    except UnicodeDecodeError as err:
        offset = bom + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise IngestError(
            f"input is not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} "
            f"(line {line}) cannot be decoded; re-save the file as UTF-8"
        ) from None


def _open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading, if it is a regular file.

    WHY: ingestion reads its input to the end, so a device (/dev/zero: until memory runs
    out), a FIFO (blocks until a writer appears) or a directory is refused up front. The
    open is non-blocking, so even a FIFO without a writer answers at once.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise IngestError(
            f"no such file: {str(path)!r} (a str without a line break or comma is taken as a "
            "path; pass text=True to parse it as content)"
        ) from None
    except OSError as err:
        raise IngestError(f"cannot read {str(path)!r}: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise IngestError(
            f"{str(path)!r} is not a regular file ({kind}); ingestion reads regular files only"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _read_path(path: Path) -> str:
    with _open_regular(path) as fh:
        try:
            data = fh.read()
        except OSError as err:
            raise IngestError(f"cannot read {str(path)!r}: {err.strerror}") from None
    return _decode(data)


def _read_text(source: Any, *, text: bool | None) -> str:
    """The whole input as text, whatever form it came in (content, path, file object)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _decode(bytes(source))
    if isinstance(source, str) and _is_inline(source, text):
        return source.removeprefix("\ufeff")
    if isinstance(source, str | os.PathLike):
        if text:
            raise ParameterError("text=True needs str content, not a path object")
        return _read_path(Path(source))
    if callable(getattr(source, "read", None)):
        try:
            data = source.read()
        except UnicodeDecodeError as err:
            raise IngestError(
                f"the file object could not be decoded ({err.reason} at offset {err.start}); "
                "open it in binary mode or with encoding='utf-8'"
            ) from None
        if isinstance(data, bytes | bytearray):
            return _decode(bytes(data))
        if isinstance(data, str):
            return data.removeprefix("\ufeff")
        raise ParameterError(f"file object read() returned {type(data).__name__}, not str or bytes")
    raise ParameterError(
        f"cannot ingest a {type(source).__name__}: pass content (str or bytes), a path or a "
        "file object"
    )


# ----------------------------------------------------------------------- column names


def _resolve_names(
    raw: Sequence[Any], *, required: Sequence[str], what: str, hint: str = ""
) -> tuple[dict[str, int], dict[str, int]]:
    """Positions of the required fields and of the extra columns among `raw` names.

    Duplicates are errors, not first-wins, because which of two `lat` columns is meant
    cannot be guessed and a silent choice would validate the wrong data.
    """
    names = [str(name).strip().lower() for name in raw]
    if "" in names:
        raise IngestError(f"{what} column {names.index('') + 1} has no name; name every column")
    canonical_of = {alias: c for c in required for alias in COLUMN_ALIASES[c]}
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        positions.setdefault(canonical_of.get(name, name), []).append(i)
    duplicates = {key: idx for key, idx in positions.items() if len(idx) > 1}
    if duplicates:
        listed = "; ".join(
            f"{key} given by {', '.join(repr(str(raw[i]).strip()) for i in idx)}"
            for key, idx in duplicates.items()
        )
        raise IngestError(f"duplicate columns in the {what}: {listed}; keep one of each")
    missing = [c for c in required if c not in positions]
    if missing:
        accepted = "; ".join(f"{c}: {' | '.join(COLUMN_ALIASES[c])}" for c in missing)
        found = ", ".join(repr(str(name)) for name in raw) or "nothing"
        raise IngestError(
            f"missing required column(s) {', '.join(missing)} in the {what} (accepted names, "
            f"case-insensitive: {accepted}); found {found}{hint}"
        )
    fields = {c: positions[c][0] for c in required}
    extras = {key: idx[0] for key, idx in positions.items() if key not in fields}
    return fields, extras


# ------------------------------------------------------------------------- cell parsing


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


# ISO 8601 parsing on code points ------------------------------------------------------

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

    def __init__(self, u: np.ndarray) -> None:
        n = u.shape[0]
        by_row = np.ascontiguousarray(u).view(np.uint32).reshape(n, -1)
        self.n, self.width = by_row.shape
        self.cols = np.ascontiguousarray(by_row.T).view(np.int32)  # code points < 2**31
        self.flat = self.cols.ravel()
        self.length = np.count_nonzero(self.cols, axis=0)
        self.rows = np.arange(n)

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
    ok &= (month >= 1) & (month <= 12) & (hour <= 23) & (minute <= 59) & (second <= 59)
    # Calendar arithmetic by numpy's datetime64: days at the start of this and next month.
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    following = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ok &= (day >= 1) & (day <= following - first)
    seconds = (first + day - 1) * 86_400 + hour * 3600 + minute * 60 + second - offset
    return np.where(ok, seconds.astype(np.float64), np.nan)


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
    if not _lenient_cells(texts):
        try:  # all epoch strings: one pass; an ISO column fails on its first cell
            values = np.fromiter(map(float, texts), dtype=np.float64, count=n)
        except (ValueError, TypeError, OverflowError):
            pass
        else:
            return np.floor(values), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    # Per cell from here on, with the same verdict as the pass above for every cell, so
    # that no row's fate depends on its neighbours (or on where a batch boundary falls).
    lengths = np.fromiter(map(len, texts), dtype=np.intp, count=n)
    too_long = lengths > _MAX_TIMESTAMP_CHARS  # never ISO; still read as epoch seconds
    short = texts
    if too_long.any():
        short = ["" if long else s for s, long in zip(texts, too_long.tolist(), strict=True)]
    u = np.array(short, dtype=str)
    cp = _CodePoints(u)
    if cp.padded().any():
        u = np.char.strip(u, _ASCII_BLANKS)  # what `padded` tests; float() strips the same
        cp = _CodePoints(u)
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


# --------------------------------------------------------------------------- validation


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

    def with_bad_cells(self) -> _Field:
        """This field keeping only its unparseable cells, keyed by row index.

        The reasons quote only those cells, so the rest of the source text can be freed.
        """
        bad = np.flatnonzero(self.unparseable).tolist() if self.unparseable is not None else []
        cells = {i: self.cells[i] for i in bad} if self.cells is not None else None
        return _Field(
            self.name, self.values, self.lo, self.hi, self.missing, self.unparseable, cells
        )

    def explain(self, i: int) -> tuple[str, str]:
        """(kind, reason) for row i, which failed `ok`."""
        name = self.name
        if self.missing is not None and self.missing[i]:
            return f"missing {name}", f"missing {name}"
        if self.unparseable is not None and self.unparseable[i]:
            cell = self.cells[i] if self.cells is not None else self.values[i]
            return f"unparseable {name}", f"unparseable {name} {_quote(cell)}"
        v = float(self.values[i])
        if np.isnan(v):
            return f"{name} not finite", f"{name} is NaN"
        if np.isinf(v):
            return f"{name} not finite", f"{name} is {'inf' if v > 0 else '-inf'}"
        return _range_reason(name, v)


def _int_text(cell: int) -> str:
    """Decimal text of an int, or exact hex beyond Python's int-to-str digit limit (4300)."""
    try:
        return str(cell)
    except ValueError:
        return hex(cell)


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


Structural = dict[int, tuple[str, str]]  # row index -> (kind, reason), checked before fields


def _explain(
    bad: np.ndarray, fields: Sequence[_Field], oks: Sequence[np.ndarray], structural: Structural
) -> tuple[Rejection, ...]:
    """One Rejection per bad row: its structural problem, else its first failing field."""
    first = np.argmin(np.stack([ok[bad] for ok in oks]), axis=0) if bad.size else bad
    rejected = []
    for i, f in zip(bad.tolist(), first.tolist(), strict=True):
        kind, reason = structural[i] if i in structural else fields[f].explain(i)
        rejected.append(Rejection(row=i + 1, reason=reason, kind=kind))
    return tuple(rejected)


def _assemble(
    n: int,
    fields: Sequence[_Field],
    extras: Callable[[np.ndarray | None], dict[str, np.ndarray]],
    structural: Structural | None = None,
) -> IngestResult:
    """Validate the four fields, quarantine bad rows with reasons, build the table."""
    structural = structural or {}
    oks = [f.ok() for f in fields]
    good = oks[0] & oks[1] & oks[2] & oks[3]
    if structural:
        good[list(structural)] = False
    bad = np.flatnonzero(~good)
    keep = None if bad.size == 0 else good

    def pick(values: np.ndarray) -> np.ndarray:
        return values.copy() if keep is None else values[keep]

    lat, lon, t, value = fields
    table = PointTable(
        lat=pick(lat.values).astype(np.float64, copy=False),
        lon=pick(lon.values).astype(np.float64, copy=False),
        t=pick(t.values).astype(np.int64, copy=False),
        value=pick(value.values).astype(np.float64, copy=False),
        extra=extras(keep),
    )
    return IngestResult(table=table, rejected=_explain(bad, fields, oks, structural), rows_read=n)


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


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while millions of small str/list objects are made.

    None of them form cycles, yet each allocation burst triggers full collections that
    rescan everything made so far: measured ~2x on csv parsing and ~7x on the transpose.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ------------------------------------------------------------------------------- CSV


def _first_char(content: str) -> str:
    """First non-whitespace character ('' if none) without copying a large input."""
    return (content[:4096].lstrip() or content.lstrip())[:1]


def _check_not_json(head: str) -> None:
    """A CSV reader would misreport a JSON document row by row: say what it is instead."""
    if head[:1] in ("{", "["):
        raise IngestError(
            f"not CSV: the input looks like JSON (it starts with {head[0]!r}); use "
            "ingest_geojson() for a FeatureCollection, or ingest() to dispatch by content"
        )


def _check_csv_text(content: str) -> None:
    """Whole-input problems a CSV parser would misreport row by row."""
    head = _first_char(content)
    if not head:
        raise IngestError(
            "empty input: no header row (expected a header naming lat, lon, timestamp, value)"
        )
    _check_not_json(head)
    nul = content.find("\x00")
    if nul >= 0:
        raise IngestError(
            f"not CSV: NUL character at offset {nul} (line {content.count(chr(10), 0, nul) + 1}); "
            "binary data?"
        )


def _file_lines(fh: IO[str], name: str) -> Iterator[str]:
    """Lines of a text file with the whole-input checks `_check_csv_text` makes of text.

    A file is streamed rather than read whole, so NUL, non-UTF-8 bytes and JSON are caught
    line by line here; the verdict is the same IngestError either way.
    """
    number = 0
    started = False
    try:
        for number, line in enumerate(fh, 1):
            if "\x00" in line:
                raise IngestError(f"not CSV: NUL character on line {number} of {name}; binary?")
            if not started and line.strip():
                _check_not_json(line.lstrip())
                started = True
            yield line
    except UnicodeDecodeError as err:
        raise IngestError(
            f"{name} is not valid UTF-8: byte 0x{err.object[err.start]:02x} after line "
            f"{number} cannot be decoded; re-save the file as UTF-8"
        ) from None


_MALFORMED = object()  # first cell of a record the csv module could not parse


def _tolerant_records(reader: Any) -> Iterator[list[Any]]:
    """Every record of a csv reader; a malformed one becomes ``[_MALFORMED, why]``.

    WHY: a stray character after a closing quote or one over-long field is a problem of
    one row, and must quarantine that row, not fail the file. After such an error the csv
    module drops the rest of the offending line and resumes on the next one. Two errors
    concern the input as a whole and raise: a quoted field still open at the end of the
    input, and an over-long field spanning several lines (both: a quote never closed).
    """
    done = 0  # lines consumed by the records before the current one
    while True:
        try:
            for record in reader:
                yield record
                done = reader.line_num
            return
        except csv.Error as err:
            unclosed = "end of data" in str(err)
            if unclosed or ("field limit" in str(err) and reader.line_num - done > 1):
                raise IngestError(
                    f"not CSV: {err} at line {reader.line_num}; a quoted field opened on line "
                    f"{done + 1} is probably never closed"
                ) from None
            yield [_MALFORMED, f"malformed CSV record on line {reader.line_num}: {err}"]
            done = reader.line_num


def _drop_blank_lines(rows: list[list[str]], width: int) -> list[list[str]]:
    """Remove whitespace-only lines, which csv yields as one blank field."""
    if width == 1:
        return rows
    lengths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
    blank = {i for i in np.flatnonzero(lengths == 1).tolist() if not rows[i][0].strip()}
    return [row for i, row in enumerate(rows) if i not in blank] if blank else rows


@dataclass(frozen=True)
class _CsvBatch:
    """One batch of CSV records parsed to arrays; its Python str objects are already gone.

    Row indices (in `structural` and the fields' `cells`) count from the batch's first row.
    """

    n: int
    fields: list[_Field]  # `cells` keeps only the unparseable cells
    structural: Structural
    extras: dict[str, np.ndarray]


def _record_problem(record: list[Any], width: int) -> tuple[str, str]:
    """(kind, reason) of a record that cannot be split into the header's columns."""
    if record[0] is _MALFORMED:
        return "malformed record", record[1]
    return "wrong field count", f"expected {width} fields, got {len(record)}"


def _parse_csv_batch(
    data: list[list[Any]], width: int, fields: dict[str, int], extras: dict[str, int]
) -> _CsvBatch:
    data = _drop_blank_lines(data, width)
    lengths = np.fromiter(map(len, data), dtype=np.intp, count=len(data))
    structural: Structural = {}
    for i in np.flatnonzero(lengths != width).tolist():  # width >= 4 > len([_MALFORMED, why])
        structural[i] = _record_problem(data[i], width)
        data[i] = [""] * width
    columns = list(zip(*data, strict=True)) if data else [()] * width
    parsed = [
        _numeric_field("lat", columns[fields["lat"]], LAT_RANGE, typed=False),
        _numeric_field("lon", columns[fields["lon"]], LON_RANGE, typed=False),
        _timestamp_field(columns[fields["timestamp"]], typed=False),
        _numeric_field("value", columns[fields["value"]], VALUE_RANGE, typed=False),
    ]
    return _CsvBatch(
        n=len(data),
        fields=[f.with_bad_cells() for f in parsed],
        structural=structural,
        extras={name: _text_column(columns[j]) for name, j in extras.items()},
    )


def _csv_header(header: list[Any] | None, hint: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """(number of columns, positions of the four fields, positions of the extras)."""
    if header is None:
        raise IngestError("empty input: only blank lines, no header row")
    if header[0] is _MALFORMED:
        raise IngestError(f"not CSV: the header row is malformed ({header[1]})")
    if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        hint += "; the header has no comma: the delimiter must be ','"
    fields, extras = _resolve_names(header, required=CANONICAL, what="CSV header", hint=hint)
    return len(header), fields, extras


def _parsed_csv_batches(
    lines: Iterable[str], *, batch_rows: int, keep_extras: bool, hint: str = ""
) -> Iterator[_CsvBatch]:
    """The one CSV parser and rulebook: records (quoted newlines included) in batches.

    WHY batches: a million csv records are ~5 million small Python objects; made all at
    once, their memory is fresh pages from the OS each time, and on a VM the page faults
    cost more than the parsing. Batches reuse the same memory and bound the peak. Every
    rule is per row, so no verdict depends on where a batch boundary falls. At least one
    batch is yielded (an empty one for a header-only input).
    """
    reader = csv.reader(lines, **_CSV_DIALECT)
    records = filter(None, _tolerant_records(reader))
    width, fields, extras = _csv_header(next(records, None), hint)
    kept = extras if keep_extras else {}
    first = True
    while True:
        with _gc_paused():
            data = list(islice(records, batch_rows))
            if not data and not first:
                return
            batch = _parse_csv_batch(data, width, fields, kept)
        first = False
        yield batch


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
                np.concatenate([p.missing for p in parts]),
                np.concatenate([p.unparseable for p in parts]),
                cells,
            )
        )
    return offsets[-1], out, structural


def _text_extras(batches: Sequence[_CsvBatch]) -> Callable[[np.ndarray | None], dict]:
    """Extra columns: float64 when every accepted cell parses as a number, else text."""

    def build(keep: np.ndarray | None) -> dict[str, np.ndarray]:
        out = {}
        for name in batches[0].extras:
            column = np.concatenate([b.extras[name] for b in batches])
            chosen = column if keep is None else column[keep]
            out[name] = _float_or_text(chosen)
        return out

    return build


def _no_extras(keep: np.ndarray | None) -> dict[str, np.ndarray]:
    return {}


def _float_or_text(column: np.ndarray) -> np.ndarray:
    """float64 when every cell is a number by the strict rule, else the text as is."""
    if column.size and _lenient_cells(column.tolist()):
        return column
    try:
        return column.astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        return column


def _csv_from_text(content: str, *, hint: str = "") -> IngestResult:
    """Parse and validate CSV text (see `_parsed_csv_batches`)."""
    _check_csv_text(content)
    lines = io.StringIO(content, newline="")
    batches = list(
        _parsed_csv_batches(lines, batch_rows=_CSV_BATCH_ROWS, keep_extras=True, hint=hint)
    )
    n, fields, structural = _concat_batches(batches)
    return _assemble(n, fields, _text_extras(batches), structural)


def iter_csv_batches(
    path: str | os.PathLike[str], *, batch_rows: int
) -> Iterator[tuple[int, IngestResult]]:
    """Stream a CSV file as (number of its first row, validated result) per batch.

    The same parser, rules, reasons and row numbers as `ingest_csv` (which reads the file
    whole), in memory O(batch_rows): a batch's rejected rows are numbered within the
    batch, so the file row of a rejection is ``first_row + rejection.row - 1``. Extra
    columns are not kept. Raises IngestError for what `ingest_csv` would refuse as a whole
    (no header, a missing column, not UTF-8, NUL, not a regular file), possibly after
    yielding the batches before the problem.
    """
    if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1:
        raise ParameterError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    name = str(path)
    with (
        _open_regular(Path(path)) as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh,
    ):
        lines = _file_lines(fh, name)
        first_row = 1
        for batch in _parsed_csv_batches(lines, batch_rows=batch_rows, keep_extras=False):
            if batch.n:
                yield first_row, _assemble(batch.n, batch.fields, _no_extras, batch.structural)
            first_row += batch.n


def ingest_csv(source: Source, *, text: bool | None = None) -> IngestResult:
    """Ingest CSV from content (str/bytes), a path, or a text or binary file object.

    A str is content when it is empty, has a line break or a comma, or starts with '{' or
    '['; otherwise a path. `text=True` forces content, `text=False` forces a path.
    """
    auto_single_line = (
        isinstance(source, str) and text is None and _is_inline(source, None) and "\n" not in source
    )
    content = _read_text(source, text=text)
    hint = " (if this was a file path, pass text=False)" if auto_single_line else ""
    return _csv_from_text(content, hint=hint)


# ----------------------------------------------------------------------- records/GeoJSON


def _record_columns(
    records: Sequence[Mapping[Any, Any]], *, required: Sequence[str], what: str
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Cells per required field and per extra key, one list per column, absent -> None."""
    keys = list(dict.fromkeys(chain.from_iterable(records)))
    fields, extras = _resolve_names(keys, required=required, what=what)
    getter = operator.methodcaller

    def column(position: int) -> list[Any]:
        return list(map(getter("get", keys[position]), records))

    return (
        {name: column(j) for name, j in fields.items()},
        {name: column(j) for name, j in extras.items()},
    )


def _mapping_rows(items: Sequence[Any], what: str) -> tuple[list[Mapping[Any, Any]], Structural]:
    """The items as mappings; a non-mapping becomes {} and a structural rejection."""
    if all(issubclass(k, Mapping) for k in set(map(type, items))):
        return list(items), {}
    structural: Structural = {}
    rows: list[Mapping[Any, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            rows.append(item)
        else:
            rows.append({})
            structural[i] = (
                f"{what} not a mapping",
                f"{what} is a {type(item).__name__}, not a mapping",
            )
    return rows, structural


def ingest_records(records: Sequence[Mapping[str, Any]]) -> IngestResult:
    """Ingest a sequence of dicts with the CSV schema and aliases (values may be str)."""
    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Sequence):
        raise IngestError(
            f"records must be a sequence of mappings, got {type(records).__name__}"
            + (
                "; for a FeatureCollection use ingest_geojson()"
                if isinstance(records, Mapping)
                else ""
            )
        )
    if not records:
        raise IngestError("empty input: no records (the schema cannot be checked)")
    with _gc_paused():
        rows, structural = _mapping_rows(records, "record")
        fields, extras = _record_columns(rows, required=CANONICAL, what="record keys")
        return _assemble(
            len(rows),
            [
                _numeric_field("lat", fields["lat"], LAT_RANGE),
                _numeric_field("lon", fields["lon"], LON_RANGE),
                _timestamp_field(fields["timestamp"]),
                _numeric_field("value", fields["value"], VALUE_RANGE),
            ],
            _cell_extras(extras),
            structural,
        )


def _is_coordinate(x: Any) -> bool:
    kind = type(x)  # exact-type tests first: this runs twice per feature
    return kind is float or kind is int or isinstance(x, np.integer | np.floating)


def _is_mapping(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)  # the ABC check is slow; JSON gives dicts


def _split_features(features: list[Any]) -> tuple[list[Any], list[Any], list[Mapping], Structural]:
    """(lon cells, lat cells, properties, structural problems) of each feature.

    A Python loop by necessity: features are nested JSON objects. It does only the
    structural checks; numbers are validated afterwards, vectorised, like every source.
    """
    n = len(features)
    lons: list[Any] = [None] * n
    lats: list[Any] = [None] * n
    props: list[Mapping] = [{}] * n
    structural: Structural = {}
    for i, feature in enumerate(features):
        if not _is_mapping(feature):
            structural[i] = (
                "not a feature",
                f"feature is a {type(feature).__name__}, not an object",
            )
            continue
        properties = feature.get("properties")
        if properties is not None and not _is_mapping(properties):
            structural[i] = ("bad properties", "properties is not an object")
            continue
        props[i] = properties or {}
        geometry = feature.get("geometry")
        if geometry is None:
            structural[i] = ("missing geometry", "missing geometry")
            continue
        kind = geometry.get("type") if _is_mapping(geometry) else None
        if kind != "Point":
            shown = repr(kind) if _is_mapping(geometry) else f"of a {type(geometry).__name__}"
            structural[i] = ("geometry not Point", f"geometry type {shown} is not Point")
            continue
        coords = geometry.get("coordinates")
        if (
            not isinstance(coords, list | tuple)
            or len(coords) < 2
            or not (_is_coordinate(coords[0]) and _is_coordinate(coords[1]))
        ):
            structural[i] = (
                "bad coordinates",
                f"Point coordinates must be [lon, lat] numbers, got {_quote(coords)}",
            )
            continue
        lons[i], lats[i] = coords[0], coords[1]
    return lons, lats, props, structural


def _geojson_from_doc(doc: Any) -> IngestResult:
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
        got = repr(doc.get("type")) if isinstance(doc, Mapping) else f"a JSON {type(doc).__name__}"
        raise IngestError(
            f"GeoJSON must be a FeatureCollection, got {got}; wrap features as "
            '{"type": "FeatureCollection", "features": [...]}'
        )
    features = doc.get("features")
    if not isinstance(features, list):
        raise IngestError("the FeatureCollection has no 'features' list")
    with _gc_paused():
        lons, lats, props, structural = _split_features(features)
        fields, extras = (
            _record_columns(props, required=("timestamp", "value"), what="feature properties")
            if features
            else ({"timestamp": [], "value": []}, {})
        )
        return _assemble(
            len(features),
            [
                _numeric_field("lat", lats, LAT_RANGE),
                _numeric_field("lon", lons, LON_RANGE),
                _timestamp_field(fields["timestamp"]),
                _numeric_field("value", fields["value"], VALUE_RANGE),
            ],
            _cell_extras(extras),
            structural,
        )


def _parse_json(content: str) -> Any:
    if not _first_char(content):
        raise IngestError("empty input: no JSON document")
    try:
        with _gc_paused():  # millions of small dicts and floats, none in a cycle
            try:
                return json.loads(content)
            except json.JSONDecodeError:
                raise
            except ValueError:  # an integer beyond the int-to-str limit: rare, so retried
                return json.loads(content, parse_int=_json_int)
    except json.JSONDecodeError as err:
        raise IngestError(
            f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except RecursionError:
        raise IngestError("invalid JSON: nested too deeply") from None


def _json_int(text: str) -> int | float:
    """A JSON integer; one past Python's 4300-digit limit becomes float (inf).

    No field accepts a number that large, so its row is quarantined as not finite, and an
    extra column keeps it as inf, instead of the whole document failing to parse.
    """
    return int(text) if len(text) < 4300 else float(text)


def ingest_geojson(source: Source | Mapping[str, Any], *, text: bool | None = None) -> IngestResult:
    """Ingest a GeoJSON FeatureCollection of Points (a dict, JSON text, a path or a file).

    Coordinates give lon/lat; properties give timestamp (or an alias) and value, every
    other property is an extra column. A property named like lat/lon is an extra, since
    the geometry is the position.
    """
    doc = source if isinstance(source, Mapping) else _parse_json(_read_text(source, text=text))

    return _geojson_from_doc(doc)


# ----------------------------------------------------------------------------- columns


def _as_column(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise IngestError(f"{name} must be a 1-D array, got shape {array.shape}")
    return array


def _numeric_column_field(name: str, array: np.ndarray, bounds: tuple[float, float]) -> _Field:
    if array.dtype.kind in "fiu":
        return _Field(name, array.astype(np.float64, copy=False), *bounds)
    if array.dtype.kind in "USO":
        return _numeric_field(name, array.tolist(), bounds)
    raise IngestError(f"{name} must be numeric, got dtype {array.dtype}")


# Seconds per datetime64 unit; months and years by their Gregorian mean, which is only
# used to tell values far outside the accepted range from the rest.
_UNIT_SECONDS = {
    "Y": 31_556_952.0,
    "M": 2_629_746.0,
    "W": 604_800.0,
    "D": 86_400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "ns": 1e-9,
    "ps": 1e-12,
    "fs": 1e-15,
    "as": 1e-18,
}
_FAR_SECONDS = 1e11  # beyond ~1200..5100 AD: surely out of range, and safe to convert to s


def _datetime_field(array: np.ndarray) -> _Field:
    """Epoch seconds of a datetime64 column, with values beyond int64 seconds kept out.

    WHY: numpy's unit conversion overflows silently (datetime64[D] 2**62 becomes a date
    in 1970), so values far from the accepted range are never converted: they keep an
    approximate float of seconds, which the range check then rejects.
    """
    unit, count = np.datetime_data(array.dtype)
    nat = np.isnat(array)
    if unit == "generic":  # only NaT has no unit
        return _Field("timestamp", np.full(array.shape, np.nan), T_MIN, T_MAX, missing=nat)
    per_unit = _UNIT_SECONDS[unit] * count
    approx = array.view(np.int64).astype(np.float64) * per_unit
    near = ~nat & (np.abs(approx) < _FAR_SECONDS)
    seconds = np.where(nat, np.nan, approx)  # NaN fails the range test; `missing` says why
    seconds[near] = array[near].astype("datetime64[s]").view(np.int64)  # floors finer units
    return _Field("timestamp", seconds, T_MIN, T_MAX, missing=nat)


def _time_column_field(array: np.ndarray) -> _Field:
    kind = array.dtype.kind
    if kind == "i":
        return _Field("timestamp", array.astype(np.int64, copy=False), T_MIN, T_MAX)
    if kind in "fu":  # float epochs are floored; uint may exceed int64, so compare as float
        return _Field("timestamp", np.floor(array.astype(np.float64)), T_MIN, T_MAX)
    if kind == "M":
        return _datetime_field(array)
    if kind in "USO":
        return _timestamp_field(array.tolist())
    raise IngestError(f"t must be epoch seconds or datetime64, got dtype {array.dtype}")


def ingest_columns(lat: Any, lon: Any, t: Any, value: Any, **extra: Any) -> IngestResult:
    """Validate numpy columns: the workflows' hot path, one mask per check and no row loop.

    `t` is epoch seconds (int or float, floored) or datetime64 (NaT is 'missing'); string
    columns are parsed like CSV cells. Extra columns are kept with their dtype.
    """
    arrays = {
        "lat": _as_column("lat", lat),
        "lon": _as_column("lon", lon),
        "t": _as_column("t", t),
        "value": _as_column("value", value),
    }
    extras = {name: _as_column(name, col) for name, col in extra.items()}
    lengths = {name: len(a) for name, a in (arrays | extras).items()}
    n = lengths["lat"]
    if set(lengths.values()) != {n}:
        raise IngestError(f"columns differ in length: {lengths}")
    fields = [
        _numeric_column_field("lat", arrays["lat"], LAT_RANGE),
        _numeric_column_field("lon", arrays["lon"], LON_RANGE),
        _time_column_field(arrays["t"]),
        _numeric_column_field("value", arrays["value"], VALUE_RANGE),
    ]

    def select(keep: np.ndarray | None) -> dict[str, np.ndarray]:
        return {name: a.copy() if keep is None else a[keep] for name, a in extras.items()}

    return _assemble(n, fields, select)


# ----------------------------------------------------------------------------- dispatch

_SUFFIX_FORMAT = {".csv": "csv", ".txt": "csv", ".geojson": "json", ".json": "json"}
_FORMATS = ("csv", "geojson", "json", "records")


def ingest(source: Any, *, format: str | None = None) -> IngestResult:
    """Ingest any supported source, choosing the reader by type, extension or content.

    dict -> GeoJSON; list/tuple -> records; a path ending .csv/.txt -> CSV,
    .geojson/.json -> JSON; otherwise content starting with '{' or '[' is JSON, else CSV.
    A JSON array is a list of records. `format` ("csv", "geojson", "json", "records")
    overrides the guess.
    """
    if format is not None and format not in _FORMATS:
        raise ParameterError(f"unknown format {format!r}; use one of {', '.join(_FORMATS)}")
    if isinstance(source, Mapping):
        return _geojson_from_doc(source)
    if isinstance(source, list | tuple) or format == "records":
        return ingest_records(source)
    if format is None and (
        isinstance(source, os.PathLike)
        or (isinstance(source, str) and not _is_inline(source, None))
    ):
        format = _SUFFIX_FORMAT.get(Path(source).suffix.lower())
    content = _read_text(source, text=None)
    if format is None:
        format = "json" if _first_char(content) in ("{", "[") else "csv"
    if format == "csv":
        return _csv_from_text(content)
    doc = _parse_json(content)
    if isinstance(doc, list) and format == "json":
        return ingest_records(doc)
    return _geojson_from_doc(doc)
