"""The cache on the workflows' path: opt-in, results identical with and without it, hits
where a run repeats a memoised computation, and a cache never stops a workflow."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import sqlite_cache
from scipy import sparse

from geoinfer_workflows import WORKFLOWS, run_workflow
from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.orchestration.cache import (
    LRUCache,
    TwoLevelCache,
    active_cache,
    memoize,
    using_cache,
)

# What each workflow memoises (the names before the digest in its cache keys), and the
# lookups that hit when data sets 0, 1, 0 are requested: the H3 cells and the IDW grid
# of a data set hit on its repeat, the Gi* weights of the study area (the same cells in
# every data set) on every run after the first. climate_analysis memoises nothing: its
# costly stages are vectorised passes over the hourly matrix, which costs about as much
# to digest as to recompute.
MEMOISED = {
    "basic": ({"basic.cells/1"}, 1),
    "disease_surveillance": ({"disease.case_cells/1", "disease.gi_weights/1"}, 1 + 2),
    "precision_farming": ({"precision_farming.moisture_grid/1"}, 1),
}


def _report(result) -> str:
    return json.dumps(result.output, sort_keys=True)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_cache_changes_no_result_and_hits_on_a_repeated_request(name: str) -> None:
    cache = LRUCache(64)
    requests = (0, 1, 0)  # data set 0 is asked for again
    plain = [run_workflow(name, "seed", seed=s) for s in requests]
    cached = [run_workflow(name, "seed", seed=s, cache=cache) for s in requests]
    assert [_report(r) for r in cached] == [_report(r) for r in plain]
    assert _report(plain[0]) != _report(plain[1])  # the data sets differ
    stats = cache.stats()
    if name in MEMOISED:
        names, hits = MEMOISED[name]
        lookups = len(requests) * len(names)
        assert (stats.hits, stats.misses) == (hits, lookups - hits)
        keys = cache.keys()  # least to most recently used (an LRUCache is no iterable)
        assert {key.split(":")[0] for key in keys} == names and len(keys) == lookups - hits
    else:
        assert (stats.hits, stats.misses, stats.size) == (0, 0, 0)


def test_a_hit_hands_the_stored_product_to_the_next_stage() -> None:
    cache = LRUCache(8)
    first = run_workflow("basic", "seed", cache=cache)
    again = run_workflow("basic", "seed", cache=cache)
    assert again.context["cells"] is first.context["cells"]
    assert run_workflow("basic", "seed").context["cells"] is not first.context["cells"]


@pytest.mark.parametrize("name", sorted(MEMOISED))
def test_a_persistent_level_serves_the_next_process(tmp_path: Path, name: str) -> None:
    """A fresh L1 over the same SQLite file (as a restarted service has): L2 hits only,
    every memoised value (arrays, the CSR weights) stored and read back without pickle."""
    path = tmp_path / "cache.db"
    first = run_workflow(name, "seed", cache=TwoLevelCache(LRUCache(8), sqlite_cache(path)))
    restarted = TwoLevelCache(LRUCache(8), sqlite_cache(path))
    again = run_workflow(name, "seed", cache=restarted)
    assert _report(again) == _report(first)
    stats = restarted.stats()
    assert (stats.l1_hits, stats.l2_hits, stats.misses) == (0, len(MEMOISED[name][0]), 0)


def test_memoize_without_a_cache_is_a_plain_call() -> None:
    assert active_cache() is None
    value = memoize("test.arange/1", np.arange, 3)
    value[0] = 7  # an ordinary, writable result
    assert value.tolist() == [7, 1, 2]


def test_memoised_arrays_are_read_only_so_a_stage_cannot_corrupt_later_runs() -> None:
    with using_cache(LRUCache(4)):
        value = memoize("test.arange/1", np.arange, 3)
        assert memoize("test.arange/1", np.arange, 3) is value
        weights = memoize("test.eye/1", sparse.eye, 3, format="csr")
    with pytest.raises(ValueError, match="read-only"):
        value[0] = 7
    with pytest.raises(ValueError, match="read-only"):
        weights.data[0] = 7.0


def test_keyword_arguments_are_part_of_the_key() -> None:
    cache = LRUCache(4)
    with using_cache(cache):
        one = memoize("test.round/1", np.round, np.array([1.26]), decimals=1)
        two = memoize("test.round/1", np.round, np.array([1.26]), decimals=2)
    assert one.tolist() == [1.3] and two.tolist() == [1.26]
    assert cache.stats().misses == 2


def test_a_value_the_cache_cannot_store_is_returned_uncached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TwoLevelCache(LRUCache(4), sqlite_cache(tmp_path / "cache.db"))
    with using_cache(cache), caplog.at_level(logging.WARNING):
        assert memoize("test.set/1", set, [1, 2]) == {1, 2}
    assert "test.set/1 not cached" in caplog.text
    assert len(cache.l2) == 0 and len(cache.l1) == 0


def test_the_cache_is_scoped_to_the_run_and_its_thread() -> None:
    seen: list[object] = []
    cache = LRUCache(4)
    with using_cache(cache):
        assert active_cache() is cache
        worker = threading.Thread(target=lambda: seen.append(active_cache()))
        worker.start()
        worker.join()
    assert seen == [None] and active_cache() is None
    with pytest.raises(RuntimeError), using_cache(cache):
        raise RuntimeError("a failing stage")
    assert active_cache() is None


def test_something_that_is_not_a_cache_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="get"):
        run_workflow("basic", "seed", cache={"not": "a cache"})  # type: ignore[arg-type]
