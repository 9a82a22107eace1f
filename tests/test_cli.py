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
