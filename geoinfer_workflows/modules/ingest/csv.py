"""CSV: the one rulebook for CSV records (a quoted field may hold commas and newlines) and
its two engines: pyarrow (`arrow`) for the blocks it reads exactly as the csv module
does, the csv module for every other input. A file is streamed block by block, so its
text is never in memory whole."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest.arrow import _arrow_batch, _readable
from geoinfer_workflows.modules.ingest.batches import (
    _concat_batches,
    _CsvBatch,
    _field_count_problem,
    _text_extras,
)
from geoinfer_workflows.modules.ingest.extras import _text_column
from geoinfer_workflows.modules.ingest.fields import _cell_fields
from geoinfer_workflows.modules.ingest.reading import (
    Source,
    _first_char,
    _gc_paused,
    _is_inline,
    _open_regular,
    _path_of,
    _read_path,
    _read_text,
)
from geoinfer_workflows.modules.ingest.result import IngestResult, Structural, _assemble
from geoinfer_workflows.modules.ingest.rules import CANONICAL, _resolve_names

_CSV_BATCH_ROWS = 65_536  # records parsed per batch: bounds the Python objects alive at once
# Characters (bytes, for a file) per pyarrow block: bounds the text in memory at once, and
# is large enough that the per-block work in Python is a few percent of the parsing.
_BLOCK_CHARS = 1 << 20
# After _GROW_AFTER blocks, blocks are _GROWTH times larger: a long input spends less in
# per-block work (10% less CPU at 1e6 rows), while a short one keeps small blocks, whose
# temporaries stay small beside its columns (traced peak at 1e5 rows 9.6 MiB, not 21).
_GROW_AFTER = 8
_GROWTH = 4
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


def _record_problem(record: list[Any], width: int) -> tuple[str, str]:
    """(kind, reason) of a record that cannot be split into the header's columns."""
    if record[0] is _MALFORMED:
        return "malformed record", record[1]
    return _field_count_problem(width, len(record))


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


def _parsed_csv_batches(lines: Iterable[str], *, batch_rows: int, hint: str) -> Iterator[_CsvBatch]:
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
    first = True
    while True:
        with _gc_paused():
            data = list(islice(records, batch_rows))
            if not data and not first:
                return
            batch = _parse_csv_batch(data, width, fields, extras)
        first = False
        yield batch


def _csv_module_result(content: str, *, hint: str) -> IngestResult:
    """Parse and validate CSV text with the csv module (see `_parsed_csv_batches`)."""
    _check_csv_text(content)
    lines = io.StringIO(content, newline="")
    batches = list(_parsed_csv_batches(lines, batch_rows=_CSV_BATCH_ROWS, hint=hint))
    return _result(batches)


def _result(batches: list[_CsvBatch]) -> IngestResult:
    """Join and validate the batches: their fields are joined without a copy
    (`batches._JoinedField`), so the values are written once more, into the table."""
    n, fields, structural = _concat_batches(batches)
    extras = _text_extras(batches)
    batches.clear()
    return _assemble(n, fields, extras, structural)


def _arrow_result(blocks: Iterator[bytes], *, hint: str) -> IngestResult | None:
    """The input (UTF-8 blocks of whole lines, the header first) read by the pyarrow
    engine, or None when a block is one only the csv module reads right.

    WHY the header is read here by the csv module: its errors (missing or duplicate
    columns) are the ones users see, worded once, in `_csv_header`.
    """
    try:
        first = next(blocks, b"").removeprefix(codecs.BOM_UTF8)
        end = first.find(b"\n")
        if not first[:1].isalpha() or end < 0 or not _readable(first[: end + 1]):
            return None
        header = next(csv.reader([first[:end].decode().rstrip("\r")], **_CSV_DIALECT))
        width, fields, extras = _csv_header(header, hint)
        batches = []
        for block in itertools.chain([first[end + 1 :]], blocks):
            batch = _arrow_batch(block, width, fields, extras) if block else None
            if block and batch is None:
                return None
            batches += [batch] if batch else []
    except UnicodeEncodeError:  # a lone surrogate in str content: the csv module's case
        return None
    return _result(batches) if batches else None


def _block_sizes(size: int) -> Iterator[int]:
    """The size of each block in turn: `size`, then larger after `_GROW_AFTER` blocks."""
    yield from itertools.repeat(size, _GROW_AFTER)
    yield from itertools.repeat(size * _GROWTH)


def _text_blocks(content: str, size: int) -> Iterator[bytes]:
    """UTF-8 blocks of about `size` characters (see `_block_sizes`), each ending at a line
    end."""
    start = 0
    sizes = _block_sizes(size)
    while start < len(content):
        end = content.find("\n", start + next(sizes)) + 1 or len(content)
        yield content[start:end].encode("utf-8")
        start = end


def _file_blocks(fh: IO[bytes], size: int) -> Iterator[bytes | bytearray]:
    """The first line (the header) alone, then blocks of about `size` bytes (see
    `_block_sizes`) of a binary file, each ending at a line end (or at the end of the
    file): the bytes and the rest of their last line. The header alone: the caller reads
    it without cutting (copying) the first block.

    Every full block of one size is the same bytearray, refilled in place and kept for
    the next call (`_READ_BUFFERS`); the last, partial block is a copy. The consumer is
    done with a block before it asks for the next (pyarrow copies what it parses; a view
    still held makes the next block raise BufferError before a byte is overwritten).
    WHY: a fresh bytes object per block, and another to append the rest of its last
    line, were ~3,000 page faults per call at 1e6 rows (a fault per 4 KiB of fresh
    memory, ~10 ms of a 180 ms ingestion on this VM).
    """
    buffers = _READ_BUFFERS.pop() if _READ_BUFFERS else {}
    try:
        header = fh.readline()
        if header:
            yield header
        for block_size in _block_sizes(size):
            buf = buffers.setdefault(block_size, bytearray())
            # A resize before any write: BufferError while the last block is still viewed
            # (a buffer of exactly `block_size` had no block yielded, or met the end).
            if len(buf) > block_size:
                del buf[block_size:]  # a few bytes: CPython keeps the allocation
            elif len(buf) < block_size:
                buf.extend(bytes(block_size - len(buf)))
            with memoryview(buf) as view:
                got = fh.readinto(view)
                last = bytes(view[:got]) if got < block_size else b""
            if got < block_size:  # the end of the file
                if got:
                    yield last + fh.readline()
                return
            buf += fh.readline()
            yield buf
    finally:
        _READ_BUFFERS.append(buffers)


# The read buffers (one per block size) of finished calls, reused by the next call: one
# set per concurrent call, ~6 MiB each (`_BLOCK_CHARS`, `_GROWTH`).
_READ_BUFFERS: list[dict[int, bytearray]] = []


def _csv_from_text(content: str, *, hint: str = "", block: int = _BLOCK_CHARS) -> IngestResult:
    """Parse and validate CSV text: pyarrow where it reads as the csv module, else the csv
    module (which also raises every whole-input error)."""
    result = _arrow_result(_text_blocks(content, block), hint=hint)
    return result if result is not None else _csv_module_result(content, hint=hint)


def _csv_from_path(path: Path, *, block: int = _BLOCK_CHARS) -> IngestResult:
    """Parse and validate a CSV file streamed in blocks: memory holds one block of text
    plus the parsed columns, never the whole text (unless the csv module must read it)."""
    with _open_regular(path) as fh:
        try:
            result = _arrow_result(_file_blocks(fh, block), hint="")
        except OSError as err:
            raise IngestError(f"cannot read {str(path)!r}: {err.strerror}") from None
    return result if result is not None else _csv_module_result(_read_path(path), hint="")


def ingest_csv(source: Source, *, text: bool | None = None) -> IngestResult:
    """Ingest CSV from content (str/bytes), a path, or a text or binary file object.

    A str is content when it is empty, has a line break or a comma, or starts with '{' or
    '['; otherwise a path. A path is streamed in blocks (memory holds one block of text
    plus the parsed columns), so files of 1e7 rows need no more than their columns. The
    rules (schema, numbers, timestamps, reasons, row numbers) are in the package docstring.

    Parameters
    ----------
    source : str, bytes, os.PathLike or file object
        CSV content, a path to a regular file, or a file object opened in text or binary.
    text : bool, optional
        True forces a str to be content, False forces it to be a path; None guesses.

    Returns
    -------
    IngestResult
        The accepted rows as a PointTable and every rejected row with its reason.

    Raises
    ------
    IngestError
        For a problem of the input as a whole (no header, a required column missing, not
        UTF-8, not CSV, not a regular file); a bad row is quarantined, never raised.

    Examples
    --------
    >>> from geoinfer_workflows.modules.ingest import ingest_csv
    >>> csv_text = "lat,lon,timestamp,value\\n10.5,20,2024-03-01T12:00:00Z,1.5\\n95,20,0,2\\n"
    >>> result = ingest_csv(csv_text)
    >>> result.accepted, result.table.t.tolist(), [(r.row, r.reason) for r in result.rejected]
    (1, [1709294400], [(2, 'lat 95 outside [-90, 90]')])
    """
    path = _path_of(source, text=text)
    if path is not None:
        return _csv_from_path(path)
    auto_single_line = (
        isinstance(source, str) and text is None and _is_inline(source, None) and "\n" not in source
    )
    content = _read_text(source, text=text)
    hint = " (if this was a file path, pass text=False)" if auto_single_line else ""
    return _csv_from_text(content, hint=hint)
