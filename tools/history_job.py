"""The main job: measure the commits of `main` with asv, newest first, and publish the
history to html/ (offline-ready) after each commit, so the pages are browsable at any
moment and an interrupted run resumes where it stopped.

    python -m tools.history_job              # --quick: a first history in minutes
    python -m tools.history_job --full       # every commit of main, the whole suite
    python -m tools.history_job --plan       # say what would run, run nothing

scripts/run-benchmarks sets up .venv and calls this. Modes:

- `--quick` (default): the newest QUICK_COMMITS commits of main and a lean selection
  (QUICK_BENCH): the deterministic trackers (instruction counts and traced peak MiB of each
  workflow) and each workflow's time per run, at `seed` size. Already measured rows are
  skipped (asv `--skip-existing`).
- `--full`: every first-parent commit of main and the whole suite. Rows that are missing
  or failed are (re)measured (asv `--skip-existing-successful`): a commit a `--quick` run
  measured gets the rest of the suite, a benchmark that failed gets another chance.

Before running, the machine is checked (`check_machine`): results are filed per machine
name (.asv/results/<name>/), and a name whose committed machine.json describes other
hardware (cpu, number of CPUs, architecture, RAM, OS) is refused (exit 3): one machine's
graph never mixes two boxes. Without ASV_MACHINE or --machine, the name is DEFAULT_MACHINE
when this box matches it, else one derived from the hardware (`derived_name`).

Per-commit wall times are kept in .asv/history-job.json (not committed) and give the
estimate printed up front; without records the estimate uses DEFAULT_SECONDS.
Exit codes: 0 done (benchmark failures are published as gaps and reported), 2 usage,
3 cannot run (machine mismatch, no commits), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from asv.benchmarks import Benchmarks
from asv.config import Config
from asv.machine import Machine, MachineCollection
from asv.results import iter_results_for_machine_and_hash
from asv.util import UserError

from tools import asvkit, offline_html

ROOT = asvkit.ROOT
DEFAULT_MACHINE = "vm-2core"  # the class of box the committed history is measured on
QUICK_COMMITS = 5
# asv -b regexes (a parameterised benchmark matches as "name('workflow', 'size')").
QUICK_BENCH = (
    r"WorkflowRun\.(time_run|track_traced_peak_mib)\(.*'seed'\)",
    r"WorkflowInstructions\.track_instructions\(.*'seed'\)",
)
# Seconds per commit when nothing is recorded yet, measured on the 2-core VM (README):
DEFAULT_SECONDS = {"quick": 90.0, "full": 900.0}
FIRST_ENV_SECONDS = 60.0  # building the benchmark virtualenv once (numpy, scipy, h3)
TIMES_FILE = "history-job.json"  # beside the results folder: .asv/history-job.json
KEPT_TIMES = 20
# Hardware fields of asv's machine info that must match; RAM within this fraction (a VM's
# reported total moves by a few hundred kB between kernels), OS up to the kernel release
# number (the build suffix after "-" differs between VMs of one class).
HARDWARE = ("arch", "cpu", "num_cpu", "ram", "os")
RAM_TOLERANCE = 0.02


class CannotRun(Exception):
    """The job must not run (exit 3)."""


# -- machine identity -------------------------------------------------------------------


def current_hardware() -> dict[str, str]:
    info = Machine.get_defaults()
    return {key: str(info[key]) for key in HARDWARE}


def _os_release(os_name: str) -> str:
    system, _, release = os_name.partition(" ")
    return f"{system} {release.split('-', 1)[0]}".strip()


def hardware_mismatches(committed: dict, current: dict[str, str]) -> list[str]:
    """The fields where a machine.json and this box differ, as 'field: theirs != ours'."""
    differ = []
    for key in HARDWARE:
        theirs, ours = str(committed.get(key, "")), str(current.get(key, ""))
        if key == "ram":
            try:
                same = abs(int(theirs) - int(ours)) <= RAM_TOLERANCE * max(int(theirs), 1)
            except ValueError:
                same = theirs == ours
        elif key == "os":
            same = _os_release(theirs) == _os_release(ours)
        else:
            same = theirs == ours
        if not same:
            differ.append(f"{key}: {theirs!r} != {ours!r}")
    return differ


def derived_name(hardware: dict[str, str]) -> str:
    """A machine name from the hardware: 'amd-epyc-2core', 'intel-xeon-platinum-8375c-
    2-90ghz-4core'. Boxes that get the same name are interchangeable for the history."""
    cpu = re.sub(r"\((?:r|tm)\)|\bcpu\b|@", " ", hardware["cpu"].lower())
    slug = re.sub(r"[^a-z0-9]+", "-", cpu).strip("-")[:48].strip("-") or "cpu"
    return f"{slug}-{hardware['num_cpu']}core"


def committed_machine(results_dir: Path, name: str) -> dict | None:
    path = results_dir / name / "machine.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class MachineChoice:
    name: str
    info: dict[str, str]  # what to register: the committed machine.json's values if any
    note: str


def check_machine(
    results_dir: Path, requested: str | None, hardware: dict[str, str]
) -> MachineChoice:
    """The machine name to file results under, or CannotRun when the named machine's
    committed machine.json describes other hardware."""
    name = requested or DEFAULT_MACHINE
    committed = committed_machine(results_dir, name)
    differ = hardware_mismatches(committed, hardware) if committed else []
    if differ and not requested:
        derived = derived_name(hardware)
        note = (
            f"this box is not {name!r} ({'; '.join(differ)}): its results go under the "
            f"name {derived!r} derived from its hardware (set ASV_MACHINE to choose one)"
        )
        name, committed = derived, committed_machine(results_dir, derived)
        differ = hardware_mismatches(committed, hardware) if committed else []
    else:
        note = f"machine {name!r}" + (
            " (hardware matches its committed machine.json)" if committed else " (new)"
        )
    if differ:
        raise CannotRun(
            f"cannot run: machine {name!r} in {results_dir / name / 'machine.json'} is "
            f"other hardware ({'; '.join(differ)}). Its history must not mix two boxes: "
            f"choose another name, e.g. ASV_MACHINE={derived_name(hardware)} "
            "(README, 'Naming the boxes')."
        )
    info = {key: str(committed[key]) for key in HARDWARE} if committed else dict(hardware)
    return MachineChoice(name, info, note)


# -- what to measure --------------------------------------------------------------------


def main_commits(repo: Path, count: int | None) -> list[str]:
    cmd = ["git", "rev-list", "--first-parent", "main"]
    if count:
        cmd[3:3] = ["-n", str(count)]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CannotRun(f"cannot run: no branch main in {repo}: {done.stderr.strip()}")
    return done.stdout.split()


def pending_commits(
    conf: Config, machine: str, commits: list[str], bench: list[str], full: bool
) -> list[str]:
    """The commits asv would measure something at (newest first, as given). Without a
    benchmarks.json (nothing measured yet) every commit is pending."""
    try:
        selected = Benchmarks.load(conf, regex=bench or None)
    except UserError:
        return list(commits)
    todo = []
    for commit in commits:
        found = list(iter_results_for_machine_and_hash(conf.results_dir, machine, commit))
        if not found or any(_missing(r, selected, full) for r in found):
            todo.append(commit)
    return todo


def _missing(result, selected: Benchmarks, full: bool) -> bool:
    keys = set(result.get_result_keys(selected))  # a changed version counts as missing
    for name, benchmark in selected.items():
        if name not in keys:
            return True
        if full:
            values = result.get_result_value(name, benchmark["params"])
            chosen = selected.benchmark_selection.get(name)
            if chosen is None:
                values, chosen = [values], [0]
            if any(values[i] is None for i in chosen):
                return True
    return False


# -- recorded times ---------------------------------------------------------------------


def load_times(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record_time(path: Path, machine: str, mode: str, seconds: float) -> None:
    times = load_times(path)
    series = times.setdefault(machine, {}).setdefault(mode, [])
    series.append(round(seconds, 1))
    del series[:-KEPT_TIMES]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def estimate(times: dict, machine: str, mode: str) -> tuple[float, str]:
    recorded = times.get(machine, {}).get(mode, [])
    if recorded:
        return statistics.median(recorded), f"median of {len(recorded)} recorded commit(s)"
    return DEFAULT_SECONDS[mode], "default for a 2-core VM, nothing recorded here yet"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


# -- running ----------------------------------------------------------------------------


def asv(config: Path, *args: str) -> int:
    """An asv command, its output passed through. `python -m asv` from the repository
    root: asv imports the plugin asv_offline_pages from there (asv.conf.json)."""
    cmd = asvkit.asv_command(args[0], config, *args[1:])
    return subprocess.run(cmd, cwd=ROOT, env=asvkit.bench_environ(), check=False).returncode


def check_offline(html_dir: Path) -> None:
    index = html_dir / "index.html"
    left = offline_html.external_resources(index.read_text(encoding="utf-8"))
    if left or not (html_dir / "vendor").is_dir():
        raise CannotRun(f"{index} is not offline-ready (loads {left}): is the plugin listed?")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="full", action="store_false", help="(default) see above")
    mode.add_argument("--full", dest="full", action="store_true", help="whole suite, all of main")
    parser.set_defaults(full=False)
    parser.add_argument("--commits", type=int, help="newest N commits of main (both modes)")
    parser.add_argument("--machine", help="machine name (default: ASV_MACHINE, see above)")
    parser.add_argument(
        "-b", "--bench", action="append", help="asv -b regex (repeatable), replaces the mode's"
    )
    parser.add_argument("--config", type=Path, default=ROOT / "asv.conf.json")
    parser.add_argument("--plan", action="store_true", help="print the plan, run nothing")
    parser.add_argument("asv_args", nargs="*", help="after --: passed on to `asv run`")
    args = parser.parse_args(argv)
    if args.commits is not None and args.commits < 1:
        parser.error("--commits must be at least 1")
    return args


def run(args: argparse.Namespace) -> int:
    config = args.config.resolve()
    conf = asvkit.load_config(config)
    results_dir, html_dir = Path(conf.results_dir), Path(conf.html_dir)
    requested = args.machine or os.environ.get("ASV_MACHINE") or None
    choice = check_machine(results_dir, requested, current_hardware())
    mode = "full" if args.full else "quick"
    bench = list(args.bench or ([] if args.full else QUICK_BENCH))
    count = args.commits or int(os.environ.get("COMMITS") or 0)  # COMMITS: older usage
    count = count or (None if args.full else QUICK_COMMITS)
    commits = main_commits(Path(conf.repo), count)
    if not commits:
        raise CannotRun("cannot run: main has no commits")
    todo = pending_commits(conf, choice.name, commits, bench, args.full)
    times_path = results_dir.parent / TIMES_FILE
    per_commit, basis = estimate(load_times(times_path), choice.name, mode)
    setup = 0.0 if Path(conf.env_dir).is_dir() else FIRST_ENV_SECONDS
    print(f"== {choice.note}")
    print(
        f"== {mode}: {len(todo)} of the newest {len(commits)} commit(s) of main to measure, "
        f"newest first ({len(commits) - len(todo)} already measured, skipped); "
        f"benchmarks: {' | '.join(bench) if bench else 'the whole suite'}"
    )
    total = per_commit * len(todo) + (setup if todo else 0)
    print(
        f"== estimate: {minutes(total)} ({minutes(per_commit)} per commit, {basis}"
        + (f"; + {minutes(setup)} to build the environment once" if setup and todo else "")
        + ")",
        flush=True,
    )
    if args.plan:
        return 0

    # What `asv machine --yes` would store in ~/.asv-machine.json, but with the committed
    # machine.json's own values when there is one, so `asv run` rewrites it byte for byte.
    MachineCollection.save(choice.name, {"machine": choice.name, **choice.info})

    skip = "--skip-existing-successful" if args.full else "--skip-existing"
    selection = [opt for regex in bench for opt in ("-b", regex)]
    hashfile = results_dir.parent / "commits.txt"
    failed, started = [], time.perf_counter()
    for i, commit in enumerate(todo, 1):
        clock = time.perf_counter()
        print(f"== [{i}/{len(todo)}] measuring {commit[:8]} on {choice.name}", flush=True)
        hashfile.parent.mkdir(parents=True, exist_ok=True)
        hashfile.write_text(commit + "\n", encoding="utf-8")
        machine_args = ["--machine", choice.name]
        status = asv(
            config, "run", "--show-stderr", skip, *machine_args, *selection,
            f"HASHFILE:{hashfile}", *args.asv_args,
        )  # fmt: skip
        measured = time.perf_counter() - clock
        if status != 0:  # 2: a benchmark failed; published anyway, a gap in the graphs
            failed.append(commit[:8])
            print(f"!! asv run exited {status} at {commit[:8]} (see above)", flush=True)
        if asv(config, "publish") != 0:
            raise CannotRun(f"cannot run: `asv publish` failed after {commit[:8]}")
        check_offline(html_dir)
        wall = time.perf_counter() - clock
        record_time(times_path, choice.name, mode, wall)
        left = len(todo) - i
        print(
            f"== [{i}/{len(todo)}] {commit[:8]}: {wall:.0f} s wall (asv run {measured:.0f} s, "
            f"publish {wall - measured:.0f} s); published to {html_dir}"
            + (f"; ~{minutes(wall * left)} left for {left} commit(s)" if left else ""),
            flush=True,
        )
    if todo:
        print(
            f"== measured {len(todo)} commit(s) in {minutes(time.perf_counter() - started)}"
            + (f"; benchmark failures at {', '.join(failed)}" if failed else "")
        )
    else:
        print("== nothing new to measure; html/ is published from the saved results")
        if asv(config, "publish") != 0:
            raise CannotRun("cannot run: `asv publish` failed")
        check_offline(html_dir)
    figures = [sys.executable, "-m", "tools.latest_figures", "--machine", choice.name]
    subprocess.run([*figures, "--config", str(config)], cwd=ROOT, check=False)
    print(
        "\nBrowse the history: .venv/bin/asv preview   (then open http://127.0.0.1:8080)\n"
        "or: python3 -m http.server --directory html 8080   (the page loads its data over "
        "HTTP: opening html/index.html as a file:// URL shows nothing)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (CI cancel, `kill`) ends like Ctrl-C: what is published stays.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(args)
    except CannotRun as exc:
        print(f"history_job: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("history_job: interrupted; rerun to resume (measured commits are kept)")
        return 130


if __name__ == "__main__":
    sys.exit(main())
