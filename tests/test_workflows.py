"""End-to-end runs of the four workflows: they compute, they are deterministic, and they
find what the generators planted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geoinfer_workflows import WORKFLOWS, UnknownWorkflowError, run_workflow
from geoinfer_workflows.modules.space import haversine_m
from geoinfer_workflows.synthetic import (
    generate_climate,
    generate_disease_cases,
    generate_farm,
    generate_observations,
)
from geoinfer_workflows.synthetic.climate import WARMING_C_PER_DAY

EXPECTED_MODULES = {
    "basic": 4,
    "disease_surveillance": 8,
    "precision_farming": 7,
    "climate_analysis": 7,
}


@pytest.fixture(scope="module", params=["seed", "standard"])
def results(request):
    return {name: run_workflow(name, request.param, seed=0) for name in WORKFLOWS}


def test_module_counts_match_the_guide():
    assert {n: len(w.pipeline.modules) for n, w in WORKFLOWS.items()} == EXPECTED_MODULES


def test_guide_ratio_benchmark_uses_the_guide_figures():
    """The suite's GuideRatio row divides by its own copy of the guide's seconds (fixed for
    the history); it must be the figures the package states for each workflow."""
    from benchmarks.bench_workflows import GUIDE_SECONDS

    assert {name: w.reference_s for name, w in WORKFLOWS.items()} == GUIDE_SECONDS


def test_unknown_workflow_is_a_clear_error():
    with pytest.raises(UnknownWorkflowError, match="expected one of"):
        run_workflow("nope", "seed")


def test_every_workflow_reports_json_and_stage_timings(results):
    for name, result in results.items():
        json.dumps(result.output, allow_nan=False)
        assert result.output["type"] == "FeatureCollection"
        assert [s.name for s in result.timings] == [s.name for s in WORKFLOWS[name].pipeline.stages]
        assert all(s.wall_s >= 0 and s.cpu_s >= 0 for s in result.timings)


def test_rows_are_conserved_by_ingest(results):
    for result in results.values():
        ingest = result.context["ingest"]
        assert ingest.accepted + ingest.rejected_count == ingest.rows_read


@pytest.mark.parametrize(
    "generate", [generate_observations, generate_disease_cases, generate_farm, generate_climate]
)
def test_generators_are_deterministic(generate):
    first, second, other = generate("seed", 3), generate("seed", 3), generate("seed", 4)
    arrays = [k for k, v in vars(first).items() if isinstance(v, np.ndarray)]
    for key in arrays:
        assert np.array_equal(getattr(first, key), getattr(second, key), equal_nan=True), key
    assert any(
        not np.array_equal(getattr(first, k), getattr(other, k), equal_nan=True) for k in arrays
    )


@pytest.mark.parametrize(
    ("generate", "records"),
    [
        (generate_observations, {"seed": 50, "standard": 5_000}),
        (generate_disease_cases, {"seed": 150, "standard": 15_000}),
        (generate_farm, {"seed": 4_000, "standard": 400_000}),
        (generate_climate, {"seed": 18_000, "standard": 1_800_000}),
    ],
)
def test_sizes_are_the_reference_shapes_and_100x(generate, records):
    for size, n in records.items():
        assert len(generate(size, 0)) == n


def test_basic_aggregates_every_accepted_observation(results):
    result = results["basic"]
    observations = sum(f["properties"]["observations"] for f in result.output["features"])
    assert observations == result.context["ingest"].accepted
    assert result.output["metadata"]["days"] == 7


def test_disease_surveillance_finds_the_planted_outbreak(results):
    result = results["disease_surveillance"]
    n_cases = len(result.context["table"])
    data = generate_disease_cases("seed" if n_cases == 150 else "standard", 0)
    hot = [f for f in result.output["features"] if f["properties"]["disease"] == "dengue"]
    assert hot, "no dengue hotspot cell"
    lon, lat = np.array([f["geometry"]["coordinates"] for f in hot]).T
    assert haversine_m(lat, lon, data.outbreak_lat, data.outbreak_lon).min() < 3_000
    clusters = result.output["metadata"]["clusters"]
    lat_c = np.array([c["lat"] for c in clusters])
    lon_c = np.array([c["lon"] for c in clusters])
    assert haversine_m(lat_c, lon_c, data.outbreak_lat, data.outbreak_lon).min() < 1_000


def test_precision_farming_irrigates_the_dry_patch_most(results):
    result = results["precision_farming"]
    ctx = result.context
    zones = ctx["zones"]
    data = generate_farm("seed" if len(ctx["sensor_lat"]) == 400 else "standard", 0)
    driest = int(np.argmin(ctx["zone_moisture"]))
    in_driest = zones == driest
    # The driest zone is mostly the planted sandy patch, and it gets the most water.
    overlap = (in_driest & data.dry_patch_mask).sum() / in_driest.sum()
    assert overlap > 0.6
    assert ctx["zone_irrigation_mm"][driest] == ctx["zone_irrigation_mm"].max() > 0
    assert result.output["metadata"]["faulty_sensors"] == max(1, data.n_sensors // 200)


def test_climate_analysis_finds_warming_cluster_and_heatwave(results):
    result = results["climate_analysis"]
    ctx = result.context
    n_days = ctx["daily"].shape[1]
    data = generate_climate("seed" if n_days == 30 else "standard", 0)
    qc = result.output["metadata"]["qc"]
    assert qc["range_fail"] >= data.temperature.size // 2000
    assert qc["spike_fail"] > 0 and qc["stuck_fail"] > 0
    first, last = data.heatwave_days
    hot_days = ctx["extremes"].hot_days[data.heatwave_stations]
    # Those stations' extreme days crowd into the planted heatwave.
    inside = hot_days[:, first:last].mean()
    outside = np.delete(hot_days, np.s_[first:last], axis=1).mean()
    assert inside > 5 * outside
    if n_days > 60:  # a 30-day series is too short for a trend to beat the weather
        slope, warm = ctx["trend"].slope, data.warming_stations
        planted_per_decade = WARMING_C_PER_DAY * 3652.5
        assert np.nanmedian(slope[warm]) > np.nanmedian(slope[~warm]) + 0.5 * planted_per_decade
        hotspot = ctx["warming_hotspot"]
        assert hotspot[warm].mean() > 0.5 and hotspot[~warm].mean() < 0.1
