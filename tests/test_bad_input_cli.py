"""Issue 12, the command line: paths are paths, usage errors are usage errors, one exit-code
table (0 ok, 1 finding, 2 usage or input error, 3 cannot run), and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "geoinfer_workflows.cli"]
CSV = "lat,lon,timestamp,value\n45,7,1700000000,1\n95,7,1700000000,2\n"


def run(
    *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


def _no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


# -- item 6: the argument of `ingest` is a path, whatever characters it has --------------


@pytest.mark.parametrize("name", ["obs,v2.csv", "[2024] obs.csv", "{x}.csv", "a\nb.csv"])
def test_ingest_opens_its_argument_as_a_path(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(CSV)
    out = run("ingest", name, "--json", cwd=tmp_path)  # relative: the name as a user types it
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["accepted"] == 1


# -- item 9 and smaller: usage errors exit 2 with one clear line -----------------------


@pytest.mark.parametrize(
    "args",
    [
        ("run", "basic", "--size", "seed", "--seed", "-1"),
        ("load", "basic", "--seed", "-1", "--max-ops", "1"),
        ("ingest", "x.csv", "--show", "-5"),
        ("load", "basic", "--users", "0"),
    ],
)
def test_negative_seed_and_show_are_usage_errors(args: tuple[str, ...]) -> None:
    out = run(*args)
    assert out.returncode == 2
    _no_traceback(out)
    assert "must be" in out.stderr


def test_load_json_path_is_checked_before_the_run(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "report.json"
    out = run(
        "load", "basic", "--size", "seed", "--max-ops", "1", "--users", "1", "--json", str(target)
    )
    assert out.returncode == 2
    assert "missing-folder" in out.stderr
    assert "load test" not in out.stdout  # nothing ran
    _no_traceback(out)


# -- smaller: every row rejected is a distinct, documented outcome ----------------------


def test_ingest_exits_1_when_every_row_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "all-bad.csv"
    path.write_text("lat,lon,timestamp,value\n95,7,1700000000,1\n45,7,x,1\n")
    out = run("ingest", str(path))
    assert out.returncode == 1
    assert "every row was rejected" in out.stderr
    path.write_text(CSV)
    assert run("ingest", str(path)).returncode == 0


def test_show_lists_at_most_show_rows(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text(CSV + "95,7,1700000000,2\n")
    out = run("ingest", str(path), "--show", "0")
    assert out.returncode == 0
    assert "row 2" not in out.stdout and "... 2 more" in out.stdout


# -- smaller: endless and blocking inputs are refused ----------------------------------


def test_dev_zero_and_fifo_are_refused_quickly(tmp_path: Path) -> None:
    out = run("ingest", "/dev/zero", timeout=30)
    assert out.returncode == 2 and "not a regular file" in out.stderr
    fifo = tmp_path / "obs.csv"
    os.mkfifo(fifo)
    out = run("ingest", str(fifo), timeout=30)
    assert out.returncode == 2 and "not a regular file" in out.stderr


# -- the exit-code table --------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("ingest",), ("budgets", "check"), ("load",), ("run",)])
def test_help_prints_the_exit_code_table(args: tuple[str, ...]) -> None:
    out = run(*args, "--help")
    assert out.returncode == 0
    for line in ("0  ok", "1  a finding", "2  usage or input error", "3  cannot run"):
        assert line in out.stdout, (args, out.stdout)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage",
        b"lat,lon,timestamp,value\n" + b"1," * 200_000 + b"\n",
        b'{"type":"FeatureCollection","features":[' + b"[" * 100_000 + b"]}",
        b"[" + b"1" * 5000 + b"]",
        b'{"type":"FeatureCollection","features":[{"geometry":{"type":"Point",'
        b'"coordinates":[' + b"9" * 5000 + b",1]},"
        b'"properties":{"timestamp":1,"value":1}}]}',
    ],
)
def test_no_traceback_for_hostile_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    out = run("ingest", str(path))
    _no_traceback(out)
    assert out.returncode in (1, 2), out.stderr
