"""`ingest()`, the single entry: chooses the reader by the source's type, a path's suffix
or the content's first character."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.ingest.csv import _csv_from_path, _csv_from_text
from geoinfer_workflows.modules.ingest.geojson import (
    _geojson_from_doc,
    _parse_json,
    _typed_collection,
)
from geoinfer_workflows.modules.ingest.reading import _first_char, _path_of, _read_text
from geoinfer_workflows.modules.ingest.records import ingest_records
from geoinfer_workflows.modules.ingest.result import IngestResult

_SUFFIX_FORMAT = {".csv": "csv", ".txt": "csv", ".geojson": "json", ".json": "json"}
_FORMATS = ("csv", "geojson", "json", "records")


def ingest(source: Any, *, format: str | None = None) -> IngestResult:
    """Ingest any supported source, choosing the reader by type, extension or content.

    dict -> GeoJSON; list/tuple -> records; a path ending .csv/.txt -> CSV (streamed in
    blocks), .geojson/.json -> JSON; otherwise content starting with '{' or '[' is JSON,
    else CSV. A JSON array is a list of records.

    Parameters
    ----------
    source : Mapping, sequence, str, bytes, os.PathLike or file object
        What to ingest (see `ingest_csv`, `ingest_geojson`, `ingest_records`).
    format : {"csv", "geojson", "json", "records"}, optional
        Overrides the guess.

    Returns
    -------
    IngestResult
        What the chosen reader returns.

    Raises
    ------
    ParameterError
        An unknown `format`.
    IngestError
        A problem of the input as a whole (see the reader chosen).

    Examples
    --------
    >>> from geoinfer_workflows.modules.ingest import ingest
    >>> result = ingest(b"lat,lon,timestamp,value\\n1,2,1709294400,3\\n1,2,3\\n")
    >>> result.rows_read, result.reasons_summary()
    (2, {'wrong field count': 1})
    """
    if format is not None and format not in _FORMATS:
        raise ParameterError(f"unknown format {format!r}; use one of {', '.join(_FORMATS)}")
    if isinstance(source, Mapping):
        return _geojson_from_doc(source)
    if isinstance(source, list | tuple) or format == "records":
        return ingest_records(source)
    path = _path_of(source, text=None)
    if format is None and path is not None:
        format = _SUFFIX_FORMAT.get(path.suffix.lower())
    if format == "csv" and path is not None:
        return _csv_from_path(path)  # streamed in blocks
    content = _read_text(source, text=None)
    if format is None:
        format = "json" if _first_char(content) in ("{", "[") else "csv"
    if format == "csv":
        return _csv_from_text(content)
    typed = _typed_collection(content)
    if typed is not None:
        return typed
    doc = _parse_json(content)
    if isinstance(doc, list) and format == "json":
        return ingest_records(doc)
    return _geojson_from_doc(doc)
