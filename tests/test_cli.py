"""The `geoinfer-workflows` command line, run as users run it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "geoinfer_workflows.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_list_names_every_workflow_with_its_module_count():
    out = run("list")
    assert out.returncode == 0
    assert "disease_surveillance  8 modules" in out.stdout
    assert "basic" in out.stdout and "climate_analysis" in out.stdout


def test_run_prints_a_stage_table_and_summary():
    out = run("run", "basic", "--size", "seed")
    assert out.returncode == 0, out.stderr
    for stage in ("ingest", "bin_cells", "daily_aggregates", "publish", "total"):
        assert stage in out.stdout
    assert '"accepted": 50' in out.stdout


def test_run_json_is_one_object_with_stage_timings():
    out = run("run", "precision_farming", "--size", "seed", "--seed", "3", "--json")
    payload = json.loads(out.stdout)
    assert payload["workflow"] == "precision_farming" and payload["seed"] == 3
    assert [s["module"] for s in payload["stages"]][:2] == ["DATA", "IOT"]
    assert payload["summary"]["sensors"] == 400


def test_ingest_json_counts_and_reasons(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text(
        "lat,lon,timestamp,value\n"
        "52.5,13.4,2024-06-01T00:00:00Z,1.5\n"
        "95.0,13.4,2024-06-01T01:00:00Z,2.5\n"
        "52.5,13.4,not-a-time,3.5\n"
        "52.5,13.4,2024-06-01T03:00:00Z,nan\n"
    )
    out = run("ingest", str(path), "--json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload["accepted"] == 1 and payload["rejected"] == 3
    assert [r["row"] for r in payload["rejections"]] == [2, 3, 4]
    assert all(r["reason"] for r in payload["rejections"])


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\x00\x00binary", b"name,score\nx,1\n"])
def test_malformed_file_exits_non_zero_with_one_line(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    out = run("ingest", str(path))
    assert out.returncode != 0
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_missing_file_is_a_one_line_error(tmp_path):
    out = run("ingest", str(tmp_path / "nope.csv"))
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1


# -- issue 13: `list` and `--help` answer without the workflows' imports -------------------

HEAVY = ("numpy", "scipy", "h3", "psutil")


def test_catalog_is_the_registry() -> None:
    """`list` prints the catalog; it must say what the registry would."""
    from geoinfer_workflows.cli.catalog import CATALOG, SIZE_NAMES
    from geoinfer_workflows.synthetic import SIZES
    from geoinfer_workflows.workflows import WORKFLOWS

    assert SIZE_NAMES == SIZES
    assert list(CATALOG) == list(WORKFLOWS)
    for name, workflow in WORKFLOWS.items():
        assert CATALOG[name] == (workflow.title, workflow.pipeline.modules), name


@pytest.mark.parametrize("args", [("list",), ("--help",), ("run", "--help"), ("stress", "--help")])
def test_list_and_help_import_no_numpy_scipy_or_h3(args: tuple[str, ...]) -> None:
    code = (
        "import sys\n"
        "from geoinfer_workflows.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout[-300:]


def test_run_imports_the_workflows_when_it_runs() -> None:
    """The control of the test above: a command that computes does import numpy."""
    code = (
        "import sys\n"
        "from geoinfer_workflows.cli import main\n"
        "main(['run', 'basic', '--size', 'seed', '--json'])\n"
        "print('NUMPY', 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "NUMPY True" in out.stdout, out.stderr


# -- issue 10: the command line's number rules are validation.py's -------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "basic", "--seed", "-1"), "argument --seed: must be an integer >= 0, got -1"),
        (("run", "basic", "--seed", "2.0"), "argument --seed: must be an integer, got '2.0'"),
        (("load", "basic", "--users", "0"), "argument --users: must be an integer >= 1, got 0"),
        (
            ("load", "basic", "--duration", "nan"),
            "argument --duration: must be a finite number > 0.0 (seconds), got nan",
        ),
        (
            ("load", "basic", "--ramp-up", "-2"),
            "argument --ramp-up: must be a finite number >= 0.0 (seconds), got -2.0",
        ),
    ],
)
def test_number_arguments_are_refused_in_validations_words(
    args: tuple[str, ...], message: str
) -> None:
    out = run(*args)
    assert out.returncode == 2 and message in out.stderr, out.stderr
