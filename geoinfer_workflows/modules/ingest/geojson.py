"""GeoJSON: a FeatureCollection of Points (a dict, JSON text, a path or a file object);
coordinates give lon/lat, properties give timestamp, value and the extras."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest.extras import _cell_extras
from geoinfer_workflows.modules.ingest.fields import _cell_fields, _quote
from geoinfer_workflows.modules.ingest.reading import Source, _first_char, _gc_paused, _read_text
from geoinfer_workflows.modules.ingest.records import _record_columns
from geoinfer_workflows.modules.ingest.result import IngestResult, Structural, _assemble


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
            _cell_fields(lats, lons, fields["timestamp"], fields["value"]),
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
