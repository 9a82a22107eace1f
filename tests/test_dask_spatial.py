"""The partitioned spatial algorithms equal the serial ones: distributed Lloyd
(assignment per partition, update from summed partials) equals `space.lloyd` from the
same centres (labels and iterations exactly, centres and inertia to 1e-9 relative, the
re-seed of an empty cluster included); Gi* on x-strips with a halo equals
`risk.getis_ord_gi_star` to 1e-9 (isolates NaN on both); the IoT aggregators folded per
partition and merged equal one aggregator over the stream (counts, extremes, latest
readings exactly; moments to 1e-12)."""

from __future__ import annotations

from collections.abc import Iterator

import distributed
import numpy as np
import pytest

from geoinfer_workflows.distributed.hotspots import gi_star_partitioned, halo_strips
from geoinfer_workflows.distributed.kmeans import lloyd_partitioned
from geoinfer_workflows.distributed.partition import row_bounds
from geoinfer_workflows.distributed.streams import aggregate_partitioned
from geoinfer_workflows.modules import iot, risk, space
from geoinfer_workflows.synthetic import generate_farm


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _blobs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-50, 50, (6, 2))
    return centres[rng.integers(0, 6, n)] + rng.normal(0, 4.0, (n, 2))


@pytest.mark.parametrize(
    ("n", "rows", "empty"), [(500, 64, False), (20_000, 3_000, False), (5_000, 700, True)]
)
def test_partitioned_lloyd_equals_serial(
    client: distributed.Client, n: int, rows: int, empty: bool
) -> None:
    X = _blobs(n, seed=n)
    start = space.kmeans_plusplus(X, 6, np.random.default_rng(1))
    if empty:  # a centre far from every point: its cluster is empty and must be re-seeded
        start[0] = [1e4, 1e4]
    serial = space.lloyd(X, start)
    parts = [client.submit(np.array, X[lo:hi]) for lo, hi in row_bounds(n, rows)]
    dask = lloyd_partitioned(client, parts, start)
    assert dask.n_iter == serial.n_iter
    np.testing.assert_array_equal(dask.labels, serial.labels)
    np.testing.assert_allclose(dask.centers, serial.centers, rtol=1e-9)
    assert dask.inertia == pytest.approx(serial.inertia, rel=1e-9)
    if empty:
        assert (np.bincount(dask.labels, minlength=6) > 0).all()


@pytest.mark.parametrize(("n", "parts", "columns"), [(300, 3, 0), (2_000, 5, 2)])
def test_partitioned_gi_star_equals_serial(
    client: distributed.Client, n: int, parts: int, columns: int
) -> None:
    rng = np.random.default_rng(n)
    coords = rng.uniform(0, 10_000, (n, 2))
    coords[0] = [-5e4, -5e4]  # an isolate: z is NaN on both paths
    east = coords[:, 0] > 6e3  # a planted hot half
    shape = (n, columns) if columns else (n,)
    values = rng.gamma(2.0, 1.0, shape) + (east[:, None] if columns else east)
    band = 600.0
    serial = risk.getis_ord_gi_star(values, risk.distance_band_weights(coords, band)).z
    dask = gi_star_partitioned(client, coords, values, band, parts=parts)
    assert len(halo_strips(coords[:, 0], band, parts)) == parts
    np.testing.assert_allclose(dask, serial, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.isnan(dask[0]).all()


@pytest.mark.parametrize(("size", "rows"), [("seed", 400), ("standard", 50_000)])
def test_partitioned_iot_aggregation_equals_one_aggregator(
    client: distributed.Client, size: str, rows: int
) -> None:
    farm = generate_farm(size, seed=1)
    n_sensors = len(farm.sensor_lat)
    serial = iot.StreamingAggregator(n_sensors)
    serial.update(farm.sensor_id, farm.t, farm.moisture)
    expected = serial.result()
    columns = (farm.sensor_id, farm.t, farm.moisture)
    bounds = row_bounds(len(farm.t), rows)
    assert len(bounds) > 2
    parts = [client.submit(tuple, [c[lo:hi] for c in columns]) for lo, hi in bounds]
    stats = aggregate_partitioned(client, parts, n_sensors)
    for exact in ("count", "missing", "min", "max", "last"):
        np.testing.assert_array_equal(getattr(stats, exact), getattr(expected, exact))
    for moment in ("mean", "std"):
        np.testing.assert_allclose(getattr(stats, moment), getattr(expected, moment), rtol=1e-12)
