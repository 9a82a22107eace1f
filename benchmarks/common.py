"""Shared sizes, seeded data builders and measurement helpers for every benchmark file.

Append-only, as numpy's benchmarks/common.py: changing what an existing builder returns
changes every historical result that used it. Add a new builder instead.

The benchmark code comes from the current checkout but runs against older commits of the
package, so builders only use long-standing public API.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

# One BLAS/OpenMP thread: on 2 cores extra threads inflate and scatter the figures. The one
# place these pins are set for the suite, its instruments' child processes, the tests and
# tools/ (tools/asvkit.py); asv.conf.json's matrix sets them too, for asv's own benchmark
# environments. Applied here for `--python=same` and anything that imports the suite.
THREAD_PINS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
for _var, _value in THREAD_PINS.items():
    os.environ.setdefault(_var, _value)

import numpy as np  # noqa: E402  (after the thread pins, before anything imports numpy)

# Run profiles, as scikit-learn's asv_benchmarks: GEOINFER_BENCH_PROFILE=fast (`seed` and
# small inputs: a first local look in minutes), regular (the default: what the history and
# the pull-request gate measure) or large (adds the 1e6+ record sizes: the nightly stress
# run; slow). The profile sets parameters, and asv files a graph by its parameters, so
# the published history is always measured with `regular` (plus `large` where opted in).
PROFILES = ("fast", "regular", "large")
PROFILE = os.environ.get("GEOINFER_BENCH_PROFILE", "regular")
if PROFILE not in PROFILES:
    raise ValueError(f"GEOINFER_BENCH_PROFILE={PROFILE!r}: choose one of {', '.join(PROFILES)}")
LARGE = PROFILE == "large"

WORKFLOW_NAMES = ("basic", "disease_surveillance", "precision_farming", "climate_analysis")
WORKFLOW_SIZES = {
    "fast": ("seed",),
    "regular": ("seed", "standard"),
    "large": ("seed", "standard", "large"),
}[PROFILE]
CLUSTER_SIZES = (1_000, 10_000, *(() if PROFILE == "fast" else (100_000,)))
INGEST_ROWS = {
    "fast": (100, 1_000, 10_000),
    "regular": (100, 1_000, 10_000, 100_000),
    "large": (100, 1_000, 10_000, 100_000, 1_000_000),
}[PROFILE]

# Trackers have no statistics of their own in asv (a track_ result is one number, gated on
# the factor alone), so each takes the median of several runs: one slow run cannot alarm.
TRACKER_RUNS = 5

MiB = 1024.0 * 1024.0


def _median_seconds(fn: Callable[[], Any], clock: Callable[[], float], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples)


def median_cpu_seconds(fn: Callable[[], Any], runs: int = TRACKER_RUNS) -> float:
    """Median process CPU seconds (user+sys) of `fn`; process_time has ns resolution,
    psutil's cpu_times ticks in 10 ms steps."""
    return _median_seconds(fn, time.process_time, runs)


def median_wall_seconds(fn: Callable[[], Any], runs: int = TRACKER_RUNS) -> float:
    return _median_seconds(fn, time.perf_counter, runs)


def traced_peak_mib(fn: Callable[[], Any]) -> float:
    """Peak bytes allocated through Python's allocators (numpy buffers included) while
    `fn` runs, above what was live before it: deterministic, unlike RSS. `fn` runs once
    untraced first so one-off lazy imports and caches are not counted, and the cyclic
    collector is emptied first so its trigger points fall in the same places each time."""
    fn()
    gc.collect()
    return _traced_peak_bytes(fn) / MiB


def _traced_peak_bytes(fn: Callable[[], Any]) -> int:
    """Bytes allocated at the peak of one traced call of `fn`, above what was live before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - baseline


class WorkflowBenchmark:
    """Base of the benchmarks parametrised by workflow and size: the parameters of the
    profile, and the skip (asv's NotImplementedError) where the commit under test lacks
    the workflow. A subclass narrows `params` where a size does not suit what it measures
    and extends `setup`."""

    params = (list(WORKFLOW_NAMES), list(WORKFLOW_SIZES))
    param_names = ["workflow", "size"]

    def setup(self, workflow: str, size: str) -> None:
        require_workflow(workflow)


def require_workflow(name: str) -> None:
    """Skip (NotImplementedError, asv's convention) where the commit under test lacks it,
    or cannot import its workflows at all (the project's first commits)."""
    try:
        from geoinfer_workflows.workflows import WORKFLOWS
    except ImportError as exc:
        raise NotImplementedError(f"no importable workflows at this commit: {exc}") from None

    if name not in WORKFLOWS:
        raise NotImplementedError(f"workflow {name!r} does not exist at this commit")


# --- Fresh interpreters for the instruments (callgrind.py, rss_growth.py) ----------------

# Where `benchmarks` (this package) lives: appended to a child's sys.path only after the
# package under test is imported, so the installed commit always wins over the checkout.
SUITE_PARENT = Path(__file__).resolve().parents[1]
EXIT_NO_WORKFLOW = 3  # a child's exit status: the workflow does not exist at this commit


def child_environment(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (default: this process's environment) with the hash seed fixed, the thread
    pins and `extra` set: what a measured child process runs with."""
    env = dict(os.environ if base is None else base)
    env.update(THREAD_PINS, PYTHONHASHSEED="0", **extra)
    return env


def child_arguments(module: str) -> list[str]:
    """Interpreter arguments that run `benchmarks.<module>.child_main()` in a fresh process:
    the package under test is imported first, then SUITE_PARENT is appended to sys.path;
    the arguments after these reach child_main as sys.argv[1:]."""
    bootstrap = (
        "import sys, geoinfer_workflows; sys.path.append(sys.argv.pop(1)); "
        f"from benchmarks.{module} import child_main; sys.exit(child_main())"
    )
    return ["-c", bootstrap, str(SUITE_PARENT)]


@cache
def workflow_inputs(name: str, size: str) -> dict[str, Any]:
    """The seeded input of a workflow (seed 0), built once per benchmark process."""
    from geoinfer_workflows.workflows import WORKFLOWS

    return WORKFLOWS[name].make_inputs(size, 0)


def planted_blobs(n: int, *, k: int = 8, noise: float = 0.05, seed: int = 0):
    """`n` points around a city: k Gaussian blobs (~250 m spread, centres >= 3 km apart)
    plus a `noise` share scattered uniformly (label -1). Returns (points[lat, lon], labels)."""
    rng = np.random.default_rng(seed)
    angles = np.arange(k) * 2 * np.pi / k
    centre_lat = 40.0 + 0.05 * np.sin(angles)
    centre_lon = -3.7 + 0.065 * np.cos(angles)
    n_noise = int(noise * n)
    labels = np.concatenate([rng.integers(0, k, n - n_noise), np.full(n_noise, -1)])
    spread = 250.0 / 111_195.0
    lat = np.where(labels >= 0, centre_lat[labels] + rng.normal(0, spread, n), 0.0)
    lon = np.where(labels >= 0, centre_lon[labels] + rng.normal(0, spread * 1.3, n), 0.0)
    noise_rows = labels < 0
    lat[noise_rows] = rng.uniform(39.92, 40.08, n_noise)
    lon[noise_rows] = rng.uniform(-3.80, -3.60, n_noise)
    return np.column_stack([lat, lon]), labels


def adjusted_rand_index(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Hubert-Arabie adjusted Rand index from the contingency table (as scikit-learn's)."""
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(predicted, return_inverse=True)
    table = np.zeros((t.max() + 1, p.max() + 1), dtype=np.int64)
    np.add.at(table, (t, p), 1)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) // 2).sum())

    index = pairs(table)
    rows, cols = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / pairs(np.array([len(truth)]))
    maximum = (rows + cols) / 2
    return 1.0 if maximum == expected else (index - expected) / (maximum - expected)


def _iso(t: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(t.astype("datetime64[s]")).tolist()]


@cache
def observation_columns(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    from . import compat

    synthetic = compat.import_first("geoinfer_workflows.synthetic", "geoinfer_workflows.data")
    obs = synthetic.observations_of_length(n, seed)
    return {"lat": obs.lat, "lon": obs.lon, "t": obs.t, "value": obs.value}


def _observation_rows(n: int):
    """(lat, lon, ISO timestamp, value) of each of `n` seeded observations."""
    cols = observation_columns(n)
    return zip(
        cols["lat"].tolist(),
        cols["lon"].tolist(),
        _iso(cols["t"]),
        cols["value"].tolist(),
        strict=True,
    )


@cache
def csv_text(n: int) -> str:
    """`n` clean observations as CSV with ISO 8601 timestamps, the DATA schema."""
    lines = ["lat,lon,timestamp,value"]
    lines += [f"{la:.6f},{lo:.6f},{ts},{v:.3f}" for la, lo, ts, v in _observation_rows(n)]
    return "\n".join(lines) + "\n"


@cache
def records(n: int) -> list[dict[str, Any]]:
    return [
        {"lat": la, "lon": lo, "timestamp": ts, "value": v}
        for la, lo, ts, v in _observation_rows(n)
    ]


@cache
def geojson_text(n: int) -> str:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {"timestamp": r["timestamp"], "value": r["value"]},
        }
        for r in records(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


DIRTY_ROWS = 1_000
DIRTY_BAD_ROWS = {
    # kind of bad row -> every how many rows it is planted (offsets differ per kind)
    "nan value": 97,
    "lat out of range": 89,
    "lon out of range": 83,
    "bad timestamp": 79,
    "ragged row": 73,
    "infinite value": 71,
    "absurd magnitude": 67,
}


@cache
def dirty_csv_text() -> str:
    """A fixed 1,000-row CSV with seven kinds of bad rows planted at fixed positions: the
    number rejected is a correctness figure that belongs in the history beside speed."""
    lines = csv_text(DIRTY_ROWS).splitlines()
    corrupt = {
        "nan value": lambda f: [*f[:3], "nan"],
        "lat out of range": lambda f: ["91.5", *f[1:]],
        "lon out of range": lambda f: [f[0], "-181.0", *f[2:]],
        "bad timestamp": lambda f: [*f[:2], "2024-13-45T25:61:00Z", f[3]],
        "ragged row": lambda f: [*f, "extra"],
        "infinite value": lambda f: [*f[:3], "inf"],
        "absurd magnitude": lambda f: [*f[:3], "1e300"],
    }
    for offset, (kind, every) in enumerate(DIRTY_BAD_ROWS.items()):
        for row in range(1 + offset, DIRTY_ROWS + 1, every):
            lines[row] = ",".join(corrupt[kind](lines[row].split(",")))
    return "\n".join(lines) + "\n"


# Stage names per workflow, spelled out (not read from the package) so a benchmark's
# parameters do not change with the commit under test; a stage an older commit lacks is
# skipped in setup.
WORKFLOW_STAGES = {
    "basic": ("ingest", "bin_cells", "daily_aggregates", "publish"),
    "disease_surveillance": (
        "ingest",
        "bin_cells",
        "daily_counts",
        "rates",
        "smooth",
        "hotspots",
        "case_clusters",
        "alerts",
        "report",
    ),
    "precision_farming": (
        "ingest",
        "aggregate",
        "drying_trend",
        "moisture_grid",
        "vegetation",
        "zones",
        "irrigation",
        "plan",
    ),
    "climate_analysis": (
        "ingest",
        "qc",
        "daily",
        "anomalies",
        "trends",
        "extremes",
        "grid",
        "risk",
        "report",
    ),
}


# Peer ingestion (benchmarks/bench_peers_ingest.py) and streaming: 1e5 rows, 1e6 at `large`.
PEER_INGEST_ROWS = (100_000, 1_000_000) if LARGE else (100_000,)
BAD_ROW_EVERY = 100  # 1% bad rows
# The bad rows, in turn: (field index, text); index 4 appends a field (a ragged row).
BAD_CELLS = (
    (3, "nan"),
    (0, "91.5"),
    (1, "-181.0"),
    (2, "2024-13-45T25:61:00Z"),
    (4, "extra"),
    (3, "inf"),
    (3, "1e300"),
)


@cache
def csv_text_with_bad_rows(n: int) -> str:
    """`csv_text(n)` with every 100th data row (from the first) made bad, the seven kinds of
    `BAD_CELLS` in turn: 1% of rows rejected, each for one reason."""
    lines = csv_text(n).splitlines()
    for k, row in enumerate(range(1, n + 1, BAD_ROW_EVERY)):
        fields = lines[row].split(",")
        at, text = BAD_CELLS[k % len(BAD_CELLS)]
        fields[at : at + 1] = [text]  # past the end: appended
        lines[row] = ",".join(fields)
    return "\n".join(lines) + "\n"


def station_readings(stations: int, readings: int, seed: int = 0):
    """(lat, lon) of `readings` reports from each of `stations` fixed stations, station
    after station (the layout a sample-based duplicate check misses): every coordinate
    pair repeats `readings` times."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(35.0, 45.0, stations)
    lon = rng.uniform(-5.0, 5.0, stations)
    return np.repeat(lat, readings), np.repeat(lon, readings)


def traced_and_arrow_peak_mib(fn: Callable[[], Any]) -> float:
    """`traced_peak_mib` plus the peak of what `fn` allocates from pyarrow's default memory
    pool, which tracemalloc does not see (pyarrow's own arrays, and the arrays geoinfer's
    CSV engine keeps there: geoinfer_workflows/modules/ingest/pooled.py).

    The pool's peak is read from a proxy pool put in front of the default one for the
    call. The two peaks are added, an upper bound of the true joint peak (they need not
    coincide); allocations pyarrow makes from its C++ default pool directly, not through
    its Python API's default, are not seen."""
    import pyarrow as pa

    fn()
    gc.collect()
    before = pa.default_memory_pool()
    proxy = pa.proxy_memory_pool(before)
    pa.set_memory_pool(proxy)
    try:
        traced = _traced_peak_bytes(fn)
    finally:
        pa.set_memory_pool(before)
    return (traced + proxy.max_memory()) / MiB
