"""The pyarrow CSV engine: a block of CSV bytes split and converted in C, for every block
it reads exactly as the csv module would; for any other block the caller (`csv`) falls
back to the csv module for the whole input.

WHY: the csv module makes ~5 Python objects per record and the number rule one more per
cell; at 1e6 rows that is most of the time and memory of ingestion. pyarrow splits the
bytes in C without Python objects. The two readers agree on a block with no quote
character, no NUL, no line ending but LF or CRLF, valid UTF-8 and no field over the csv
module's field limit (`_readable`); everything else (quoted fields, malformed records,
the whole-input errors) keeps the csv module's verdicts, unchanged.

How the csv module's reading (`csv._CSV_DIALECT`) is reproduced on such a block:

- skipinitialspace: spaces at the start of a cell are trimmed, in every column;
- a line with the wrong number of fields reaches pyarrow's invalid-row handler and is a
  'wrong field count' row; a whitespace-only line is no record (`csv._drop_blank_lines`);
- numbers: pyarrow's string-to-float cast, whose accepted forms are a subset of the
  strict number rule with the same values once "nan(...)" is kept from it (a block with
  a "(" is cast only where a cell is a plain decimal; tests/test_ingest_engine.py checks
  both), for the plain decimal cells; every other cell by the strict rule itself
  (`numbers._parse_float_cells`);
- timestamps: ISO 8601 cells read by the same code-point parser (`timestamps._parse_iso`)
  straight from the UTF-8 bytes, with no Python str per cell; any other cell (epoch
  seconds, padded, non-ASCII, blank) by `timestamps._parse_timestamp_cells`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geoinfer_workflows.modules.ingest.batches import _CsvBatch, _field_count_problem
from geoinfer_workflows.modules.ingest.extras import _text_column
from geoinfer_workflows.modules.ingest.fields import _Field
from geoinfer_workflows.modules.ingest.numbers import _parse_float_cells, _split_failures
from geoinfer_workflows.modules.ingest.pooled import pooled_empty
from geoinfer_workflows.modules.ingest.result import Structural
from geoinfer_workflows.modules.ingest.rules import (
    CANONICAL,
    LAT_RANGE,
    LON_RANGE,
    T_MAX,
    T_MIN,
    VALUE_RANGE,
)
from geoinfer_workflows.modules.ingest.timestamps import (
    _C,
    _MAX_TIMESTAMP_CHARS,
    _CodePoints,
    _parse_iso,
    _parse_iso_fixed,
    _parse_timestamp_cells,
)

_FIELD_LIMIT = 131_072  # csv.field_size_limit(): a longer field is the csv module's to judge
# A cell of this form is a number by the strict rule and pyarrow's cast reads it.
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_BOUNDS = {"lat": LAT_RANGE, "lon": LON_RANGE, "value": VALUE_RANGE}


def _readable(block: bytes) -> bool:
    """Whether pyarrow reads this block exactly as the csv module would (see the module)."""
    if b'"' in block or b"\x00" in block:
        return False
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return False
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _one_chunk(column: Any) -> Any:
    """The array of a chunked column, without a copy when it has a single chunk."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


class _Columns:
    """The well-formed rows of a block (pyarrow string arrays) placed among all its records.

    `where` holds the record index of each well-formed row (None when every record is
    well formed); a row with the wrong number of fields is in `structural` instead.
    """

    def __init__(self, block: bytes, width: int) -> None:
        import pyarrow as pa  # lazily: pyarrow takes ~0.2 s to import, the CLI starts without it
        import pyarrow.compute as pc
        from pyarrow import csv as pa_csv

        odd: list[tuple[int, int, str]] = []

        def handler(row: Any) -> str:
            odd.append((row.number, row.actual_columns, row.text))
            return "skip"

        names = [f"c{j}" for j in range(width)]
        table = pa_csv.read_csv(
            pa.py_buffer(block),
            read_options=pa_csv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(block) + 1
            ),
            parse_options=pa_csv.ParseOptions(quote_char=False, invalid_row_handler=handler),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.binary()), strings_can_be_null=False
            ),
        )
        # `number` counts non-empty lines; a whitespace-only line is no record.
        self.structural: Structural = {}
        blank = 0
        for number, got, text in sorted(odd):
            if not text.strip():
                blank += 1
            else:
                self.structural[number - 1 - blank] = _field_count_problem(width, got)
        self.n = table.num_rows + len(self.structural)
        self.where: np.ndarray | None = None
        self.keep: np.ndarray | None = None  # `where` as a mask: the faster to spread with
        if self.structural:
            self.keep = np.ones(self.n, dtype=bool)
            self.keep[list(self.structural)] = False
            self.where = np.flatnonzero(self.keep)
        trim = b" " in block  # one byte is a fast scan; ", " would be a slow one
        # binary, then seen as UTF-8 without pyarrow's check: `_readable` checked the block;
        # one block is one chunk (block_size above), which combine_chunks would copy
        self.columns = [_one_chunk(table.column(j)).view(pa.string()) for j in range(width)]
        if trim:
            self.columns = [pc.utf8_ltrim(col, characters=" ") for col in self.columns]
        longest = max((pc.max(pc.binary_length(c)).as_py() or 0 for c in self.columns), default=0)
        self.readable = longest <= _FIELD_LIMIT and not any(
            len(odd_text) > _FIELD_LIMIT for _, _, odd_text in odd
        )

    def spread(self, values: np.ndarray, fill: Any) -> np.ndarray:
        """A per-row array of the well-formed rows as one per record, `fill` elsewhere."""
        if self.keep is None:
            return values
        out = pooled_empty(self.n, values.dtype)  # see pooled.py
        out[list(self.structural)] = fill
        out[self.keep] = values
        return out

    def field(
        self, name: str, bounds: tuple[float, float], parsed: tuple[np.ndarray, ...], col: Any
    ) -> _Field:
        """A field from (values, missing, unparseable) of the well-formed rows."""
        values, missing, unparseable = parsed
        bad = np.flatnonzero(unparseable)
        missing = missing if missing.any() else None  # None: no row failed (saves memory)
        unparseable = unparseable if bad.size else None
        texts = col.take(bad).to_pylist() if bad.size else []
        rows = bad if self.where is None else self.where[bad]
        return _Field(
            name,
            self.spread(values, np.nan),
            *bounds,
            None if missing is None else self.spread(missing, False),
            None if unparseable is None else self.spread(unparseable, False),
            dict(zip(rows.tolist(), texts, strict=True)),
        )

    def extra(self, j: int) -> np.ndarray:
        """Extra column j as the csv engine builds it: text, '' on malformed rows."""
        cells = self.columns[j].to_pylist()
        if self.where is not None:
            full = [""] * self.n
            for i, cell in zip(self.where.tolist(), cells, strict=True):
                full[i] = cell
            cells = full
        return _text_column(cells)


def _scatter(rows: np.ndarray, parsed: tuple[np.ndarray, ...], into: list) -> None:
    """Write the (values, missing, unparseable) of `rows` into the block-wide arrays."""
    for target, part in zip(into, parsed, strict=True):
        target[rows] = part


def _cast_floats(col: Any, castable: bool) -> np.ndarray | None:
    """float64 of every cell by pyarrow's cast, or None when a cell fails it or may be one
    the cast reads and the strict rule does not (not `castable`: see `_numbers`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not castable:
        return None
    try:
        return pc.cast(col, pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        return None


def _numbers(col: Any, castable: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64, missing, unparseable) of a string column by the strict number rule;
    `castable`: no cell has a "(" (pyarrow's cast reads "nan(1)", the strict rule not)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(col)
    values = _cast_floats(col, castable)
    if values is not None:
        return values, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    plain = pc.match_substring_regex(col, _PLAIN_NUMBER)
    out = [np.full(n, np.nan), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)]
    try:  # a plain cell pyarrow cannot cast (hundreds of digits) sends all to the rule
        out[0][plain.to_numpy(zero_copy_only=False)] = pc.cast(
            col.filter(plain), pa.float64()
        ).to_numpy()
        rest = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
    except pa.ArrowInvalid:
        rest = np.arange(n)
    cells = col.take(rest).to_pylist()
    values, bad = _parse_float_cells(cells)
    _scatter(rest, (values, *_split_failures(cells, bad, len(cells))), out)
    return out[0], out[1], out[2]


def _iso_rows(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(rows, bytes) of the cells that may be ISO 8601: 10..64 bytes, '-' at byte 4.

    `bytes` is a (rows, width) uint8 matrix, zero past each cell's end, read from the
    string array's UTF-8 buffer: one reshape when every cell has the same length (the
    usual column), else one gather per byte position.
    """
    _, offsets_buffer, data_buffer = col.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(1, np.uint8)
    lengths = np.diff(offsets)
    if lengths.size and 10 <= lengths[0] <= _MAX_TIMESTAMP_CHARS and lengths.min() == lengths.max():
        by_row = data[offsets[0] : offsets[-1]].reshape(-1, int(lengths[0]))
        rows = np.flatnonzero(by_row[:, 4] == _C["-"])
        return rows, by_row if rows.size == len(col) else by_row[rows]
    last = max(data.size - 1, 0)
    fits = (lengths >= 10) & (lengths <= _MAX_TIMESTAMP_CHARS)
    rows = np.flatnonzero(fits & (data[np.minimum(offsets[:-1] + 4, last)] == _C["-"]))
    starts, lengths = offsets[rows], lengths[rows]
    by_row = np.zeros((rows.size, int(lengths.max()) if rows.size else 0), dtype=np.uint8)
    for i in range(by_row.shape[1]):
        by_row[:, i] = np.where(lengths > i, data[np.minimum(starts + i, last)], 0)
    return rows, by_row


def _iso_seconds(by_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds, plain) of `_iso_rows` cells: what `_parse_iso` gives each cell that
    is plain (ASCII and not padded: byte positions are then code points); the others are
    left to the Python path."""
    if by_row.shape[1] == 20:
        seconds, done = _parse_iso_fixed(by_row)
        refused = np.flatnonzero(~done)
        done[refused[_fixed_is_final(by_row[refused])]] = True
    else:
        seconds = np.full(by_row.shape[0], np.nan)
        done = np.zeros(by_row.shape[0], dtype=bool)
    left = np.flatnonzero(~done)
    plain = np.ones(by_row.shape[0], dtype=bool)
    if left.size:  # none in the usual column, every cell of the fixed form
        cp = _CodePoints(np.ascontiguousarray(by_row[left].T).astype(np.int32))
        seconds[left] = _parse_iso(cp)
        plain[left] = ~(cp.cols >= 128).any(axis=0) & ~cp.padded()
    return seconds, plain


def _fixed_is_final(by_row: np.ndarray) -> np.ndarray:
    """Which rows of a (n, 20) byte matrix the fixed form's verdict is final for: plain
    cells (ASCII, no blank at either end) of exactly 20 characters.

    WHY: of 20 characters the general parser (`_parse_iso`) reads only the fixed form,
    since its other forms end the time at 10, 13, 16, 19 or more than 20 characters; so a
    row of these the fixed form refused is invalid, without the general parser's hundred
    vector operations (~0.3 ms a block, for the few bad timestamps in it).
    """
    first, last = by_row[:, 0], by_row[:, 19]
    return (first > 32) & (last > 32) & (by_row < 128).all(axis=1)


def _timestamps(col: Any, castable: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epoch seconds float64 floored, missing, unparseable) of a string column.

    Plain ISO 8601 cells are read from their bytes; the others are tried as epoch seconds
    in one cast (what `_parse_timestamp_cells` does in one float pass) when `castable`
    (see `_numbers`), and where that fails, cell by cell by `_parse_timestamp_cells`,
    whose verdict is per cell.
    """

    n = len(col)
    rows, by_row = _iso_rows(col)
    seconds, plain = _iso_seconds(by_row)
    if rows.size == n and plain.all():  # the usual column: every cell plain ISO 8601
        return seconds, np.zeros(n, dtype=bool), np.isnan(seconds)
    out = [np.full(n, np.nan), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)]
    iso = seconds[plain]
    _scatter(rows[plain], (iso, np.zeros(iso.size, dtype=bool), np.isnan(iso)), out)
    rest = np.ones(n, dtype=bool)
    rest[rows[plain]] = False
    others = np.flatnonzero(rest)
    if others.size:
        cells = col if others.size == n else col.take(others)
        epoch = _cast_floats(cells, castable)
        if epoch is None:
            parsed = _parse_timestamp_cells(cells.to_pylist(), all_text=True)
        else:
            parsed = (
                np.floor(epoch),
                np.zeros(others.size, dtype=bool),
                np.zeros(others.size, dtype=bool),
            )
        _scatter(others, parsed, out)
    return out[0], out[1], out[2]


def _arrow_batch(
    block: bytes, width: int, fields: Mapping[str, int], extras: Mapping[str, int]
) -> _CsvBatch | None:
    """The records of a block of CSV data lines (no header) as the csv engine parses them,
    or None when the block is not one pyarrow reads exactly as the csv module would."""
    if not _readable(block):
        return None
    table = _Columns(block, width)
    if not table.readable:
        return None
    castable = b"(" not in block
    parsed = []
    for name in CANONICAL:
        col = table.columns[fields[name]]
        if name == "timestamp":
            parsed.append(table.field(name, (T_MIN, T_MAX), _timestamps(col, castable), col))
        else:
            parsed.append(table.field(name, _BOUNDS[name], _numbers(col, castable), col))
    return _CsvBatch(
        n=table.n,
        fields=parsed,
        structural=table.structural,
        extras={name: table.extra(j) for name, j in extras.items()},
    )
