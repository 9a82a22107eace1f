"""The validated columnar table every module consumes.

Columns are plain numpy arrays of equal length so that modules stay pure functions over
arrays; `extra` carries domain columns (case disease, sensor id, ...) beside the canonical
point schema of the project's design: lat, lon, timestamp (int64 epoch seconds), value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PointTable:
    """Point observations: one row per observation, columns as arrays."""

    lat: np.ndarray
    lon: np.ndarray
    t: np.ndarray
    value: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.lat)
        lengths = {len(self.lon), len(self.t), len(self.value)} | {
            len(col) for col in self.extra.values()
        }
        if lengths - {n}:
            raise ValueError(f"PointTable columns differ in length: {sorted(lengths | {n})}")

    def __len__(self) -> int:
        return len(self.lat)

    def take(self, index: np.ndarray) -> PointTable:
        """Rows selected by a boolean mask or an integer index, all columns kept aligned."""
        return PointTable(
            lat=self.lat[index],
            lon=self.lon[index],
            t=self.t[index],
            value=self.value[index],
            extra={name: col[index] for name, col in self.extra.items()},
        )

    @property
    def nbytes(self) -> int:
        return sum(
            col.nbytes for col in (self.lat, self.lon, self.t, self.value, *self.extra.values())
        )
