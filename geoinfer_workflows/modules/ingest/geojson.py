"""GeoJSON: a FeatureCollection of Points (a dict, JSON text, a path or a file object);
coordinates give lon/lat, properties give timestamp, value and the extras."""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

import numpy as np

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest.extras import _cell_extras
from geoinfer_workflows.modules.ingest.fields import (
    _Field,
    _numeric_field,
    _quote,
    _timestamp_field,
)
from geoinfer_workflows.modules.ingest.reading import Source, _first_char, _gc_paused, _read_text
from geoinfer_workflows.modules.ingest.records import _record_columns
from geoinfer_workflows.modules.ingest.result import IngestResult, Structural, _assemble
from geoinfer_workflows.modules.ingest.rules import LAT_RANGE, LON_RANGE, VALUE_RANGE


def _is_coordinate(x: Any) -> bool:
    kind = type(x)  # exact-type tests first: this runs twice per feature
    return kind is float or kind is int or isinstance(x, np.integer | np.floating)


def _is_mapping(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)  # the ABC check is slow; JSON gives dicts


def _clean_features(features: list[Any]) -> tuple[list[Any], list[Any], list[Mapping]] | None:
    """(lon cells, lat cells, properties) when every feature is a dict with a properties
    dict and a Point geometry of [number, number, ...], else None.

    WHY: the usual document; asked column by column (map and itemgetter run in C) it costs
    a fifth of `_split_features`' loop, which stays the rulebook for every other document.
    """
    properties = operator.methodcaller("get", "properties")
    geometry = operator.methodcaller("get", "geometry")
    kind = operator.methodcaller("get", "type")
    coordinates = operator.methodcaller("get", "coordinates")
    if not features or set(map(type, features)) != {dict}:
        return None
    props = list(map(properties, features))
    geoms = list(map(geometry, features))
    if set(map(type, props)) != {dict} or set(map(type, geoms)) != {dict}:
        return None
    if set(map(kind, geoms)) != {"Point"}:
        return None
    coords = list(map(coordinates, geoms))
    if set(map(type, coords)) != {list} or min(map(len, coords)) < 2:
        return None
    lons = list(map(operator.itemgetter(0), coords))
    lats = list(map(operator.itemgetter(1), coords))
    if not set(map(type, lons)) | set(map(type, lats)) <= {float, int}:
        return None
    return lons, lats, props


def _split_features(features: list[Any]) -> tuple[list[Any], list[Any], list[Mapping], Structural]:
    """(lon cells, lat cells, properties, structural problems) of each feature.

    A Python loop by necessity: features are nested JSON objects. It does only the
    structural checks; numbers are validated afterwards, vectorised, like every source.
    """
    clean = _clean_features(features)
    if clean is not None:
        return *clean, {}
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
        lat = _numeric_field("lat", lats, LAT_RANGE)
        return _collection_result(lat, _numeric_field("lon", lons, LON_RANGE), props, structural)


def _collection_result(
    lat: _Field, lon: _Field, props: list[Mapping], structural: Structural
) -> IngestResult:
    """Validate the features' columns (one entry per feature in each)."""
    fields, extras = (
        _record_columns(props, required=("timestamp", "value"), what="feature properties")
        if props
        else ({"timestamp": [], "value": []}, {})
    )
    return _columns_result(lat, lon, fields["timestamp"], fields["value"], extras, structural)


def _columns_result(
    lat: _Field,
    lon: _Field,
    timestamps: list[Any],
    values: list[Any],
    extras: Mapping[str, list[Any]],
    structural: Structural,
) -> IngestResult:
    fields = [lat, lon, _timestamp_field(timestamps), _numeric_field("value", values, VALUE_RANGE)]
    return _assemble(len(lat.values), fields, _cell_extras(extras), structural)


@cache
def _typed_decoder(exact_properties: bool) -> Any:
    """A msgspec decoder of the usual document straight to typed objects: properties as a
    dict, or (`exact_properties`) as an object of exactly `timestamp` and `value`, which
    costs less again. msgspec is imported lazily: only JSON input needs it."""
    import msgspec

    # defstruct, not class syntax: this module's annotations are strings (PEP 563)
    properties: Any = dict[str, Any]
    if exact_properties:
        properties = msgspec.defstruct(
            "Properties",
            [("timestamp", Any, msgspec.UNSET), ("value", Any, msgspec.UNSET)],
            forbid_unknown_fields=True,
            gc=False,
        )
    # a tuple, not a list: one allocation per feature instead of two (10% at 1e6 features)
    geometry = msgspec.defstruct(
        "Geometry", [("type", Literal["Point"]), ("coordinates", tuple[float, ...])], gc=False
    )
    feature = msgspec.defstruct(
        "Feature", [("geometry", geometry), ("properties", properties)], gc=False
    )
    collection = msgspec.defstruct(
        "Collection",
        [("type", Literal["FeatureCollection"]), ("features", list[feature])],
        gc=False,
    )
    return msgspec.json.Decoder(collection)


def _typed_collection(content: str) -> IngestResult | None:
    """The usual FeatureCollection (every feature a Point with [lon, lat, ...] numbers and
    a properties object) read by msgspec into typed objects; None for any other text.

    WHY: json builds five dicts and lists per feature and frees them again, most of the
    time at 1e6 features; msgspec's typed objects cost a third of that. Where msgspec
    accepts a document its values are json's (ints read for coordinates become the float
    every coordinate becomes anyway; of a repeated key the last counts, as in json); what
    it refuses (a NaN literal, a 5000-digit integer, a bool coordinate, a null properties,
    another geometry) is parsed by json, and every feature judged by `_split_features`,
    as before. Properties of exactly `timestamp` and `value` in every feature are read
    without a dict; any other key (an alias, an extra) takes the dict reader, whose
    `_record_columns` resolves names, and a feature lacking one of the two, json's.
    """
    import msgspec

    with _gc_paused():  # the lists msgspec makes would trigger full collections, ~0.6 s at 1e6
        for exact in (True, False):
            try:
                features = _typed_decoder(exact).decode(content).features
                break
            except msgspec.DecodeError:
                continue
        else:
            return None
        coords = list(map(_COORDINATES, features))
        if coords and min(map(len, coords)) < 2:
            return None
        lat, lon = _float_coordinates(coords)
        del coords
        if not exact:
            return _collection_result(lat, lon, list(map(_PROPERTIES, features)), {})
        timestamps = list(map(_TIMESTAMP, features))
        values = list(map(_VALUE, features))
        if msgspec.UNSET in timestamps or msgspec.UNSET in values:
            return None  # a key absent from some feature: json's reading decides
        del features
        return _columns_result(lat, lon, timestamps, values, {}, {})


def _float_coordinates(coords: list[tuple[float, ...]]) -> tuple[_Field, _Field]:
    """The lat and lon fields of msgspec's typed coordinates, straight to float64.

    WHY: msgspec has made every coordinate a float already, so none can fail to parse and
    the strict number rule's per-cell checks would find nothing; a NaN, an infinity or an
    out-of-range value is judged by the field's range test, as for any source.
    """
    n = len(coords)
    lons = np.fromiter(map(_FIRST, coords), dtype=np.float64, count=n)
    lats = np.fromiter(map(_SECOND, coords), dtype=np.float64, count=n)
    return _Field("lat", lats, *LAT_RANGE), _Field("lon", lons, *LON_RANGE)


_COORDINATES = operator.attrgetter("geometry.coordinates")
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_PROPERTIES = operator.attrgetter("properties")
_TIMESTAMP = operator.attrgetter("properties.timestamp")
_VALUE = operator.attrgetter("properties.value")


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

    Parameters
    ----------
    source : Mapping, str, bytes, os.PathLike or file object
        A parsed document, JSON text, a path to a regular file, or a file object.
    text : bool, optional
        True forces a str to be content, False forces it to be a path; None guesses.

    Returns
    -------
    IngestResult
        The accepted features as a PointTable and every rejected one (numbered from 1 by
        position) with its reason.

    Raises
    ------
    IngestError
        Invalid JSON, not a FeatureCollection, no 'features' list, or the properties lack
        a required field; a bad feature is quarantined, never raised.

    Examples
    --------
    >>> from geoinfer_workflows.modules.ingest import ingest_geojson
    >>> point = {"type": "Point", "coordinates": [20.0, 10.5]}
    >>> doc = {"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "geometry": point, "properties": {"time": 0, "value": 3}},
    ...     {"type": "Feature", "geometry": None, "properties": {"time": 0, "value": 4}}]}
    >>> result = ingest_geojson(doc)
    >>> result.table.lat.tolist(), [(r.row, r.reason) for r in result.rejected]
    ([10.5], [(2, 'missing geometry')])
    """
    if isinstance(source, Mapping):
        return _geojson_from_doc(source)
    return _geojson_from_text(_read_text(source, text=text))


def _geojson_from_text(content: str) -> IngestResult:
    """A FeatureCollection from JSON text: msgspec's typed read, else json's."""
    typed = _typed_collection(content)
    return typed if typed is not None else _geojson_from_doc(_parse_json(content))
