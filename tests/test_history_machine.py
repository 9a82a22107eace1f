"""The main job's machine identity: a machine name whose committed machine.json describes
other hardware is refused (exit 3) before anything is registered, run or written, so one
machine's graphs never mix two boxes; without a name, a box that is not the default
machine gets a name derived from its hardware. No asv run here: `--plan` and refusals
stop before any benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

require("asv")
from tools import asvkit  # noqa: E402
from tools import history_job as job  # noqa: E402

REPO_ROOT = asvkit.ROOT

EPYC = {
    "arch": "x86_64",
    "cpu": "AMD EPYC",
    "num_cpu": "2",
    "os": "Linux 6.18.44-fc-v1045",
    "ram": "25275990016",
}


def test_same_class_of_vm_matches() -> None:
    """A kernel build suffix and a few hundred kB of reported RAM are the same box class."""
    here = {**EPYC, "os": "Linux 6.18.44-fc-v1147", "ram": "25276071936"}
    assert job.hardware_mismatches(EPYC, here) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"),
        ("num_cpu", "4"),
        ("arch", "aarch64"),
        ("ram", "8000000000"),
        ("os", "Linux 5.15.0-105-generic"),
    ],
)
def test_other_hardware_differs(field: str, value: str) -> None:
    differ = job.hardware_mismatches(EPYC, {**EPYC, field: value})
    assert len(differ) == 1 and differ[0].startswith(f"{field}:"), differ


def test_derived_names() -> None:
    assert job.derived_name(EPYC) == "amd-epyc-2core"
    xeon = {**EPYC, "cpu": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "num_cpu": "4"}
    assert job.derived_name(xeon) == "intel-xeon-platinum-8375c-2-90ghz-4core"


def _project(tmp_path: Path, machines: dict[str, dict]) -> Path:
    """An asv config over this repository whose results folder holds `machines`."""
    results = tmp_path / "results"
    for name, info in machines.items():
        (results / name).mkdir(parents=True)
        text = json.dumps({**info, "machine": name, "version": 1}, indent=4, sort_keys=True)
        (results / name / "machine.json").write_text(text)
    return asvkit.AsvProject(REPO_ROOT, tmp_path, tmp_path / "env", tmp_path / "home").config


def _run(tmp_path: Path, config: Path, *args: str, machine: str | None = None):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    if machine:
        env["ASV_MACHINE"] = machine
    return subprocess.run(
        [sys.executable, "-m", "tools.history_job", "--config", str(config), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _this_box() -> dict[str, str]:
    return job.current_hardware()


def _other_box() -> dict[str, str]:
    here = _this_box()
    return {**here, "cpu": "Intel(R) Xeon(R) Imaginary 9999 CPU", "num_cpu": "64"}


@pytest.mark.parametrize("how", ["ASV_MACHINE", "--machine"])
def test_named_machine_of_other_hardware_is_refused(tmp_path: Path, how: str) -> None:
    config = _project(tmp_path, {"box-x": _other_box()})
    committed = (tmp_path / "results" / "box-x" / "machine.json").read_bytes()
    if how == "ASV_MACHINE":
        proc = _run(tmp_path, config, machine="box-x")  # not --plan: it would run
    else:
        proc = _run(tmp_path, config, "--machine", "box-x")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot run" in proc.stderr
    assert "box-x" in proc.stderr and "Imaginary" in proc.stderr  # what differs
    assert f"ASV_MACHINE={job.derived_name(_this_box())}" in proc.stderr  # what to do
    # Nothing touched: the committed machine.json, ~/.asv-machine.json, html, results.
    assert (tmp_path / "results" / "box-x" / "machine.json").read_bytes() == committed
    assert not (tmp_path / "home" / ".asv-machine.json").exists()
    assert not (tmp_path / "html").exists()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["box-x"]


def test_default_name_on_other_hardware_is_derived(tmp_path: Path) -> None:
    config = _project(tmp_path, {job.DEFAULT_MACHINE: _other_box()})
    proc = _run(tmp_path, config, "--plan")
    assert proc.returncode == 0, proc.stderr
    derived = job.derived_name(_this_box())
    assert f"under the name {derived!r}" in proc.stdout
    assert f"this box is not {job.DEFAULT_MACHINE!r}" in proc.stdout


def test_derived_name_of_other_hardware_is_refused_too(tmp_path: Path) -> None:
    """A derived name is only a name: if its committed machine.json is other hardware
    (same CPU string, other RAM), it is refused as well."""
    derived = job.derived_name(_this_box())
    config = _project(
        tmp_path,
        {job.DEFAULT_MACHINE: _other_box(), derived: {**_this_box(), "ram": "1000"}},
    )
    proc = _run(tmp_path, config, "--plan")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"machine {derived!r}" in proc.stderr and "ram:" in proc.stderr


def test_matching_machine_plans(tmp_path: Path) -> None:
    config = _project(tmp_path, {"box-y": _this_box()})
    proc = _run(tmp_path, config, "--plan", "--commits", "2", machine="box-y")
    assert proc.returncode == 0, proc.stderr
    assert "machine 'box-y' (hardware matches its committed machine.json)" in proc.stdout
    assert "quick: 2 of the newest 2 commit(s) of main to measure" in proc.stdout
    assert "estimate:" in proc.stdout


def test_committed_machines_are_one_box_each() -> None:
    """Every committed machine folder holds results (an empty one made `budgets check`
    fail) and a machine.json naming itself."""
    results = REPO_ROOT / ".asv" / "results"
    for folder in (p for p in results.iterdir() if p.is_dir()):
        info = json.loads((folder / "machine.json").read_text())
        assert info["machine"] == folder.name
        assert any(p.name != "machine.json" for p in folder.glob("*.json")), folder
