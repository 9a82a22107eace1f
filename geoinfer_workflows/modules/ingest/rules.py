"""The row rules every source shares: the schema with its one header-alias table, the
accepted ranges, the one vocabulary of rejection kinds, and column names to fields.

The number rule is in `numbers`, the timestamp rule in `timestamps`; the reasons a rule
gives a rejected row are worded in `fields`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geoinfer_workflows.errors import IngestError

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "lat": ("lat", "latitude"),
    "lon": ("lon", "longitude", "lng"),
    "timestamp": ("timestamp", "time", "datetime"),
    "value": ("value",),
}
CANONICAL = tuple(COLUMN_ALIASES)
# The one vocabulary of rejection kinds (`Rejection.kind`), for every source and for the
# chunked CSV path: a row's own structure first, then per field in CANONICAL order.
REJECTION_KINDS: tuple[str, ...] = (
    "wrong field count",
    "malformed record",
    "record not a mapping",
    "not a feature",
    "bad properties",
    "missing geometry",
    "geometry not Point",
    "bad coordinates",
    *(f"{problem} {name}" for name in CANONICAL for problem in ("missing", "unparseable")),
    *(f"{name} not finite" for name in CANONICAL),
    "lat out of range",
    "lon out of range",
    "timestamp out of range",
    "value implausible magnitude",
)
LAT_RANGE = (-90.0, 90.0)
LON_RANGE = (-180.0, 180.0)
MAX_ABS_VALUE = 1e12  # beyond this a reading is a unit or encoding error, not a measurement
VALUE_RANGE = (-MAX_ABS_VALUE, MAX_ABS_VALUE)
T_MIN = -2_208_988_800  # 1900-01-01T00:00:00Z
T_MAX = 7_258_118_400  # 2200-01-01T00:00:00Z


def _resolve_names(
    raw: Sequence[Any], *, required: Sequence[str], what: str, hint: str = ""
) -> tuple[dict[str, int], dict[str, int]]:
    """Positions of the required fields and of the extra columns among `raw` names.

    Duplicates are errors, not first-wins, because which of two `lat` columns is meant
    cannot be guessed and a silent choice would validate the wrong data.
    """
    names = [str(name).strip().lower() for name in raw]
    if "" in names:
        raise IngestError(f"{what} column {names.index('') + 1} has no name; name every column")
    canonical_of = {alias: c for c in required for alias in COLUMN_ALIASES[c]}
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        positions.setdefault(canonical_of.get(name, name), []).append(i)
    duplicates = {key: idx for key, idx in positions.items() if len(idx) > 1}
    if duplicates:
        listed = "; ".join(
            f"{key} given by {', '.join(repr(str(raw[i]).strip()) for i in idx)}"
            for key, idx in duplicates.items()
        )
        raise IngestError(f"duplicate columns in the {what}: {listed}; keep one of each")
    missing = [c for c in required if c not in positions]
    if missing:
        accepted = "; ".join(f"{c}: {' | '.join(COLUMN_ALIASES[c])}" for c in missing)
        found = ", ".join(repr(str(name)) for name in raw) or "nothing"
        raise IngestError(
            f"missing required column(s) {', '.join(missing)} in the {what} (accepted names, "
            f"case-insensitive: {accepted}); found {found}{hint}"
        )
    fields = {c: positions[c][0] for c in required}
    extras = {key: idx[0] for key, idx in positions.items() if key not in fields}
    return fields, extras
