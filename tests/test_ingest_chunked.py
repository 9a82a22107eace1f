"""Chunked CSV streaming: every row accounted for, aggregates equal a one-shot computation,
traced peak memory independent of file size."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from geoinfer_workflows.errors import IngestError, ParameterError
from geoinfer_workflows.modules.ingest import (
    REJECTION_KINDS,
    aggregate_csv,
    cell_index,
    iter_csv_chunks,
)

BAD_ROWS = {  # planted bad row text -> the kind it must be rejected with (as by ingest())
    "1.0,2.0,1700000000": "wrong field count",
    "1.0,2.0,1700000000,4.0,5.0": "wrong field count",
    'abc,2.0,"1700000000"x,1.0': "malformed record",
    "abc,2.0,1700000000,1.0": "unparseable lat",
    "1.0,2.0,,1.0": "missing timestamp",
    "91.0,2.0,1700000000,1.0": "lat out of range",
    "nan,2.0,1700000000,1.0": "lat not finite",
    "1.0,-180.5,1700000000,1.0": "lon out of range",
    "1.0,2.0,2023-02-29,1.0": "unparseable timestamp",
    "1.0,2.0,1e300,1.0": "timestamp out of range",
    "1.0,2.0,1700000000,inf": "value not finite",
    "1.0,2.0,1700000000,2e12": "value implausible magnitude",
    "95.0,200.0,0.5,nan": "lat out of range",  # several problems: the first field wins
}


def _points(n: int, seed: int) -> dict[str, np.ndarray]:
    """A regional network: bounded cell count, so aggregate memory cannot grow with n."""
    rng = np.random.default_rng(seed)
    return {
        "lat": np.round(rng.uniform(40.0, 50.0, n), 4),
        "lon": np.round(rng.uniform(-5.0, 5.0, n), 4),
        "t": rng.integers(1_600_000_000, 1_700_000_000, n),
        "value": rng.integers(-4000, 4000, n) / 8.0,  # dyadic: exact through text
    }


def _write_csv(path: Path, cols: dict[str, np.ndarray], bad: dict[int, str] | None = None) -> None:
    """Write lat,lon,timestamp,value; `bad` maps a data-row position to a planted bad line."""
    rows = [
        f"{a!r},{b!r},{c},{d!r}"
        for a, b, c, d in zip(
            cols["lat"].tolist(),
            cols["lon"].tolist(),
            cols["t"].tolist(),
            cols["value"].tolist(),
            strict=True,
        )
    ]
    for position, text in sorted((bad or {}).items()):  # ascending: final index = position
        rows.insert(position, text)
    path.write_text("lat,lon,timestamp,value\n" + "\n".join(rows) + "\n", encoding="utf-8")


def _one_shot(cols: dict[str, np.ndarray], cell_deg: float) -> dict[str, np.ndarray]:
    """Independent reference: np.unique + bincount + ufunc.at over everything at once."""
    cells, inverse = np.unique(cell_index(cols["lat"], cols["lon"], cell_deg), return_inverse=True)
    mins = np.full(cells.size, np.inf)
    maxs = np.full(cells.size, -np.inf)
    np.minimum.at(mins, inverse, cols["value"])
    np.maximum.at(maxs, inverse, cols["value"])
    return {
        "cells": cells,
        "counts": np.bincount(inverse),
        "sums": np.bincount(inverse, weights=cols["value"]),
        "mins": mins,
        "maxs": maxs,
    }


def test_chunks_cover_every_row_and_bad_rows_are_quarantined(tmp_path: Path) -> None:
    cols = _points(1_000, seed=1)
    positions = {37 * i + 5: text for i, text in enumerate(BAD_ROWS)}
    path = tmp_path / "points.csv"
    _write_csv(path, cols, positions)
    chunks = list(iter_csv_chunks(path, chunk_rows=128))
    total = 1_000 + len(BAD_ROWS)
    assert [c.rows_in for c in chunks] == [128] * (total // 128) + [total % 128]
    assert all(c.rows_in == c.accepted + c.rejected for c in chunks)
    for name in ("lat", "lon", "t", "value"):
        np.testing.assert_array_equal(np.concatenate([c[name] for c in chunks]), cols[name])
    assert chunks[0]["t"].dtype == np.int64
    rows = np.concatenate([c.rejected_rows for c in chunks])
    reasons = np.concatenate([c.rejected_reasons for c in chunks])
    # Rows are numbered as ingest() numbers them: the data row at position p is row p + 1.
    assert dict(zip(rows.tolist(), reasons.tolist(), strict=True)) == {
        p + 1: BAD_ROWS[text] for p, text in positions.items()
    }
    assert set(reasons.tolist()) <= set(REJECTION_KINDS)


def test_header_aliases_order_extra_columns_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "alias.csv"
    text = (
        "\ufeffsensor,Value,longitude,time,latitude\r\ns1,1.5,2.0,100,3.0\r\ns2,2.5,4.0,200,5.0\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    (chunk,) = iter_csv_chunks(path, chunk_rows=10)
    assert chunk.rejected == 0
    np.testing.assert_array_equal(chunk["lat"], [3.0, 5.0])
    np.testing.assert_array_equal(chunk["lon"], [2.0, 4.0])
    np.testing.assert_array_equal(chunk["t"], [100, 200])
    np.testing.assert_array_equal(chunk["value"], [1.5, 2.5])
    assert set(chunk) == {"lat", "lon", "t", "value"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("lat,lon,value\n1,2,3\n", "timestamp"),
        ("lat,latitude,lon,timestamp,value\n", "duplicate columns"),
    ],
)
def test_malformed_file_raises_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(IngestError, match=message):
        list(iter_csv_chunks(path, chunk_rows=10))


def test_non_utf8_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"lat,lon,timestamp,value\n1,2,3,\xff\xfe\n")
    with pytest.raises(IngestError, match="UTF-8"):
        list(iter_csv_chunks(path, chunk_rows=10))


def test_cell_index_on_planted_cell_centres() -> None:
    rows, cols = np.meshgrid(np.arange(0, 1800, 7), np.arange(0, 3600, 11), indexing="ij")
    lat = (rows.ravel() + 0.5) * 0.1 - 90.0
    lon = (cols.ravel() + 0.5) * 0.1 - 180.0
    np.testing.assert_array_equal(cell_index(lat, lon, 0.1), rows.ravel() * 3600 + cols.ravel())
    edges = cell_index(np.array([-90.0, 90.0]), np.array([-180.0, 180.0]), 0.1)
    np.testing.assert_array_equal(edges, [0, 1800 * 3600 - 1])  # poles stay on the grid
    with pytest.raises(ParameterError, match="cell_deg"):
        cell_index(lat, lon, 0.0)


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("chunking")
    files = {}
    for n in (200_000, 1_000_000):
        cols = _points(n, seed=n)
        bad = {int(p): text for p, text in zip(range(11, n, n // 10), BAD_ROWS, strict=False)}
        path = base / f"points_{n}.csv"
        _write_csv(path, cols, bad)
        files[n] = (path, cols, bad)
    return files


def test_aggregate_equals_one_shot_numpy_on_1e6_rows(big_files: dict) -> None:
    path, cols, bad = big_files[1_000_000]
    agg = aggregate_csv(path, chunk_rows=50_000, cell_deg=0.1)
    ref = _one_shot(cols, 0.1)
    np.testing.assert_array_equal(agg.cells, ref["cells"])
    np.testing.assert_array_equal(agg.counts, ref["counts"])
    np.testing.assert_array_equal(agg.mins, ref["mins"])
    np.testing.assert_array_equal(agg.maxs, ref["maxs"])
    np.testing.assert_allclose(agg.sums, ref["sums"], rtol=1e-12, atol=1e-9)
    assert agg.rows_in == 1_000_000 + len(bad) == agg.rows_accepted + agg.rows_rejected
    assert agg.rows_rejected == len(bad)
    expected_reasons: dict[str, int] = {}
    for text in bad.values():
        expected_reasons[BAD_ROWS[text]] = expected_reasons.get(BAD_ROWS[text], 0) + 1
    assert agg.rejected_by_reason == dict(sorted(expected_reasons.items()))
    assert agg.chunks == -(-agg.rows_in // 50_000)
    lat, lon = agg.cell_centres()
    np.testing.assert_array_equal(cell_index(lat, lon, 0.1), agg.cells)


def test_chunk_size_does_not_change_the_answer(big_files: dict) -> None:
    path, _, _ = big_files[200_000]
    a = aggregate_csv(path, chunk_rows=7_919, cell_deg=0.5)
    b = aggregate_csv(path, chunk_rows=200_100, cell_deg=0.5)  # one chunk
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12)
    np.testing.assert_array_equal(a.means, b.sums / b.counts)


def _traced_peak(path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        aggregate_csv(path, chunk_rows=20_000, cell_deg=0.1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow  # a real measurement: traced peaks over 1e6 rows, ~10 s
def test_traced_peak_is_independent_of_file_size(big_files: dict) -> None:
    small = _traced_peak(big_files[200_000][0])
    large = _traced_peak(big_files[1_000_000][0])
    assert large < 1.5 * small, (small, large)
    # And far below what loading the whole file would take: its csv records alone, as
    # Python lists of str, are ~300 bytes a row (~300 MB here); a 20,000-row chunk's are 6 MB.
    assert large < 32 * 2**20


def test_bad_parameters(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    _write_csv(path, _points(5, seed=0))
    with pytest.raises(ParameterError, match="chunk_rows"):
        list(iter_csv_chunks(path, chunk_rows=0))
    with pytest.raises(ParameterError, match="cell_deg"):
        aggregate_csv(path, chunk_rows=10, cell_deg=-1)
