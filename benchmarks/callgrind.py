"""Count the instructions a workflow run executes, whole and stage by stage, with callgrind.

Why instructions: on a shared 2-core VM, time wobbles by several percent from run to run;
the number of instructions a deterministic workload executes does not (callgrind repeats
it to well under 0.1%), so a 1% change in the code's work is a real change. This is how
CI benchmark services get noise-free regressions; `perf stat -e instructions` would be
cheaper but is "<not supported>" on these VMs.

Why this shape: a callgrind run of Python spends ~1.8e9 instructions (and ~40 s under
instrumentation) on interpreter start-up and imports before the workload starts. So:

- valgrind starts with instrumentation off (`--instr-atstart=no`): start-up and the
  warm-up runs execute at near-native speed under valgrind's JIT;
- after warming up, the child turns instrumentation on with callgrind's
  START_INSTRUMENTATION client request (valgrind's documented "magic instruction"
  sequence: a no-op on a real CPU, a request under valgrind), issued through a few bytes
  of x86-64 machine code called by ctypes, since Python has no `callgrind.h`. Where that
  is unavailable (another architecture, no executable mappings) the whole process is
  instrumented instead: slower, same counts;
- only the workload is counted: collection is off at start and toggled on and off by
  the entry and exit of `_PyEval_CallTracing`, the C function behind `sys.call_tracing`,
  which nothing else in the process calls. `--dump-after` writes one profile per
  counted call: first `runs` whole workflow runs (the gated figure is their median), then
  `stage_passes` passes in which each stage is its own call, so a change is pinned to the
  stage, and so to the module, that made it.

Valgrind runs the interpreter itself (on these machines `python3` can be a pyenv shell
shim, and valgrind would count the shell), with PYTHONHASHSEED fixed and one BLAS thread.
The child imports the package under test before this folder's parent joins `sys.path`
(appended, so the installed commit always wins over the checkout: common.child_arguments).

    python -m benchmarks.callgrind WORKFLOW SIZE [--runs 3]   # prints JSON
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import mmap
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from . import common

# The C function behind sys.call_tracing: collection is on exactly while it runs.
TOGGLE_SYMBOL = "_PyEval_CallTracing"

# valgrind.h / callgrind.h request codes.
RUNNING_ON_VALGRIND = 0x1001
CALLGRIND_START_INSTRUMENTATION = (ord("C") << 24) + (ord("T") << 16) + 4

# x86-64 System V: uint64 client_request(uint64 *args /* rdi */, uint64 default /* rsi */).
# The rotations of rdi by 3+13+61+51 = 128 bits leave it unchanged on a real CPU; valgrind
# recognises the sequence followed by `xchg rbx,rbx` and answers the request in rdx.
_X86_64_CLIENT_REQUEST = bytes.fromhex(
    "4889f8"  # mov rax, rdi        (rax -> the argument block)
    "4889f2"  # mov rdx, rsi        (rdx = default result, returned natively)
    "48c1c703"  # rol rdi, 3
    "48c1c70d"  # rol rdi, 13
    "48c1c73d"  # rol rdi, 61
    "48c1c733"  # rol rdi, 51
    "4887db"  # xchg rbx, rbx      (the request)
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)


class InstructionCountError(RuntimeError):
    """valgrind ran but did not produce the counts (stripped interpreter, crash, ...)."""


@dataclass(frozen=True)
class InstructionCount:
    """Instructions of each counted run of one workflow at one size, and of its stages."""

    workflow: str
    size: str
    runs: tuple[int, ...]
    stages: dict[str, int]  # stage name -> median instructions over the stage passes
    fast_start: bool  # instrumentation started by client request after warm-up
    seconds: float  # wall time of the whole valgrind process

    @property
    def median(self) -> int:
        return int(statistics.median(self.runs))

    @property
    def spread(self) -> float:
        """(max - min) / median of the counted runs: the within-process wobble."""
        return (max(self.runs) - min(self.runs)) / self.median


def valgrind_executable() -> str | None:
    return shutil.which("valgrind")


def _client_request_function():
    """A ctypes callable issuing valgrind client requests, or None where unsupported."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=prot)
    except (OSError, AttributeError, ValueError):
        return None
    page.write(_X86_64_CLIENT_REQUEST)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    function = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)(address)
    function.page = page  # keep the mapping alive as long as the function
    return function


def client_request(function, code: int) -> int:
    """Issue request `code` with no arguments; 0 when not running under valgrind."""
    block = (ctypes.c_uint64 * 6)(code, 0, 0, 0, 0, 0)
    return int(function(ctypes.addressof(block), 0))


def fast_start_available() -> bool:
    """True where the child can switch instrumentation on itself (checked natively: the
    request sequence must run as a harmless no-op here)."""
    function = _client_request_function()
    return function is not None and client_request(function, RUNNING_ON_VALGRIND) == 0


def callgrind_command(
    valgrind: str, out_file: Path, *, fast_start: bool, python: str = sys.executable
) -> list[str]:
    return [
        valgrind,
        "--tool=callgrind",
        f"--instr-atstart={'no' if fast_start else 'yes'}",
        "--collect-atstart=no",
        f"--toggle-collect={TOGGLE_SYMBOL}",
        f"--dump-after={TOGGLE_SYMBOL}",
        f"--callgrind-out-file={out_file}",
        python,
    ]


def read_run_totals(out_file: Path) -> list[int]:
    """The `totals:` of each dump `<out_file>.N` (one per counted run), in run order."""
    dumps = sorted(
        out_file.parent.glob(out_file.name + ".*"), key=lambda p: int(p.suffix.lstrip("."))
    )
    totals = []
    for dump in dumps:
        match = re.search(r"^totals:\s+(\d+)", dump.read_text(errors="replace"), re.M)
        if match is None:
            raise InstructionCountError(f"no totals line in {dump.name}")
        totals.append(int(match.group(1)))
    return totals


def count_instructions(
    workflow: str,
    size: str,
    *,
    runs: int = 3,
    warmups: int = 3,
    stage_passes: int = 1,
    timeout: float = 300.0,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
) -> InstructionCount:
    """Run `workflow` at `size` (seed 0) under callgrind: `warmups` uncounted runs, then
    `runs` counted whole runs and `stage_passes` counted passes stage by stage. `env` is
    the child's environment before the fixed variables are set (default: this process's;
    pass PYTHONPATH to count a checkout other than the installed package). Raises
    FileNotFoundError without valgrind, LookupError if the installed package has no such
    workflow, subprocess.TimeoutExpired past `timeout`, InstructionCountError if the
    counts are missing."""
    valgrind = valgrind_executable()
    if valgrind is None:
        raise FileNotFoundError("valgrind is not installed (Debian package `valgrind`)")
    fast = fast_start_available()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        command = [
            *callgrind_command(valgrind, out_file, fast_start=fast, python=python),
            *common.child_arguments("callgrind"),
            workflow,
            size,
            f"--runs={runs}",
            f"--warmups={warmups}",
            f"--stage-passes={stage_passes}",
            f"--fast-start={int(fast)}",
        ]
        proc = subprocess.run(
            command,
            env=common.child_environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode == common.EXIT_NO_WORKFLOW:
            said = [line for line in proc.stderr.splitlines() if "no workflow" in line]
            raise LookupError(said[0] if said else f"no workflow {workflow!r}")
        if proc.returncode != 0:
            raise InstructionCountError(
                f"valgrind exited {proc.returncode}:\n{proc.stderr[-3000:]}"
            )
        totals = read_run_totals(out_file)
        stage_names = _stage_names(proc.stdout)
    expected = runs + stage_passes * len(stage_names)
    if len(totals) != expected or min(totals, default=0) == 0:
        raise InstructionCountError(
            f"expected {expected} non-empty counts, got {totals}: is {TOGGLE_SYMBOL} in the "
            f"symbol table of {python} (a stripped interpreter hides it)?"
        )
    whole, staged = totals[:runs], totals[runs:]
    stages = {
        name: int(statistics.median(staged[i :: len(stage_names)]))
        for i, name in enumerate(stage_names)
    }
    return InstructionCount(workflow, size, tuple(whole), stages, fast, time.perf_counter() - start)


def _stage_names(stdout: str) -> list[str]:
    """The child's last stdout line: the JSON list of the stages it counted, in order."""
    lines = stdout.strip().splitlines()
    try:
        names = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise InstructionCountError(
            f"the child did not name its stages: {stdout[-500:]!r}"
        ) from None
    return [str(name) for name in names]


def _counted_stage_pass(pipeline, inputs) -> None:
    """One workflow run with each stage a call of its own (one callgrind dump each), in
    the order and with the context `Pipeline.run` gives it."""
    context = dict(inputs)
    for stage in pipeline.stages:
        context.update(sys.call_tracing(stage.fn, (context,)))


def child_main(argv: list[str] | None = None) -> int:
    """The valgrind child: build the input, warm up uncounted, then count."""
    parser = argparse.ArgumentParser()
    parser.add_argument("workflow")
    parser.add_argument("size")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--warmups", type=int, required=True)
    parser.add_argument("--stage-passes", type=int, required=True)
    parser.add_argument("--fast-start", type=int, required=True)
    args = parser.parse_args(argv)
    from geoinfer_workflows.workflows import WORKFLOWS

    from .compat import pin_row_blocks

    if args.workflow not in WORKFLOWS:
        print(f"no workflow {args.workflow!r} at this commit", file=sys.stderr)
        return common.EXIT_NO_WORKFLOW
    pin_row_blocks()
    pipeline = WORKFLOWS[args.workflow].pipeline
    inputs = WORKFLOWS[args.workflow].make_inputs(args.size, 0)
    for _ in range(args.warmups):  # lazy imports, caches, the interpreter's specialisation
        pipeline.run(inputs)
    if args.fast_start:
        function = _client_request_function()
        if function is None:
            print("client requests unavailable", file=sys.stderr)
            return 1
        client_request(function, CALLGRIND_START_INSTRUMENTATION)
    for _ in range(args.runs):
        gc.collect()  # the collector's counters start each run at zero: same trigger points
        sys.call_tracing(pipeline.run, (inputs,))
    for _ in range(args.stage_passes):
        gc.collect()
        _counted_stage_pass(pipeline, inputs)
    print(json.dumps([stage.name for stage in pipeline.stages]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow")
    parser.add_argument("size")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--stage-passes", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    result = count_instructions(
        args.workflow,
        args.size,
        runs=args.runs,
        warmups=args.warmups,
        stage_passes=args.stage_passes,
        timeout=args.timeout,
    )
    print(json.dumps({**asdict(result), "median": result.median, "spread": result.spread}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
