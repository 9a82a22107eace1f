"""Ingestion: point observations (CSV, GeoJSON, records, numpy columns) into a PointTable.

Every input ends in the same validation (`result._assemble`): one boolean mask per
canonical field, one reason per rejected row built only for the rejected rows, and an
invariant checked on every result: accepted + rejected == rows read. Row-level problems
quarantine their row with a reason; only a problem with the input as a whole raises
`IngestError`.

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

Layout, one topic a module, each importing only those above it:

- `rules`: the schema, the one header-alias table, the ranges, the rejection vocabulary.
- `numbers`, `timestamps`: the strict number rule; ISO 8601 and epoch timestamps.
- `fields`: one canonical field parsed from cells, and each failed row's reason.
- `result`: `IngestResult` and `Rejection`; `_assemble`, the one validation.
- `extras`: extra (passenger) columns; `reading`: content, paths and file objects to text.
- `batches`: a batch of parsed CSV columns, and batches joined; `arrow`: the pyarrow CSV
  engine, for every block it reads exactly as the csv module would.
- `csv`, `records`, `geojson`, `columns`: one source each (`csv` chooses the engine and
  streams files in blocks; `geojson` reads the usual document with msgspec, any other
  with json).
- `dispatch`: `ingest()`, the single entry, choosing the reader.

Engines: a CSV block with no quote character, NUL, lone CR or over-long field is split by
pyarrow in C, anything else by the csv module; both give the same verdicts, reasons and
row numbers (tests/test_ingest_engine.py). A CSV path (`ingest_csv(path)`, `ingest(path)`,
`geoinfer-workflows ingest FILE`) is streamed in 1 MiB blocks (4 MiB after the first 8),
so its text is never in memory whole (unless the csv module must read it).
"""

from __future__ import annotations

from geoinfer_workflows.modules.ingest.columns import ingest_columns
from geoinfer_workflows.modules.ingest.csv import ingest_csv
from geoinfer_workflows.modules.ingest.dispatch import ingest
from geoinfer_workflows.modules.ingest.geojson import ingest_geojson
from geoinfer_workflows.modules.ingest.records import ingest_records
from geoinfer_workflows.modules.ingest.result import IngestResult, Rejection
from geoinfer_workflows.modules.ingest.rules import (
    COLUMN_ALIASES,
    MAX_ABS_VALUE,
    REJECTION_KINDS,
    T_MAX,
    T_MIN,
)

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
]
