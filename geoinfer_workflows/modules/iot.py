"""IOT: streaming aggregation of sensor readings in bounded memory.

A sensor stream is three aligned columns: `sensor_id` (int in [0, n_sensors)), `t` (int64
epoch seconds) and `value` (float64, NaN for a dropout). The aggregator keeps a fixed set
of per-sensor accumulators (O(n_sensors) memory whatever the stream length) and folds in
each chunk with whole-array operations: bincount for counts and shifted sums, merged with
Chan et al.'s parallel formula for a stable variance, and unbuffered ufunc.at
scatters for extremes and the latest reading. Any chunking of the same stream therefore
gives the same statistics, to rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import check_int

__all__ = ["SensorStats", "StreamingAggregator", "aggregate_stream", "iter_chunks"]

_NO_TIME = np.iinfo(np.int64).min  # "no reading yet" marker for the latest-time accumulator


@dataclass(frozen=True)
class SensorStats:
    """Per-sensor summary of a stream; index i describes sensor i.

    `count` counts valid readings, `missing` dropouts (NaN or infinite values). The float
    fields are NaN for a sensor without a valid reading. `std` uses the ddof passed to
    `result` (0 by default, like np.std). `last` is the valid value with the largest t
    (the later one in stream order on ties) and `last_t` its time, as float64 so that "no
    reading" can be NaN like everywhere else (exact for any |t| < 2**53 s).
    """

    count: np.ndarray
    missing: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray
    last_t: np.ndarray


def iter_chunks(n_rows: int, chunk_rows: int) -> Iterator[slice]:
    """Consecutive slices of at most `chunk_rows` rows covering range(n_rows) exactly once.

    Parameters
    ----------
    n_rows : int
        Rows to cover (>= 0).
    chunk_rows : int
        Rows per slice (>= 1); the last slice may be shorter.

    Yields
    ------
    slice
        The next block of rows.

    Examples
    --------
    >>> from geoinfer_workflows.modules import iot
    >>> [(s.start, s.stop) for s in iot.iter_chunks(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    n_rows = check_int(n_rows, "n_rows", 0)
    chunk_rows = check_int(chunk_rows, "chunk_rows", 1, note="a float size would change chunking")
    for start in range(0, n_rows, chunk_rows):
        yield slice(start, min(start + chunk_rows, n_rows))


class StreamingAggregator:
    """Running per-sensor statistics, updated one chunk of readings at a time."""

    def __init__(self, n_sensors: int) -> None:
        n = check_int(n_sensors, "n_sensors", 1)
        self.n_sensors = n
        self.n_rows = 0
        self._count = np.zeros(n, dtype=np.int64)
        self._missing = np.zeros(n, dtype=np.int64)
        self._shift = np.zeros(n)  # per-sensor origin of the moments (see _merge_moments)
        self._mean = np.zeros(n)  # mean of value - shift
        self._m2 = np.zeros(n)  # sum of squared deviations from the running mean
        self._min = np.full(n, np.inf)
        self._max = np.full(n, -np.inf)
        self._last = np.full(n, np.nan)
        self._last_t = np.full(n, _NO_TIME, dtype=np.int64)

    def update(self, sensor_id: np.ndarray, t: np.ndarray, value: np.ndarray) -> None:
        """Fold one chunk of readings into the accumulators (any chunk size, even empty).

        Parameters
        ----------
        sensor_id, t, value : array_like, shape (n,)
            Sensor in [0, n_sensors), epoch seconds and reading (NaN counts as missing).

        Examples
        --------
        >>> import numpy as np
        >>> from geoinfer_workflows.modules import iot
        >>> aggregator = iot.StreamingAggregator(2)
        >>> sensor, t = np.array([0, 0, 1]), np.array([0, 60, 0])
        >>> aggregator.update(sensor, t, np.array([0.2, 0.3, np.nan]))
        >>> aggregator.update(np.array([], dtype=int), np.array([], dtype=int), np.array([]))
        >>> aggregator.n_rows, aggregator.result().count.tolist()
        (3, [2, 0])
        """
        sid, times, vals = self._validate(sensor_id, t, value)
        self.n_rows += sid.size
        ok = np.isfinite(vals)
        if not ok.all():
            self._missing += np.bincount(sid[~ok], minlength=self.n_sensors)
            sid, times, vals = sid[ok], times[ok], vals[ok]
        if sid.size == 0:
            return
        counts = np.bincount(sid, minlength=self.n_sensors)
        seen = np.flatnonzero(counts)
        self._merge_moments(sid, vals, counts, seen)
        np.minimum.at(self._min, sid, vals)
        np.maximum.at(self._max, sid, vals)
        self._merge_latest(sid, times, vals, seen)

    def merge(self, other: StreamingAggregator) -> None:
        """Fold in another aggregator's statistics, as if its rows came after ours.

        Chan et al.'s pairwise merge, the same algebra `update` applies to a chunk: blocks
        of a stream aggregated on different workers combine exactly (up to rounding).

        Parameters
        ----------
        other : StreamingAggregator
            An aggregator of the same number of sensors (left unchanged).

        Examples
        --------
        >>> import numpy as np
        >>> from geoinfer_workflows.modules import iot
        >>> first, second = iot.StreamingAggregator(1), iot.StreamingAggregator(1)
        >>> first.update(np.array([0, 0]), np.array([0, 60]), np.array([1.0, 2.0]))
        >>> second.update(np.array([0]), np.array([120]), np.array([6.0]))
        >>> first.merge(second)
        >>> first.result().mean.tolist(), first.result().last_t.tolist()
        ([3.0], [120.0])
        """
        if not isinstance(other, StreamingAggregator) or other.n_sensors != self.n_sensors:
            raise ParameterError("merge needs another StreamingAggregator of the same sensors")
        self.n_rows += other.n_rows
        self._missing += other._missing
        seen = np.flatnonzero(other._count)
        if seen.size == 0:
            return
        fresh = seen[self._count[seen] == 0]
        self._shift[fresh] = other._shift[fresh]
        other_mean = other._mean[seen] + (other._shift[seen] - self._shift[seen])
        n_a = self._count[seen].astype(np.float64)
        n_b = other._count[seen].astype(np.float64)
        n_ab = n_a + n_b
        delta = other_mean - self._mean[seen]
        self._mean[seen] += delta * (n_b / n_ab)
        self._m2[seen] += other._m2[seen] + delta * delta * (n_a * n_b / n_ab)
        self._count[seen] += other._count[seen]
        np.minimum(self._min, other._min, out=self._min)
        np.maximum(self._max, other._max, out=self._max)
        newer = seen[other._last_t[seen] >= self._last_t[seen]]
        self._last_t[newer] = other._last_t[newer]
        self._last[newer] = other._last[newer]

    def _merge_moments(
        self, sid: np.ndarray, vals: np.ndarray, counts: np.ndarray, seen: np.ndarray
    ) -> None:
        """Chan et al. merge of (count, mean, M2), all kept relative to a per-sensor shift.

        A sensor whose spread is tiny against its level (1e9 +- 1e-3) loses the digits
        that matter in raw sums, and even in a running mean held at the level's own
        resolution. So each sensor gets a fixed shift, its first chunk's rough mean, and
        every moment is accumulated for value - shift: the sums are of small residuals and
        the precision left is that of the data themselves.
        """
        n = self.n_sensors
        seen_counts = counts[seen]
        fresh = seen[self._count[seen] == 0]
        if fresh.size:
            self._shift[fresh] = np.bincount(sid, weights=vals, minlength=n)[fresh] / counts[fresh]
        # One row-length buffer, squared in place once s1 is summed: each fresh row-length
        # temporary costs page faults comparable to the arithmetic on it.
        shifted = self._shift[sid]
        np.subtract(vals, shifted, out=shifted)
        s1 = np.bincount(sid, weights=shifted, minlength=n)[seen]
        s2 = np.bincount(sid, weights=np.square(shifted, out=shifted), minlength=n)[seen]
        chunk_mean = s1 / seen_counts
        chunk_m2 = np.maximum(s2 - s1 * chunk_mean, 0.0)  # corrected two-pass form
        n_a = self._count[seen].astype(np.float64)
        n_b = seen_counts.astype(np.float64)
        n_ab = n_a + n_b
        delta = chunk_mean - self._mean[seen]
        self._mean[seen] += delta * (n_b / n_ab)
        self._m2[seen] += chunk_m2 + delta * delta * (n_a * n_b / n_ab)
        self._count[seen] += seen_counts

    def _merge_latest(
        self, sid: np.ndarray, times: np.ndarray, vals: np.ndarray, seen: np.ndarray
    ) -> None:
        """Keep, per sensor, the reading with the largest t; ties go to the later row.

        Later chunks win ties against earlier ones (>=), and inside a chunk the largest row
        index among the rows at the maximum time wins, so the rule is chunking-independent.
        """
        t_max = np.full(self.n_sensors, _NO_TIME, dtype=np.int64)
        np.maximum.at(t_max, sid, times)
        rows_at_max = np.flatnonzero(times == t_max[sid])
        row = np.full(self.n_sensors, -1, dtype=np.int64)
        np.maximum.at(row, sid[rows_at_max], rows_at_max)
        newer = seen[t_max[seen] >= self._last_t[seen]]
        self._last_t[newer] = t_max[newer]
        self._last[newer] = vals[row[newer]]

    def _validate(
        self, sensor_id: np.ndarray, t: np.ndarray, value: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Aligned 1-D columns of the right kinds, sensor ids within [0, n_sensors)."""
        sid = np.asarray(sensor_id)
        times = np.asarray(t)
        vals = np.asarray(value)
        if not (sid.ndim == times.ndim == vals.ndim == 1) or not (
            sid.size == times.size == vals.size
        ):
            raise ParameterError(
                "sensor_id, t and value must be 1-D columns of equal length, got shapes "
                f"{sid.shape}, {times.shape}, {vals.shape}"
            )
        if sid.dtype.kind not in "iu" or times.dtype.kind not in "iu":
            raise ParameterError(
                f"sensor_id and t must be integer arrays, got {sid.dtype} and {times.dtype}"
            )
        if vals.dtype.kind not in "biuf":
            raise ParameterError(f"value must be numeric, got dtype {vals.dtype}")
        if sid.size and (sid.min() < 0 or sid.max() >= self.n_sensors):
            raise ParameterError(
                f"sensor ids must lie in [0, {self.n_sensors}), got range "
                f"[{sid.min()}, {sid.max()}]: size the aggregator for every sensor"
            )
        return (
            sid.astype(np.intp, copy=False),
            times.astype(np.int64, copy=False),
            vals.astype(np.float64, copy=False),
        )

    def result(self, *, ddof: int = 0) -> SensorStats:
        """Statistics of everything seen so far (the aggregator can keep updating after).

        Returns
        -------
        SensorStats
            Per-sensor count, missing, mean, std (population), min, max, last value and time;
            NaN statistics for a sensor with no valid reading.

        Examples
        --------
        >>> import numpy as np
        >>> from geoinfer_workflows.modules import iot
        >>> aggregator = iot.StreamingAggregator(2)
        >>> aggregator.update(np.array([0, 0]), np.array([0, 60]), np.array([0.2, 0.3]))
        >>> stats = aggregator.result()
        >>> stats.mean.round(3).tolist(), stats.std.round(3).tolist(), stats.max.tolist()
        ([0.25, nan], [0.05, nan], [0.3, nan])
        """
        ddof = check_int(ddof, "ddof", 0)
        has = self._count > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(self._count > ddof, self._m2 / (self._count - ddof), np.nan)
        return SensorStats(
            count=self._count.copy(),
            missing=self._missing.copy(),
            mean=np.where(has, self._shift + self._mean, np.nan),
            std=np.sqrt(np.maximum(var, 0.0)),
            min=np.where(has, self._min, np.nan),
            max=np.where(has, self._max, np.nan),
            last=np.where(has, self._last, np.nan),
            last_t=np.where(has, self._last_t.astype(np.float64), np.nan),
        )


def aggregate_stream(
    sensor_id: np.ndarray,
    t: np.ndarray,
    value: np.ndarray,
    n_sensors: int,
    *,
    chunk_rows: int = 65_536,
) -> SensorStats:
    """Per-sensor statistics of a whole stream held in memory, computed chunk by chunk.

    Chunks are views, so the extra memory is one chunk's temporaries plus the
    accumulators: the same code path a true stream (file, socket) would use.

    Parameters
    ----------
    sensor_id : array_like of int, shape (n,)
        Sensor of each reading, in [0, n_sensors).
    t : array_like of int, shape (n,)
        Reading time, epoch seconds.
    value : array_like of float, shape (n,)
        Reading; NaN counts as missing.
    n_sensors : int
        Number of sensors (>= 1): sensors without readings get count 0 and NaN statistics.
    chunk_rows : int
        Rows folded in per step (>= 1).

    Returns
    -------
    SensorStats
        Per-sensor count, missing, mean, std, min, max and the latest reading with its time.

    Examples
    --------
    Sensor 1's second reading is missing; its latest valid reading is at t = 0:

    >>> import numpy as np
    >>> from geoinfer_workflows.modules import iot
    >>> stats = iot.aggregate_stream(
    ...     np.array([0, 1, 0, 1]), np.array([0, 0, 60, 60]), np.array([0.2, 0.4, 0.3, np.nan]), 2,
    ...     chunk_rows=2,
    ... )
    >>> stats.count.tolist(), stats.missing.tolist(), stats.mean.round(3).tolist()
    ([2, 1], [0, 1], [0.25, 0.4])
    >>> stats.last.tolist(), stats.last_t.tolist()
    ([0.3, 0.4], [60.0, 0.0])
    """
    sid, times, vals = np.asarray(sensor_id), np.asarray(t), np.asarray(value)
    if not (sid.shape == times.shape == vals.shape) or sid.ndim != 1:
        raise ParameterError(
            "sensor_id, t and value must be 1-D columns of equal length, got shapes "
            f"{sid.shape}, {times.shape}, {vals.shape}"
        )
    agg = StreamingAggregator(n_sensors)
    for rows in iter_chunks(sid.size, chunk_rows):
        agg.update(sid[rows], times[rows], vals[rows])
    return agg.result()
