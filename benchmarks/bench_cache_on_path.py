"""The cache on the workflows' path, under a service's request mix.

The mix (an assumption, stated so it can be argued with): a service answers requests for
one of DATA_SETS data sets (districts, farms, seeds 0..11 of the synthetic builders) with
Zipf(ZIPF_A) popularity, REQUESTS requests within a cache's lifetime (the guide's L2 TTL is
an hour: about one request a minute), seeded. A request runs the whole workflow on its data
set's inputs, built beforehand as the service holds them; the cache is the guide's L1, an
LRU of 1,000 entries, kept between requests. The memoised computations (see
`geoinfer_workflows.orchestration.cache.memo`) hit when a data set is asked for again (49
of the 60 requests here): the H3 cells of the points, the IDW moisture grid; the Gi*
weights of the disease study area, the same cells in every data set, hit on every request
but the first. So the hit ratio sits near the guide's 0.8 target by the mix (0.82; 0.90
for disease surveillance), and falls to 0 if a change breaks the keys or the wiring.
climate_analysis memoises nothing (its costly stages cost about as much to digest as to
recompute), so it is not a parameter.

`track_time_ratio` times each request without and then with the cache, back to back (a
busy neighbour slows both sides of a pair alike), and returns the CPU time of the whole mix
with the cache over without: below 1.0 the cache pays. The same figures per run, outside
asv: ``python -m benchmarks.bench_cache_on_path [SIZE ...]``.
"""

from __future__ import annotations

import statistics
import sys
import time

from . import common, compat

REQUESTS = 60
DATA_SETS = 12
ZIPF_A = 1.2
MIX_SEED = 0
L1_ENTRIES = 1_000  # the guide's l1_cache_size
CACHED_WORKFLOWS = ["basic", "disease_surveillance", "precision_farming"]


def request_mix() -> list[int]:
    """The data set (seed) of each request: Zipf ranks beyond DATA_SETS are drawn again."""
    import numpy as np

    rng = np.random.default_rng(MIX_SEED)
    mix: list[int] = []
    while len(mix) < REQUESTS:
        rank = int(rng.zipf(ZIPF_A))
        if rank <= DATA_SETS:
            mix.append(rank - 1)
    return mix


class _ServedMix(common.WorkflowBenchmark):
    timeout = 600
    # Each figure already sums a whole mix of paired runs (precision farming at `standard`
    # takes ~40 s): one asv sample is enough.
    rounds = 1
    repeat = 1
    number = 1

    def setup(self, workflow: str, size: str) -> None:
        super().setup(workflow, size)
        self.cache_module = compat.import_first("geoinfer_workflows.orchestration.cache")
        from geoinfer_workflows.workflows import WORKFLOWS

        self.pipeline = WORKFLOWS[workflow].pipeline
        self.requests = request_mix()
        self.inputs = {s: WORKFLOWS[workflow].make_inputs(size, s) for s in set(self.requests)}

    def new_cache(self):
        return self.cache_module.LRUCache(maxsize=L1_ENTRIES)

    def serve_interleaved(self) -> tuple[list[float], list[float], object]:
        """CPU seconds of each request without and with the cache (timed back to back),
        and the cache after the mix."""
        cache = self.new_cache()
        self.pipeline.run(self.inputs[self.requests[0]])  # warm-up: first-call costs
        uncached_s: list[float] = []
        cached_s: list[float] = []
        for seed in self.requests:
            start = time.process_time()
            self.pipeline.run(self.inputs[seed])
            middle = time.process_time()
            self.pipeline.run(self.inputs[seed], cache=cache)
            uncached_s.append(middle - start)
            cached_s.append(time.process_time() - middle)
        return uncached_s, cached_s, cache


class CacheOnPathHits(_ServedMix):
    """Hits over lookups of the memoised computations over the mix (the same at every size:
    the keys repeat as the data sets do), so measured at `seed` only."""

    params = (CACHED_WORKFLOWS, ["seed"])

    def track_hit_ratio(self, workflow: str, size: str) -> float:
        cache = self.new_cache()
        for seed in self.requests:
            self.pipeline.run(self.inputs[seed], cache=cache)
        return cache.stats().hit_ratio

    track_hit_ratio.unit = "ratio"
    track_hit_ratio.version = "cache-on-path-hit-ratio-1"


class CacheOnPathTime(_ServedMix):
    params = (CACHED_WORKFLOWS, list(common.WORKFLOW_SIZES))

    def track_time_ratio(self, workflow: str, size: str) -> float:
        uncached_s, cached_s, _ = self.serve_interleaved()
        return sum(cached_s) / sum(uncached_s)

    track_time_ratio.unit = "ratio"
    track_time_ratio.version = "cache-on-path-time-ratio-1"


def main(argv: list[str] | None = None) -> int:
    """Print, per workflow and size, the hit ratio and the CPU time per run of the mix."""
    sizes = (sys.argv[1:] if argv is None else argv) or list(common.WORKFLOW_SIZES)
    print("workflow size hit_ratio median_ms_without median_ms_with median_ratio total_ratio")
    for workflow in CACHED_WORKFLOWS:
        for size in sizes:
            bench = CacheOnPathTime()
            bench.setup(workflow, size)
            uncached_s, cached_s, cache = bench.serve_interleaved()
            without, with_ = statistics.median(uncached_s), statistics.median(cached_s)
            print(
                f"{workflow} {size} {cache.stats().hit_ratio:.3f} {without * 1e3:.2f} "
                f"{with_ * 1e3:.2f} {with_ / without:.3f} {sum(cached_s) / sum(uncached_s):.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
