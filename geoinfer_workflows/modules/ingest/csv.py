"""CSV: the one parser and rulebook for CSV records (a quoted field may hold commas and
newlines), in batches; whole inputs (`ingest_csv`) and files streamed batch by batch
(`iter_csv_batches`, which `chunked` builds on)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest.extras import _float_or_text, _text_column
from geoinfer_workflows.modules.ingest.fields import _cell_fields, _Field
from geoinfer_workflows.modules.ingest.reading import (
    Source,
    _first_char,
    _gc_paused,
    _is_inline,
    _open_regular,
    _read_text,
)
from geoinfer_workflows.modules.ingest.result import IngestResult, Structural, _assemble
from geoinfer_workflows.modules.ingest.rules import CANONICAL, _resolve_names
from geoinfer_workflows.validation import check_int

_CSV_BATCH_ROWS = 65_536  # records parsed per batch: bounds the Python objects alive at once
_CSV_DIALECT = {"skipinitialspace": True, "strict": True}


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
    parsed = _cell_fields(*(columns[fields[name]] for name in CANONICAL), typed=False)
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
    check_int(batch_rows, "batch_rows", 1)
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
