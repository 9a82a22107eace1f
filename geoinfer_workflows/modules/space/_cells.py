"""H3 cells: the cell of each point, cell centres and the spacing of neighbouring cells.

The only per-point Python calls left in `space` are into the `h3` library, which has no
array entry point; they are made once per distinct point when coordinates repeat a lot.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

import h3
import numpy as np
from h3.api import basic_int as _h3

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules.space._geometry import _coords
from geoinfer_workflows.validation import check_int

_H3_MAX_RESOLUTION = 15
# De-duplicating costs a sort of 64-bit keys (~0.02 us/point) and saves an h3 call
# (~0.5 us/point) per duplicate, so it pays as soon as a few percent of the points repeat
# (fixed stations reporting many times). The decision counts the distinct keys exactly:
# one sort of a 64-bit hash of each key, no sample.
_DEDUPE_MIN_SIZE = 8192
_DEDUPE_MAX_DISTINCT_FRACTION = 0.9
_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: spreads the lat bits


def _hash64(keys: np.ndarray) -> np.ndarray:
    """A uint64 per key: the key itself for 64-bit ids, lat bits * odd ^ lon bits for
    complex (lat + i lon) points. Equal keys hash equal; a collision only merges hash
    groups, which `_per_distinct` then checks key by key."""
    if keys.dtype == np.complex128:
        halves = keys.view(np.uint64).reshape(-1, 2)
        return (halves[:, 0] * _MIX) ^ halves[:, 1]
    return keys.view(np.uint64)


def _per_distinct(keys: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`compute(keys)`, evaluated once per distinct key when duplicates make that cheaper.

    The distinct count comes from a sort of the 64-bit hashes; when it is low enough, the
    points are grouped by an argsort of the same hashes and every group is checked to hold
    one key (else, a hash collision, `np.unique` on the keys themselves groups them).
    """
    if keys.size < _DEDUPE_MIN_SIZE:
        return compute(keys)
    hashes = _hash64(keys)
    ordered = np.sort(hashes)
    if 1 + np.count_nonzero(ordered[1:] != ordered[:-1]) > (
        _DEDUPE_MAX_DISTINCT_FRACTION * keys.size
    ):
        return compute(keys)
    order = np.argsort(hashes)
    grouped = keys[order]
    starts = np.empty(keys.size, dtype=bool)
    starts[0] = True
    np.not_equal(hashes[order[1:]], hashes[order[:-1]], out=starts[1:])
    group = np.cumsum(starts) - 1
    distinct = grouped[starts]
    if not np.array_equal(distinct[group], grouped):  # a collision: group by the keys
        distinct, inverse = np.unique(keys, return_inverse=True)
        return compute(distinct)[inverse]
    inverse = np.empty(keys.size, dtype=np.intp)
    inverse[order] = group
    return compute(distinct)[inverse]


def _latlng_to_cells(packed: np.ndarray, resolution: int) -> np.ndarray:
    """H3 ids of points packed as complex lat + i*lon, one C call per point.

    h3 >= 4 exposes only scalar functions (its numpy APIs wrap the same scalar call), so
    the cheapest loop is `map` over Python floats feeding `np.fromiter` directly.
    """
    to_cell = _h3.latlng_to_cell
    cells = map(to_cell, packed.real.tolist(), packed.imag.tolist(), repeat(resolution))
    return np.fromiter(cells, dtype=np.uint64, count=packed.size)


def h3_cells(lat: Any, lon: Any, resolution: int) -> np.ndarray:
    """H3 cell id (uint64, same shape as `lat`) of each point at `resolution` (0..15).

    Hexagonal cells have one distance to every neighbour and near-equal areas, which is
    what per-cell rates and hotspot statistics want from a binning. Cost is one h3 C call
    (~0.5 us) per point, or per distinct point when coordinates repeat a lot.

    Parameters
    ----------
    lat, lon : array_like
        Degrees, same shape, finite, latitudes in [-90, 90].
    resolution : int
        H3 resolution, 0 (coarsest) to 15 (finest); cells at 9 cover about 0.1 km2.

    Returns
    -------
    numpy.ndarray
        uint64 cell ids shaped like `lat`; ``format(int(cell), "x")`` is h3's hex string.

    Examples
    --------
    >>> from geoinfer_workflows.modules import space
    >>> cells = space.h3_cells([51.5074, 51.5074, 48.8566], [-0.1278, -0.1278, 2.3522], 7)
    >>> [format(int(cell), "x") for cell in cells]
    ['87195da49ffffff', '87195da49ffffff', '871fb4662ffffff']
    """
    resolution = check_int(resolution, "resolution", 0, _H3_MAX_RESOLUTION)
    lat, lon = _coords(lat, lon)
    packed = np.empty(lat.size, dtype=np.complex128)  # exact: one sortable key per point
    packed.real = lat.ravel()
    packed.imag = lon.ravel()
    cells = _per_distinct(packed, lambda keys: _latlng_to_cells(keys, resolution))
    return cells.reshape(lat.shape)


def _cells_to_latlng(cells: np.ndarray) -> np.ndarray:
    """(m, 2) centre lat/lon of H3 ids, one C call per id."""
    try:
        centres = map(_h3.cell_to_latlng, cells.tolist())
        return np.fromiter(centres, dtype=np.dtype((np.float64, 2)), count=cells.size)
    except h3.H3BaseException as exc:
        raise ParameterError(f"not a valid H3 cell id among the input: {exc}") from None


def h3_cell_spacing_m(resolution: int) -> float:
    """Mean centre-to-centre distance of neighbouring H3 cells (sqrt(3) x the mean edge).

    A distance band of ~1.5x this joins each cell to its first ring and nothing further:
    contiguity weights on an H3 grid without a per-cell grid_disk call.
    """
    resolution = check_int(resolution, "H3 resolution", 0, _H3_MAX_RESOLUTION)
    return float(np.sqrt(3.0) * h3.average_hexagon_edge_length(resolution, unit="m"))


def h3_cell_centers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) degrees of the centre of each H3 cell, arrays shaped like `cells`."""
    cells = np.asarray(cells)
    if cells.dtype.kind not in "iu":
        raise ParameterError(f"H3 cell ids must be an integer array, got dtype {cells.dtype}")
    flat = cells.ravel().astype(np.uint64)
    centres = _per_distinct(flat, _cells_to_latlng)
    return centres[:, 0].reshape(cells.shape), centres[:, 1].reshape(cells.shape)
