"""A/A and power study: how far `asv continuous` verdicts can be trusted on this machine.

In a throwaway clone of this repository's HEAD (a local `main` at HEAD), each variant is
one commit on top of HEAD:

- `aa`: a comment-only change (any verdict on it is a false alarm);
- `slowP` (P in 1, 5, 10, 20, 50): the climate_analysis workflow's `qc` stage redoes its
  quality control on extra station rows: real, deterministic work proportional to the
  stage's own, calibrated so the whole workflow's CPU time rises by P% (the calibration
  and the achieved slowdown are measured here, outside asv: base and patched pipelines
  run interleaved in one process, median CPU time of each);
- `mem`: a 1 MiB array (np.ones, so its pages are touched) kept alive for the whole run.

Each (HEAD, variant) pair is measured by `asv continuous` with the PR settings (factor,
`--interleave-rounds`, the workflow benchmarks of the target), several times, variants
interleaved so that drifts of the shared machine spread over all of them, all in one asv
environment folder (built once, reused across pairs and study runs). Every benchmark
of a pair is then judged with asv's own rule (`asv compare`'s `_is_result_better`:
Mann-Whitney on the samples where they exist, then the factor) at each factor of a grid,
so one set of runs gives the false-alarm and detection rates of several factors. The
verdict of `asv continuous` itself (its exit status at the PR factor) is kept too.

    python -m tools.trust_study --work /tmp/trust-study --output /tmp/trust-study/summary.md
    python -m tools.trust_study --plan aa=2,slow50=1 --kinds time    # a quick look

Writes <work>/trials.jsonl (one line per asv continuous) and the summary (markdown).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools import asvkit

ROOT = asvkit.ROOT
MACHINE = "trust-study"

TARGET_WORKFLOW = "climate_analysis"
TARGET_SIZE = "standard"
TARGET_STAGE = "qc"
TARGET_FILE = "geoinfer_workflows/workflows/climate_analysis.py"
SLOWDOWNS = (1, 5, 10, 20, 50)  # percent of the whole workflow's CPU time
MEMORY_MIB = 1
CORRECT_FROM_PERCENT = 10

# Benchmark (asv name without parameters) -> the kind of measurement it is.
KINDS = {
    "bench_workflows.WorkflowRun.time_run": "time",
    "bench_workflows.WorkflowRun.track_cpu_seconds": "cpu",
    "bench_instructions.WorkflowInstructions.track_instructions": "instructions",
    "bench_workflows.WorkflowRun.track_traced_peak_mib": "traced",
    "bench_memory.WorkflowRssGrowth.track_peak_rss_growth_mib": "rss",
}
# The factors each kind is judged at (all from the same runs). The first of each is the
# recommendation the study tests; the rest show the trade-off around it.
FACTOR_GRID = {
    "time": (1.10, 1.02, 1.03, 1.05),
    "cpu": (1.10, 1.02, 1.03, 1.05),
    "instructions": (1.005, 1.002, 1.01),
    "traced": (1.005, 1.002, 1.01),
    "rss": (1.02, 1.005, 1.01, 1.05),
}
PR_FACTOR = float(os.environ.get("GEOINFER_ASV_FACTOR", FACTOR_GRID["time"][0]))

# Sized to fit ~40 minutes here (~90 s per asv continuous with the four default kinds):
# the goals need >= 10 A/A pairs and 10 trials at 10%; the other sizes get fewer.
DEFAULT_PLAN = {
    "aa": 10,
    "slow10": 10,
    "slow1": 2,
    "slow5": 2,
    "slow20": 1,
    "slow50": 1,
    "mem": 2,
}
# The RSS-growth tracker is left out of the default run (it adds ~10 s a pair); add it
# with --kinds time,cpu,instructions,traced,rss.
DEFAULT_KINDS = ("time", "cpu", "instructions", "traced")


# ----------------------------------------------------------------------------- variants


def comment_patch() -> str:
    return "\n# Trust study A/A: a comment-only change.\n"


def slowdown_patch(percent: float, rows: int) -> str:
    """Appended to the target workflow's module: its `qc` stage also runs QC on `rows`
    extra station rows (whole passes over all stations, then a leading slice)."""
    body = f"""
    out = _qc_slowed_original(ctx)
    values = ctx["temperature"]
    whole, rest = divmod({rows}, values.shape[0])
    for _ in range(whole):
        climate.quality_control(values)
    if rest:
        climate.quality_control(values[:rest])
    return out
"""
    note = (
        f"Planted slowdown (trust study, ~{percent:g}% of the workflow): QC redone on {rows} rows."
    )
    return asvkit.stage_patch(TARGET_STAGE, "_qc_slowed", body, note)


def memory_patch(mib: float = MEMORY_MIB) -> str:
    """The `ingest` stage also returns a `mib` MiB array: it stays in the run's context,
    so it is live from the first stage to the end of the run, whatever stage peaks."""
    items = int(mib * 1024 * 1024) // 8
    body = f"""
    return {{**_ingest_with_ballast_original(ctx), "_ballast": np.ones({items})}}
"""
    note = f"Planted allocation (trust study): a {mib:g} MiB array kept alive through the run."
    return asvkit.stage_patch("ingest", "_ingest_with_ballast", body, note)


@dataclass(frozen=True)
class Variant:
    name: str  # "aa", "slow10", "mem"
    patch: str
    target_percent: float = 0.0
    achieved_cpu_percent: float | None = None  # measured outside asv
    commit: str = ""


# ------------------------------------------------------------------------ calibration


def _paired_ratio(base, patched, pairs: int) -> float:
    """Median over interleaved pairs of CPU(patched) / CPU(base).

    On this shared VM a run's CPU time moves by +-10% with what the neighbours do (the
    workflow is memory-bound); both halves of a pair see nearly the same machine, so the
    ratio of each pair is far steadier than either median."""
    base(), patched()
    ratios = []
    for _ in range(pairs):
        start = time.process_time()
        base()
        middle = time.process_time()
        patched()
        ratios.append((time.process_time() - middle) / (middle - start))
    return statistics.median(ratios)


def _patched_pipeline(module, patch: str):
    namespace = dict(vars(module))
    exec(compile(patch, f"<{module.__name__} patch>", "exec"), namespace)
    return namespace["PIPELINE"]


def calibrate_in_process(percents: Sequence[float], pairs: int = 60) -> dict[str, object]:
    """Rows of extra QC per target percent, and the slowdown each patch achieves.

    Calibrated on the patch itself, not on a model of it: the effect of one QC pass over
    all stations inside the stage is measured (a pass run elsewhere costs differently:
    caches, allocator), rows are scaled linearly to each target, corrected once from the
    measured effect, and the final patch is measured afresh: that figure, not the
    target, is reported. Each measurement is the median of `pairs` interleaved
    (base, patched) CPU-time ratios."""
    import importlib

    module = importlib.import_module(TARGET_FILE.removesuffix(".py").replace("/", "."))
    inputs = module.make_inputs(TARGET_SIZE, 0)
    n_rows = inputs["temperature"].shape[0]

    def run_base() -> None:
        module.PIPELINE.run(inputs)

    def effect(patch: str) -> float:
        pipeline = _patched_pipeline(module, patch)
        return (_paired_ratio(run_base, lambda: pipeline.run(inputs), pairs) - 1) * 100

    per_row = effect(slowdown_patch(100, n_rows)) / n_rows  # percent per extra row
    out: dict[str, object] = {"n_rows": n_rows, "one_pass_percent": per_row * n_rows}
    for percent in percents:
        rows = max(1, round(percent / per_row))
        if percent >= CORRECT_FROM_PERCENT:
            measured = effect(slowdown_patch(percent, rows))
            if measured > 0:
                rows = max(1, round(rows * percent / measured))
        out[f"slow{percent:g}"] = {
            "rows": rows,
            "achieved_cpu_percent": effect(slowdown_patch(percent, rows)),
        }
    out["mem"] = {"achieved_cpu_percent": effect(memory_patch())}
    out["aa"] = {"achieved_cpu_percent": effect(comment_patch())}
    return out


# The calibration child: the clone's package (its folder is the child's first path entry)
# is imported first; this checkout then goes in front, so `tools` is this one, not the
# clone's copy.
_CALIBRATION_BOOTSTRAP = (
    "import sys, geoinfer_workflows; sys.path.insert(0, sys.argv.pop(1)); "
    "from tools.trust_study import main; sys.exit(main())"
)


def calibrate(clone: Path, percents: Sequence[float]) -> dict[str, dict]:
    """`calibrate_in_process` against the clone's package (not the one installed here)."""
    cmd = [sys.executable, "-c", _CALIBRATION_BOOTSTRAP, str(ROOT), "_calibrate"]
    cmd.append(",".join(f"{p:g}" for p in percents))
    env = {**asvkit.bench_environ(), "PYTHONPATH": str(clone)}
    return json.loads(asvkit.run(cmd, cwd=clone, env=env, timeout=900).stdout)


# -------------------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """A clone of ROOT's HEAD with a local `main`, an asv project writing under `work`
    (benchmarks from this checkout, as in any asv run), and an environment folder that
    outlives the clone (reused across study runs)."""

    work: Path
    env_dir: Path
    project: asvkit.AsvProject = field(init=False)
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for stale in ("repo", "results", "html"):
            shutil.rmtree(self.work / stale, ignore_errors=True)
        clone = asvkit.clone_head(self.work / "repo", ROOT, user="trust study")
        self.base = asvkit.git(clone, "rev-parse", "HEAD")
        self.project = asvkit.AsvProject(
            clone, self.work, self.env_dir, self.work / "home", benchmark_dir=ROOT / "benchmarks"
        )
        self.project.register(MACHINE)

    @property
    def clone(self) -> Path:
        return self.project.clone

    @property
    def results_dir(self) -> Path:
        return self.project.results_dir

    def commit_variant(self, name: str, patch: str) -> str:
        """One commit on top of the base (not of each other), left detached."""
        asvkit.git(self.clone, "checkout", "--quiet", "--detach", self.base)
        commit = asvkit.commit_append(self.clone, TARGET_FILE, patch, f"trust study: {name}")
        asvkit.git(self.clone, "checkout", "--quiet", "main")
        return commit


# ------------------------------------------------------------------------- judgement


@dataclass(frozen=True)
class Settings:
    """What a PR run uses: the factor asv continuous gates on, the benchmarks, and the
    run options."""

    bench: tuple[str, ...]
    factor: float = PR_FACTOR
    interleave_rounds: bool = True
    cpu_affinity: str | None = None
    extra: tuple[str, ...] = ()

    def continuous_args(self) -> list[str]:
        args = ["--factor", f"{self.factor:g}"]
        if self.interleave_rounds:
            args.append("--interleave-rounds")
        if self.cpu_affinity:
            args += ["--cpu-affinity", self.cpu_affinity]
        for regex in self.bench:
            args += ["-b", regex]
        return [*args, *self.extra]


def target_filter(
    kinds: Iterable[str], workflow: str = TARGET_WORKFLOW, size: str = TARGET_SIZE
) -> tuple[str, ...]:
    """asv -b regexes (they match "name(params)") for the target's benchmarks."""
    names = [name for name, kind in KINDS.items() if kind in set(kinds)]
    params = rf"\('{workflow}', '{size}'\)"
    return tuple(rf"^{name.replace('.', chr(92) + '.')}{params}$" for name in names)


def _skipped(value: float | None) -> bool:
    return value is not None and math.isnan(value)


@dataclass(frozen=True)
class Judgement:
    benchmark: str  # with parameters
    kind: str
    before: float | None
    after: float | None
    ratio: float | None
    flags: dict[str, str]  # factor -> "+" worse, "-" better, "" unchanged


def judge(results_dir: Path, machine: str, base: str, head: str) -> list[Judgement]:
    """Every benchmark measured on both commits, judged as `asv compare` would at each
    factor of its kind's grid."""
    before, after = (
        {m.name: m for m in asvkit.unrolled_results(results_dir, machine, commit)}
        for commit in (base, head)
    )
    marks = {"slower": "+", "faster": "-", "same": ""}
    judgements = []
    for name in sorted(set(before) & set(after)):
        b, a = before[name], after[name]
        kind = KINDS.get(b.key)
        if kind is None:
            continue
        if _skipped(b.value) or _skipped(a.value):  # a parameter not selected by -b, or skipped
            continue
        if b.value is None or a.value is None:  # failed on one side: no verdict to judge
            judgements.append(Judgement(name, kind, b.value, a.value, None, {}))
            continue
        flags = {
            f"{factor:g}": marks[
                asvkit.asv_verdict(b.value, a.value, b.stats_samples, a.stats_samples, factor)
            ]
            for factor in FACTOR_GRID[kind]
        }
        ratio = a.value / b.value if b.value else None
        judgements.append(Judgement(name, kind, b.value, a.value, ratio, flags))
    return judgements


# ----------------------------------------------------------------------------- trials


@dataclass(frozen=True)
class Trial:
    variant: str
    index: int
    exit_status: int  # asv continuous: 0 same, 1 slower at the PR factor, 2 failure
    seconds: float
    load_before: float
    load_after: float
    judgements: tuple[Judgement, ...]


def schedule(plan: dict[str, int]) -> list[tuple[str, int]]:
    """Round-robin over variants: trial 1 of each, then trial 2 of each, ..."""
    order = []
    for index in range(max(plan.values(), default=0)):
        order += [(name, index) for name, count in plan.items() if index < count]
    return order


def run_trial(ws: Workspace, settings: Settings, variant: Variant, index: int) -> Trial:
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = ws.project.asv(
        "continuous",
        "--machine",
        MACHINE,
        *settings.continuous_args(),
        ws.base,
        variant.commit,
        check=False,
        timeout=3600,
    )
    seconds = time.perf_counter() - start
    log = ws.work / "logs" / f"{variant.name}-{index}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(proc.stdout + "\n--- stderr\n" + proc.stderr, encoding="utf-8")
    judgements = judge(ws.results_dir, MACHINE, ws.base, variant.commit)
    return Trial(
        variant.name,
        index,
        proc.returncode,
        seconds,
        load_before,
        os.getloadavg()[0],
        tuple(judgements),
    )


def make_variants(ws: Workspace, plan: dict[str, int], calibration: dict) -> dict[str, Variant]:
    variants = {}
    for name in plan:
        if name == "aa":
            patch, target = comment_patch(), 0.0
        elif name == "mem":
            patch, target = memory_patch(), 0.0
        elif name.startswith("slow"):
            target = float(name.removeprefix("slow"))
            patch = slowdown_patch(target, calibration[name]["rows"])
        else:
            raise ValueError(f"unknown variant {name!r}: aa, mem or slow<percent>")
        achieved = calibration.get(name, {}).get("achieved_cpu_percent")
        variants[name] = Variant(name, patch, target, achieved, ws.commit_variant(name, patch))
    return variants


# ---------------------------------------------------------------------------- summary


def detection_table(trials: Sequence[Trial], variants: dict[str, Variant]) -> str:
    """kind x variant -> trials flagged worse at the kind's recommended factor (for
    A/A: flagged in either direction)."""
    kinds = [k for k in FACTOR_GRID if any(j.kind == k for t in trials for j in t.judgements)]
    head = ["variant", "CPU +% (measured)", "trials", "asv continuous exit 1"]
    head += [f"{k} @{FACTOR_GRID[k][0]:g}" for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, variant in variants.items():
        group = [t for t in trials if t.variant == name]
        if not group:
            continue
        achieved = variant.achieved_cpu_percent
        row = [
            name,
            "-" if achieved is None else f"{achieved:+.1f}",
            str(len(group)),
            f"{sum(t.exit_status == 1 for t in group)}/{len(group)}",
        ]
        for kind in kinds:
            row.append(_rate(group, kind, f"{FACTOR_GRID[kind][0]:g}", both=name == "aa"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _rate(group: Sequence[Trial], kind: str, factor: str, both: bool) -> str:
    marks = ("+", "-") if both else ("+",)
    hit = measured = 0
    for trial in group:
        mine = [j for j in trial.judgements if j.kind == kind and j.flags]
        if not mine:
            continue
        measured += 1
        hit += any(j.flags.get(factor) in marks for j in mine)
    return f"{hit}/{measured}" if measured else "-"


def factor_sweep(trials: Sequence[Trial], variants: dict[str, Variant]) -> str:
    """Per kind and factor: A/A alarms (either direction) and detections per variant."""
    names = [n for n in variants if any(t.variant == n for t in trials)]
    lines = ["| kind | factor | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind, factors in FACTOR_GRID.items():
        if not any(j.kind == kind for t in trials for j in t.judgements):
            continue
        for factor in sorted(factors):
            cells = [
                _rate([t for t in trials if t.variant == n], kind, f"{factor:g}", both=n == "aa")
                for n in names
            ]
            lines.append(f"| {kind} | {factor:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(trials: Sequence[Trial], variants: dict[str, Variant]) -> str:
    """Per variant and kind: the after/before ratios over the trials (min, median, max)."""
    lines = ["| variant | kind | min | median | max |", "|---|---|---|---|---|"]
    for name in variants:
        for kind in FACTOR_GRID:
            ratios = [
                j.ratio
                for t in trials
                if t.variant == name
                for j in t.judgements
                if j.kind == kind and j.ratio is not None
            ]
            if ratios:
                lines.append(
                    f"| {name} | {kind} | {min(ratios):.4f} | "
                    f"{statistics.median(ratios):.4f} | {max(ratios):.4f} |"
                )
    return "\n".join(lines)


def summary(
    trials: Sequence[Trial],
    variants: dict[str, Variant],
    settings: Settings,
    calibration: dict,
    seconds: float,
) -> str:
    loads = [t.load_before for t in trials] + [t.load_after for t in trials]
    return (
        "\n\n".join(
            [
                "# Trust study results",
                f"Target: {TARGET_WORKFLOW} at `{TARGET_SIZE}`, slowed in stage `{TARGET_STAGE}`. "
                f"asv continuous {' '.join(settings.continuous_args())}",
                f"{len(trials)} asv continuous runs in {seconds / 60:.1f} min; load average "
                f"(1 min) {min(loads, default=0):.2f}-{max(loads, default=0):.2f}, "
                f"median {statistics.median(loads) if loads else 0:.2f}; "
                f"one extra QC pass = {calibration.get('one_pass_percent', 0):+.1f}% CPU.",
                "## Detections at the recommended factors (A/A: alarms either way)",
                detection_table(trials, variants),
                "## Factor sweep",
                factor_sweep(trials, variants),
                "## Ratios (after/before)",
                ratio_table(trials, variants),
            ]
        )
        + "\n"
    )


def run_study(
    work: Path,
    plan: dict[str, int],
    kinds: Sequence[str],
    *,
    env_dir: Path | None = None,
    settings: Settings | None = None,
    progress=print,
) -> tuple[list[Trial], dict[str, Variant], str]:
    clock = time.perf_counter()
    ws = Workspace(work, env_dir or work / "env")
    settings = settings or Settings(bench=target_filter(kinds))
    percents = [float(n.removeprefix("slow")) for n in plan if n.startswith("slow")]
    progress(f"calibrating {percents} on {ws.base[:8]} ...")
    calibration = calibrate(ws.clone, percents)
    progress(json.dumps(calibration))
    variants = make_variants(ws, plan, calibration)
    trials = []
    with (work / "trials.jsonl").open("w", encoding="utf-8") as out:
        for name, index in schedule(plan):
            trial = run_trial(ws, settings, variants[name], index)
            trials.append(trial)
            out.write(json.dumps(dataclasses.asdict(trial)) + "\n")
            out.flush()
            flagged = sorted(
                {
                    f"{j.kind}{j.flags.get(f'{FACTOR_GRID[j.kind][0]:g}')}"
                    for j in trial.judgements
                    if j.flags.get(f"{FACTOR_GRID[j.kind][0]:g}")
                }
            )
            progress(
                f"{name}#{index}: exit {trial.exit_status}, {trial.seconds:.0f} s, "
                f"load {trial.load_before:.2f}, flagged {flagged or 'nothing'}"
            )
    text = summary(trials, variants, settings, calibration, time.perf_counter() - clock)
    return trials, variants, text


def parse_plan(text: str) -> dict[str, int]:
    plan = {}
    for item in filter(None, text.split(",")):
        name, _, count = item.partition("=")
        plan[name.strip()] = int(count)
    return plan


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_calibrate"]:
        print(json.dumps(calibrate_in_process([float(p) for p in args[1].split(",")])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/geoinfer-trust-study"))
    parser.add_argument(
        "--env-dir",
        type=Path,
        default=None,
        help="asv environment folder (default: <work>/env, kept)",
    )
    parser.add_argument("--plan", default=",".join(f"{k}={v}" for k, v in DEFAULT_PLAN.items()))
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS))
    parser.add_argument("--cpu-affinity", default=None)
    parser.add_argument("--output", type=Path, default=None)
    parsed = parser.parse_args(args)
    kinds = parsed.kinds.split(",")
    settings = Settings(bench=target_filter(kinds), cpu_affinity=parsed.cpu_affinity)
    _, _, text = run_study(
        parsed.work, parse_plan(parsed.plan), kinds, env_dir=parsed.env_dir, settings=settings
    )
    output = parsed.output or parsed.work / "summary.md"
    output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
