"""API: the output layer. Turns arrays into GeoJSON and JSON summaries a client can consume.

Everything returned is made of plain Python types (no numpy scalars, NaN as null), so
`json.dumps` works on it without a custom encoder and the JSON is standard (no NaN tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geoinfer_workflows.errors import ParameterError

__all__ = ["feature_collection", "to_json_value"]


def to_json_value(array: np.ndarray) -> list[Any]:
    """A numpy column as a JSON-ready list: floats rounded to 6 digits, NaN/inf as None.

    Parameters
    ----------
    array : numpy.ndarray
        A 1-D column (numbers, booleans or strings; uint64 H3 ids become hex strings).

    Returns
    -------
    list
        Python values `json.dumps` writes as valid JSON (no NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import api
    >>> api.to_json_value(np.array([1.23456789, np.nan, np.inf])), api.to_json_value(np.arange(2))
    ([1.234568, None, None], [0, 1])
    """
    array = np.asarray(array)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        values = np.round(array, 6).tolist()
        if finite.all():
            return values
        return [v if ok else None for v, ok in zip(values, finite.tolist(), strict=True)]
    if array.dtype.kind == "u" and array.dtype.itemsize == 8:
        return [format(v, "x") for v in array.tolist()]  # H3 ids as hex strings, as h3 does
    return array.tolist()


def feature_collection(
    lat: np.ndarray,
    lon: np.ndarray,
    properties: Mapping[str, np.ndarray],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """GeoJSON FeatureCollection of points (RFC 7946: coordinates are [lon, lat]).

    Parameters
    ----------
    lat, lon : array_like, shape (n,)
        Point positions, degrees.
    properties : mapping of str to array_like
        One column of n values per property (written with `to_json_value`).
    metadata : mapping, optional
        JSON-ready values stored beside the features, under "metadata".

    Returns
    -------
    dict
        The collection, ready for `json.dumps`.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from geoinfer_workflows.modules import api
    >>> collection = api.feature_collection(
    ...     np.array([1.5]), np.array([2.5]), {"cases": np.array([3])}, metadata={"source": "demo"}
    ... )
    >>> feature = collection["features"][0]
    >>> print(json.dumps(feature["geometry"]), json.dumps(feature["properties"]))
    {"type": "Point", "coordinates": [2.5, 1.5]} {"cases": 3}
    >>> collection["metadata"]
    {'source': 'demo'}
    """
    n = len(lat)
    if len(lon) != n or any(len(col) != n for col in properties.values()):
        raise ParameterError("feature_collection: lat, lon and every property need equal length")
    names = list(properties)
    columns = [to_json_value(properties[name]) for name in names]
    lons, lats = to_json_value(lon), to_json_value(lat)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": dict(zip(names, row, strict=True)),
        }
        for x, y, *row in zip(lons, lats, *columns, strict=True)
    ]
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if metadata:
        collection["metadata"] = dict(metadata)
    return collection
