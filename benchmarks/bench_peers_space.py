"""SPACE side by side with its peers, on the same data in the same process.

- `PeerKMeans`: k-means (k=8, n_init=3) against scikit-learn's KMeans (Lloyd, greedy
  k-means++), one BLAS thread, on `planted_blobs` in local metres; plus the inertia ratio,
  so a speed-up bought with worse clusters shows.
- `PeerDenseDBSCAN`: DBSCAN with ~975 neighbours a point (eps 150 m, min_samples 100)
  against scikit-learn's DBSCAN (KD-tree, the same chord metric on unit vectors), with
  the peak RSS each side adds, measured in a fresh process.
- `PeerH3Binning`: `h3_cells` against a plain h3 loop and against unique + bin + inverse,
  on 5,000 stations x 200 readings (every pair repeats) and on 1e6 distinct points.

Each class has a `time_` row per side (param "impl") and `track_ratio_to_<peer>`: the
median of interleaved pairs (benchmarks/peers.py), filed under impl = geoinfer (the other
impl rows of a ratio are skipped by its own setup). Below 1.0, ours is faster.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time

from . import common, peers

OURS = "geoinfer"
SKLEARN = "scikit-learn"


def _only_ours(impl: str, *_: object) -> None:
    """A ratio tracker's own setup (asv runs a benchmark's `.setup` after the class's):
    one figure per data size, filed under impl = geoinfer and skipped under the others."""
    if impl != OURS:
        raise NotImplementedError("the ratio is filed under impl=geoinfer")


class PeerKMeans:
    params = ([OURS, SKLEARN], [100_000, *((1_000_000,) if common.LARGE else ())])
    param_names = ["impl", "n"]
    timeout = 600
    timer = time.process_time
    repeat = (3, 7, 60.0)
    rounds = 1
    number = 1

    def setup(self, impl: str, n: int) -> None:
        from geoinfer_workflows.modules import space

        cluster = peers.require_peer("sklearn.cluster")
        points, _ = common.planted_blobs(n)
        X = space.local_xy_m(points[:, 0], points[:, 1])
        self.runs = {
            OURS: lambda: space.kmeans(X, 8, n_init=3, seed=0).inertia,
            SKLEARN: lambda: cluster.KMeans(8, n_init=3, random_state=0).fit(X).inertia_,
        }

    def time_kmeans(self, impl: str, n: int) -> None:
        self.runs[impl]()

    time_kmeans.version = "peer-kmeans-1"

    def track_ratio_to_sklearn(self, impl: str, n: int) -> float:
        return peers.interleaved_ratio(self.runs[OURS], self.runs[SKLEARN])

    track_ratio_to_sklearn.unit = "ratio"
    track_ratio_to_sklearn.setup = _only_ours
    track_ratio_to_sklearn.version = "peer-kmeans-ratio-1"

    def track_inertia_ratio(self, impl: str, n: int) -> float:
        """Our inertia / scikit-learn's (both the best of 3 seedings): 1.0 is as good."""
        return self.runs[OURS]() / self.runs[SKLEARN]()

    track_inertia_ratio.unit = "ratio"
    track_inertia_ratio.setup = _only_ours
    track_inertia_ratio.version = "peer-kmeans-inertia-1"


# The dense setting: 1e5 planted-blob points, ~975 neighbours within 150 m of each.
DENSE_N = 100_000
DENSE_EPS_M = 150.0
DENSE_MIN_SAMPLES = 100
# A dense run takes seconds a side: 3 interleaved pairs bound the ratio's cost.
DENSE_PAIRS = 3


def _dense_dbscan(impl: str):
    """A no-argument call running one side's dense DBSCAN on the seeded blobs."""
    from geoinfer_workflows.modules import space

    points, _ = common.planted_blobs(DENSE_N)
    lat, lon = points[:, 0], points[:, 1]
    if impl == OURS:
        return lambda: space.dbscan(lat, lon, eps_m=DENSE_EPS_M, min_samples=DENSE_MIN_SAMPLES)
    cluster = peers.require_peer("sklearn.cluster")
    xyz = space.unit_xyz(lat, lon)
    # The same neighbourhoods as ours: the chord of eps between unit vectors.
    chord = 2.0 * math.sin(DENSE_EPS_M / (2.0 * space.EARTH_RADIUS_M))
    model = cluster.DBSCAN(eps=chord, min_samples=DENSE_MIN_SAMPLES, algorithm="kd_tree")
    return lambda: model.fit(xyz).labels_


def _rss_growth_mib(impl: str) -> float:
    """Peak RSS one run of `impl` adds, in a fresh interpreter (benchmarks/rss_growth.py's
    method: trimmed baseline, reset high-water mark, VmHWM after)."""
    from . import rss_growth

    if not rss_growth.supported():
        raise NotImplementedError("the RSS high-water mark cannot be reset here")
    proc = subprocess.run(
        [sys.executable, *common.child_arguments("bench_peers_space"), impl],
        env=common.child_environment(MALLOC_MMAP_THRESHOLD_=str(rss_growth.MMAP_THRESHOLD)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dense DBSCAN child exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return statistics.median(json.loads(proc.stdout)) / 1024.0


def child_main(argv: list[str] | None = None) -> int:
    """The fresh interpreter of `_rss_growth_mib`: one side, one measured run."""
    from . import rss_growth

    (impl,) = sys.argv[1:] if argv is None else argv
    run = _dense_dbscan(impl)
    print(json.dumps(rss_growth.measure_in_this_process(run, 1)))
    return 0


class PeerDenseDBSCAN:
    params = [OURS, SKLEARN]
    param_names = ["impl"]
    timeout = 900
    timer = time.process_time
    repeat = (2, 3, 60.0)
    rounds = 1
    number = 1

    def setup(self, impl: str) -> None:
        peers.require_peer("sklearn.cluster")
        self.runs = {side: _dense_dbscan(side) for side in (OURS, SKLEARN)}

    def time_dbscan(self, impl: str) -> None:
        self.runs[impl]()

    time_dbscan.version = "peer-dense-dbscan-1"

    def track_ratio_to_sklearn(self, impl: str) -> float:
        return peers.interleaved_ratio(self.runs[OURS], self.runs[SKLEARN], pairs=DENSE_PAIRS)

    track_ratio_to_sklearn.unit = "ratio"
    track_ratio_to_sklearn.setup = _only_ours
    track_ratio_to_sklearn.version = "peer-dense-dbscan-ratio-1"

    def track_peak_rss_growth_mib(self, impl: str) -> float:
        """Peak RSS one run adds above its process's baseline, each side in its own
        fresh process."""
        return _rss_growth_mib(impl)

    track_peak_rss_growth_mib.unit = "MiB"
    track_peak_rss_growth_mib.version = "peer-dense-dbscan-rss-1"


H3_RESOLUTION = 9
H3_LOOP = "h3 loop"
UNIQUE_BIN_INVERSE = "unique+bin+inverse"


class PeerH3Binning:
    params = ([OURS, H3_LOOP, UNIQUE_BIN_INVERSE], ["stations", "distinct"])
    param_names = ["impl", "points"]
    timeout = 600
    timer = time.process_time
    repeat = (3, 7, 60.0)
    rounds = 1
    number = 1

    def setup(self, impl: str, points: str) -> None:
        import numpy as np
        from h3.api import basic_int

        from geoinfer_workflows.modules import space

        if points == "stations":
            lat, lon = common.station_readings(5_000, 200)
        else:
            blobs, _ = common.planted_blobs(1_000_000)
            lat, lon = blobs[:, 0], blobs[:, 1]

        def loop(la: np.ndarray, lo: np.ndarray) -> np.ndarray:
            resolutions = [H3_RESOLUTION] * la.size
            cells = map(basic_int.latlng_to_cell, la.tolist(), lo.tolist(), resolutions)
            return np.fromiter(cells, dtype=np.uint64, count=la.size)

        def unique_bin_inverse() -> np.ndarray:
            distinct, inverse = np.unique(lat + 1j * lon, return_inverse=True)
            return loop(distinct.real, distinct.imag)[inverse]

        self.runs = {
            OURS: lambda: space.h3_cells(lat, lon, H3_RESOLUTION),
            H3_LOOP: lambda: loop(lat, lon),
            UNIQUE_BIN_INVERSE: unique_bin_inverse,
        }

    def time_h3_cells(self, impl: str, points: str) -> None:
        self.runs[impl]()

    time_h3_cells.version = "peer-h3-1"

    def track_ratio_to_h3_loop(self, impl: str, points: str) -> float:
        return peers.interleaved_ratio(self.runs[OURS], self.runs[H3_LOOP])

    track_ratio_to_h3_loop.unit = "ratio"
    track_ratio_to_h3_loop.setup = _only_ours
    track_ratio_to_h3_loop.version = "peer-h3-ratio-loop-1"

    def track_ratio_to_unique_bin_inverse(self, impl: str, points: str) -> float:
        return peers.interleaved_ratio(self.runs[OURS], self.runs[UNIQUE_BIN_INVERSE])

    track_ratio_to_unique_bin_inverse.unit = "ratio"
    track_ratio_to_unique_bin_inverse.setup = _only_ours
    track_ratio_to_unique_bin_inverse.version = "peer-h3-ratio-unique-1"
