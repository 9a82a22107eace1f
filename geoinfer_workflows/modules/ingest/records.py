"""Records: a sequence of mappings with the CSV schema and aliases (values may be str);
absent keys are missing cells, and a non-mapping item is a rejected row."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest.extras import _cell_extras
from geoinfer_workflows.modules.ingest.fields import _cell_fields
from geoinfer_workflows.modules.ingest.reading import _gc_paused
from geoinfer_workflows.modules.ingest.result import IngestResult, Structural, _assemble
from geoinfer_workflows.modules.ingest.rules import CANONICAL, _resolve_names


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
    """Ingest a sequence of dicts with the CSV schema and aliases (values may be str).

    Parameters
    ----------
    records : sequence of mappings
        One mapping per row; an absent key is a missing cell, and an item that is not a
        mapping is a rejected row.

    Returns
    -------
    IngestResult
        The accepted rows as a PointTable and every rejected row (numbered from 1 by
        position) with its reason.

    Raises
    ------
    IngestError
        Not a sequence, empty, or no record names a required field.

    Examples
    --------
    >>> from geoinfer_workflows.modules.ingest import ingest_records
    >>> rows = [{"latitude": 1, "lng": 2, "time": "2024-03-01", "value": "7"},
    ...         {"latitude": 1, "lng": 2, "time": "2024-03-01", "value": "x"}]
    >>> result = ingest_records(rows)
    >>> result.table.value.tolist(), result.rejected[0].reason
    ([7.0], "unparseable value 'x'")
    """
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
            _cell_fields(*(fields[name] for name in CANONICAL)),
            _cell_extras(extras),
            structural,
        )
