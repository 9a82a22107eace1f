"""Issue 12, chunked CSV: the same records, rules, reasons and row numbers as `ingest()`,
whatever the chunk size; a property test compares the two paths on generated files."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest import (
    REJECTION_KINDS,
    aggregate_csv,
    ingest,
    iter_csv_chunks,
)


def _write(tmp_path: Path, text: str, name: str = "obs.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


# -- item 2: a short row and a long row in one chunk must not cancel out ----------------


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_short_and_long_rows_in_one_chunk_are_both_rejected(tmp_path, chunk_rows) -> None:
    path = _write(tmp_path, "lat,lon,timestamp,value,note\n45,7,5,0\n46,8,1700000000,3,n,EXTRA\n")
    agg = aggregate_csv(path, chunk_rows=chunk_rows)
    assert (agg.rows_in, agg.rows_accepted, agg.rows_rejected) == (2, 0, 2)
    assert agg.rejected_by_reason == {"wrong field count": 2}


# -- item 3: records, not lines ----------------------------------------------------------


def test_a_quoted_newline_is_one_record_with_the_right_row_numbers(tmp_path) -> None:
    path = _write(
        tmp_path,
        'lat,lon,timestamp,value,note\n45,7,1700000000,1,"two\nlines"\n'
        "95,8,1700000001,2,x\n46,8,1700000002,3,y\n",
    )
    agg = aggregate_csv(path, chunk_rows=1)
    assert (agg.rows_in, agg.rows_accepted, agg.rows_rejected) == (3, 2, 1)
    assert [(r.row, r.kind) for r in agg.rejected_examples] == [(2, "lat out of range")]


# -- smaller: one rulebook (fractional epochs, t = 1e15, value = 1e13, ISO) ------------


def test_chunked_and_ingest_agree_on_the_rules(tmp_path) -> None:
    path = _write(
        tmp_path,
        "latitude,lng,time,value\n"
        "45,7,1700000000.5,1\n"  # fraction floored by both
        "45,7,1e15,1\n"  # out of range for both
        "45,7,1700000000,1e13\n"  # implausible magnitude for both
        "45,7,2024-03-01T12:00:00+01:00,1\n"  # ISO 8601 for both
        "4_5,7,1700000000,1\n",  # strict numbers for both
    )
    whole = ingest(path)
    agg = aggregate_csv(path, chunk_rows=2)
    assert agg.rows_accepted == whole.accepted == 2
    assert agg.rejected_by_reason == dict(sorted(Counter(r.kind for r in whole.rejected).items()))
    assert set(agg.rejected_by_reason) <= set(REJECTION_KINDS)
    (chunk,) = iter_csv_chunks(path, chunk_rows=10)
    assert chunk["t"].tolist() == whole.table.t.tolist() == [1_700_000_000, 1_709_290_800]


# -- the verdict does not depend on the chunk size ----------------------------------------


def _chunked(path: Path, chunk_rows: int) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """(accepted rows as an (n, 4) array, [(row, kind, reason)]) of the chunked path."""
    chunks = list(iter_csv_chunks(path, chunk_rows=chunk_rows))
    assert all(c.rows_in == c.accepted + c.rejected for c in chunks)
    columns = [np.concatenate([c[k] for c in chunks] or [np.empty(0)]) for k in ("lat", "lon")]
    columns.append(np.concatenate([c["t"] for c in chunks] or [np.empty(0)]).astype(float))
    columns.append(np.concatenate([c["value"] for c in chunks] or [np.empty(0)]))
    rejected = [(r.row, r.kind, r.reason) for c in chunks for r in c.rejections]
    return np.column_stack(columns), rejected


def _whole(path: Path) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    result = ingest(path)
    table = result.table
    accepted = np.column_stack([table.lat, table.lon, table.t.astype(float), table.value])
    return accepted, [(r.row, r.kind, r.reason) for r in result.rejected]


_CELLS = {
    "lat": ["45", "-12.5", " 3 ", "", "x", "91", "nan", "4_5", "٤٥", "1e400", '"45"', '"4,5"'],
    "lon": ["7", "-180", "180.0", "", "200", "inf", '"7"'],
    "timestamp": [
        "1700000000",
        "1700000000.5",
        "-5.25",
        "1e15",
        "2024-03-01",
        "2024-03-01T12:00:00Z",
        "2024-02-30",
        '"2024-03-01 12:00:00+0100"',
        "",
        "x" * 70,
        "0" * 60 + "1700000000",
        "1_700_000_000",
    ],
    "value": ["1", "-2.5", "1e12", "1e13", "", "abc", "nan", '"3"'],
}
_ROW_SHAPES = st.sampled_from(["good", "short", "long", "blank", "stray", "newline"])


@st.composite
def _csv_files(draw: st.DrawFn) -> str:
    """CSV text mixing good rows with every row-level problem the issue names."""
    lines = ["lat,lon,timestamp,value,note"]
    for _ in range(draw(st.integers(0, 25))):
        cells = [draw(st.sampled_from(_CELLS[k])) for k in ("lat", "lon", "timestamp", "value")]
        note = draw(st.sampled_from(["n", '"a,b"', '""', "z"]))
        shape = draw(_ROW_SHAPES)
        if shape == "short":
            cells = cells[: draw(st.integers(1, 3))]
        elif shape == "long":
            cells = [*cells, note, "extra"]
        elif shape == "blank":
            lines.append(draw(st.sampled_from(["", "   "])))
            continue
        elif shape == "stray":
            cells = [*cells[:2], '"1700000000"x', cells[3], note]
        elif shape == "newline":
            cells = [*cells, '"line\nbreak"']
        else:
            cells = [*cells, note]
        lines.append(",".join(cells))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines) + draw(st.sampled_from(["", ending]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_csv_files(), chunk_rows=st.integers(1, 7))
def test_ingest_and_chunked_path_agree_on_generated_files(text: str, chunk_rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), text)
        try:
            accepted, rejected = _whole(path)
        except IngestError:
            with pytest.raises(IngestError):
                _chunked(path, chunk_rows)
            return
        got_accepted, got_rejected = _chunked(path, chunk_rows)
        np.testing.assert_array_equal(got_accepted, accepted)
        assert got_rejected == rejected
        assert {kind for _, kind, _ in rejected} <= set(REJECTION_KINDS)
