"""Print the latest figures of the workflow benchmarks from asv's saved results.

Reads with asv's own results API, for the newest commit of `main` that has results on the
machine: time per run, CPU seconds, traced peak allocation, peak RSS, and the speed-up
against the guide's reference timings.

    python -m tools.latest_figures [--machine NAME] [--commit HASH]
"""

from __future__ import annotations

import argparse
import itertools
import math
import subprocess
import sys
from pathlib import Path

from asv.config import Config
from asv.machine import Machine
from asv.results import iter_results_for_machine_and_hash

from tools import asvkit

REFERENCE_S = {  # the guide's timings of the reference examples (seed-size data)
    "basic": 0.09,
    "disease_surveillance": 0.07,
    "precision_farming": 0.33,
    "climate_analysis": 0.44,
}
PREFIX = "bench_workflows.WorkflowRun."
COLUMNS = ("time_run", "track_cpu_seconds", "track_traced_peak_mib", "peakmem_run")


def _values(results, name: str) -> dict[tuple[str, ...], float]:
    key = PREFIX + name
    if key not in results.get_all_result_keys():
        return {}
    params = results.get_result_params(key)
    values = results.get_result_value(key, params)
    combos = itertools.product(*params) if params else [()]
    return {
        tuple(p.strip("'") for p in combo): v
        for combo, v in zip(combos, values, strict=True)
        if v is not None and not (isinstance(v, float) and math.isnan(v))
    }


def latest_results(conf: Config, machine: str, commit: str | None):
    if commit:
        hashes = [commit]
    else:
        log = ["git", "rev-list", "--first-parent", "main"]
        hashes = subprocess.run(log, capture_output=True, text=True, check=True).stdout.split()
    for commit_hash in hashes:
        found = list(iter_results_for_machine_and_hash(conf.results_dir, machine, commit_hash))
        if found:
            return commit_hash, found[0]
    return None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", default=None)
    parser.add_argument("--commit", default=None)
    parser.add_argument("--config", default="asv.conf.json")
    args = parser.parse_args(argv)
    conf = asvkit.load_config(Path(args.config))
    machine = args.machine or Machine.get_unique_machine_name()
    if not (Path(conf.results_dir) / machine).is_dir():
        print(f"no results for machine {machine!r} in {conf.results_dir}", file=sys.stderr)
        return 1
    commit, results = latest_results(conf, machine, args.commit)
    if results is None:
        print(f"no results on main for machine {machine!r}", file=sys.stderr)
        return 1
    table = {name: _values(results, name) for name in COLUMNS}
    print(f"machine {machine}, commit {commit[:8]}")
    print(
        f"{'workflow':<22}{'size':<10}{'time ms':>10}{'cpu ms':>10}"
        f"{'traced MiB':>12}{'RSS MiB':>10}{'vs ref':>9}"
    )
    for (workflow, size), seconds in sorted(table["time_run"].items()):
        cpu = table["track_cpu_seconds"].get((workflow, size), math.nan)
        traced = table["track_traced_peak_mib"].get((workflow, size), math.nan)
        rss = table["peakmem_run"].get((workflow, size), math.nan) / 2**20
        speedup = REFERENCE_S.get(workflow, math.nan) / seconds
        print(
            f"{workflow:<22}{size:<10}{seconds * 1e3:>10.2f}{cpu * 1e3:>10.2f}"
            f"{traced:>12.2f}{rss:>10.1f}{speedup:>8.0f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
