"""Numpy columns (`ingest_columns`): the workflows' hot path, one mask per check and no
row loop; datetime64 timestamps are converted without numpy's silent overflow."""

from __future__ import annotations

from typing import Any

import numpy as np

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest.fields import _Field, _numeric_field, _timestamp_field
from geoinfer_workflows.modules.ingest.result import IngestResult, _assemble
from geoinfer_workflows.modules.ingest.rules import LAT_RANGE, LON_RANGE, T_MAX, T_MIN, VALUE_RANGE


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

    Parameters
    ----------
    lat, lon, value : array_like, 1-D
        Numbers (or strings, parsed like CSV cells).
    t : array_like, 1-D
        Epoch seconds (int or float, floored) or datetime64 (NaT is 'missing').
    **extra : array_like, 1-D
        Passenger columns, kept with their dtype for the accepted rows.

    Returns
    -------
    IngestResult
        The rows passing every range check, and each other row with its first failure.

    Raises
    ------
    IngestError
        A column is not 1-D, not numeric, or the columns differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.modules.ingest import ingest_columns
    >>> result = ingest_columns([10.0, 91.0], [20.0, 20.0], [0, 60], [1.0, 2.0],
    ...                         station=np.array(["a", "b"]))
    >>> result.table.extra["station"].tolist(), result.rejected[0].reason
    (['a'], 'lat 91 outside [-90, 90]')
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
