"""Side-by-side comparison with a peer library (scikit-learn, pyarrow, pandas, a plain h3
loop): the instrument of the `Peer*` benchmark classes.

A peer is measured in the same process, on the same data, interleaved with our call
(ours, peer, ours, peer, ...), so a busy neighbour on this shared 2-core box slows both
sides of a pair alike and the ratio keeps what the two absolute times lose. asv's
`time_` rows of each side stay in the history too; the ratio tracker is the figure a
closing note quotes.

The peers are an optional extra (`pip install '.[peers]'`); where one is missing the
benchmark is skipped (asv's NotImplementedError), never failed.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

# Pairs per ratio: the median of 7 interleaved pairs moves by a few percent between runs
# on this box, well under the gaps the peer comparisons are about.
PAIRS = 7


def require_peer(module: str) -> ModuleType:
    """Import a peer library, or skip the benchmark where it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NotImplementedError(f"peer {module!r} is not installed: {exc}") from None


def interleaved_seconds(
    ours: Callable[[], Any],
    peer: Callable[[], Any],
    *,
    pairs: int = PAIRS,
    clock: Callable[[], float] = time.process_time,
) -> tuple[float, float]:
    """Median seconds of `ours` and of `peer`, timed in alternation (one warm-up call of
    each first, so one-off imports and caches are not timed). CPU time by default: the
    comparisons run one BLAS thread and no pools, so CPU time is the work done."""
    ours()
    peer()
    ours_s: list[float] = []
    peer_s: list[float] = []
    for _ in range(pairs):
        for fn, samples in ((ours, ours_s), (peer, peer_s)):
            start = clock()
            fn()
            samples.append(clock() - start)
    return statistics.median(ours_s), statistics.median(peer_s)


def interleaved_ratio(
    ours: Callable[[], Any],
    peer: Callable[[], Any],
    *,
    pairs: int = PAIRS,
    clock: Callable[[], float] = time.process_time,
) -> float:
    """median(ours) / median(peer) over interleaved pairs: below 1.0, ours is faster."""
    ours_median, peer_median = interleaved_seconds(ours, peer, pairs=pairs, clock=clock)
    return ours_median / peer_median
