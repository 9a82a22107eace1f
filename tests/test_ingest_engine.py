"""The pyarrow CSV engine against the csv-module engine and against today's results.

`tests/data/ingest_dirty.csv` holds every kind of bad row; its expected result was built
from the csv-module parser before the pyarrow engine existed (see
`tests/data/build_ingest_dirty.py`). Generated files compare the two engines row by row,
whole and streamed in small blocks (so block boundaries fall everywhere), and the number
rule pyarrow applies is checked against the strict rule cell by cell.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoinfer_workflows.modules.ingest import IngestResult, ingest, ingest_csv, ingest_geojson
from geoinfer_workflows.modules.ingest import csv as csv_module
from geoinfer_workflows.modules.ingest.arrow import _arrow_batch, _cast_floats
from tests.data.build_ingest_dirty import summary as _summary

DATA = Path(__file__).parent / "data"


def _same(got: dict, want: dict) -> None:
    """Equal, NaN equal to NaN (json writes NaN and reads it back as float nan)."""
    assert got.keys() == want.keys()
    for key in got:
        assert json.dumps(got[key]) == json.dumps(want[key]), key


def _both_engines(text: str, block: int) -> tuple[IngestResult, IngestResult | None]:
    """(csv module's result, pyarrow's result or None where it declines)."""
    old = csv_module._csv_module_result(text, hint="")
    new = csv_module._arrow_result(csv_module._text_blocks(text, block), hint="")
    return old, new


@pytest.mark.parametrize("block", [1 << 22, 4096, 997])
def test_dirty_file_gives_todays_result(block: int, tmp_path: Path) -> None:
    want = json.loads((DATA / "ingest_dirty_expected.json").read_text())
    text = (DATA / "ingest_dirty.csv").read_text(encoding="utf-8")
    old, new = _both_engines(text, block)
    assert new is not None  # the file has no quotes: the pyarrow engine must read it
    _same(_summary(new), want)
    _same(_summary(old), want)
    path = tmp_path / "dirty.csv"
    path.write_bytes((DATA / "ingest_dirty.csv").read_bytes())
    _same(_summary(csv_module._csv_from_path(path, block=block)), want)
    _same(_summary(ingest(path)), want)


@pytest.mark.parametrize(
    "variant",
    [
        lambda t: t.replace("\n", "\r\n"),  # CRLF
        lambda t: "\ufeff" + t,  # BOM
        lambda t: t.replace("\n", "\n\n", 50),  # empty lines
        lambda t: t.replace(",", ", ", 200),  # spaces after delimiters
    ],
    ids=["crlf", "bom", "empty-lines", "spaces"],
)
def test_variants_of_the_dirty_file_agree_with_the_csv_module(variant) -> None:
    text = variant((DATA / "ingest_dirty.csv").read_text(encoding="utf-8"))
    old, new = _both_engines(text.removeprefix("\ufeff"), 4096)
    assert new is not None
    _same(_summary(new), _summary(old))
    _same(_summary(ingest_csv(text.encode())), _summary(old))


@pytest.mark.parametrize(
    "text",
    [
        'lat,lon,timestamp,value\n1,2,2024-01-01,"3"\n',  # a quote
        "lat,lon,timestamp,value\n1,2\r2024-01-01,3\n",  # a lone CR
        "lat,lon,timestamp,value\n1,2,2024-01-01,\x003\n",  # NUL
        "lat,lon,timestamp,value\n1,2,2024-01-01," + "9" * 140_000 + "\n",  # field limit
        "lat,lon,timestamp,value\n",  # header only
    ],
)
def test_the_engine_declines_what_only_the_csv_module_reads_right(text: str) -> None:
    assert csv_module._arrow_result(csv_module._text_blocks(text, 1 << 22), hint="") is None


_CELLS = st.sampled_from(
    ["1", "-2.5", "", " ", "  7", "x", "4_5", "nan", "inf", "1e400", "91", "-181", "1.", ".5",
     "2024-03-01T12:00:00Z", "2024-03-01", "2024-02-30", " 2024-03-01T12:00:00Z",
     "2024-03-01T12:00:00+05:30", "1709294400", "1709294400.5", "\u0661", "1e13", "-0",
     "nan(1)", "inf()"]
)  # fmt: skip
_LINES = st.lists(_CELLS, min_size=1, max_size=6).map(",".join) | st.sampled_from(["", "  "])


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_LINES, max_size=30), block=st.integers(1, 200), crlf=st.booleans())
def test_engines_agree_on_generated_files(lines: list[str], block: int, crlf: bool) -> None:
    end = "\r\n" if crlf else "\n"
    text = end.join(["lat,lon,timestamp,value,extra", *lines]) + end
    old, new = _both_engines(text, block)
    if new is None:  # every generated file is one pyarrow reads; header-only ones excepted
        assert old.rows_read == 0
        return
    _same(_summary(new), _summary(old))


def _strict(cell: str) -> float | None:
    if not cell.isascii() or "_" in cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.eE+-_ naifINFty()\t\u0661", max_size=6), max_size=40))
def test_pyarrow_number_cast_reads_a_subset_of_the_strict_rule(cells: list[str]) -> None:
    """Every cell pyarrow's cast reads, the strict rule reads to the same float, except
    "nan(...)" forms, which the engine keeps from the cast (`_cast_floats`)."""
    pa = pytest.importorskip("pyarrow")
    for cell in cells:
        try:
            got = pa.compute.cast(pa.array([cell]), pa.float64())[0].as_py()
        except pa.ArrowInvalid:
            continue
        want = _strict(cell)
        if "(" in cell:
            assert _cast_floats(pa.array([cell]), castable=b"(" not in cell.encode()) is None
            continue
        assert want is not None, cell
        assert got == want or (math.isnan(got) and math.isnan(want)), cell


@pytest.mark.parametrize("column", ["lat", "timestamp", "value"])
def test_nan_with_a_payload_is_unparseable_in_both_engines(column: str) -> None:
    """pyarrow's cast reads "nan(1)" as NaN, the strict rule refuses it: the engine must
    quote it as unparseable, as the csv module does (it once said "value is NaN")."""
    cells = {"lat": "1", "lon": "2", "timestamp": "0", "value": "3"} | {column: "nan(1)"}
    text = "lat,lon,timestamp,value\n" + ",".join(cells.values()) + "\n1,2,0,3\n"
    old, new = _both_engines(text, 1 << 20)
    assert new is not None
    assert [r.reason for r in new.rejected] == [f"unparseable {column} 'nan(1)'"]
    _same(_summary(new), _summary(old))


def test_a_block_of_only_blank_lines_is_no_records() -> None:
    batch = _arrow_batch(b"   \n\n\t\n", 4, {"lat": 0, "lon": 1, "timestamp": 2, "value": 3}, {})
    assert batch is not None and batch.n == 0
    assert np.asarray(batch.fields[0].values).size == 0


def _feature(lon: object, lat: object, props: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


_GEO_PROPS = st.fixed_dictionaries(
    {
        "timestamp": st.sampled_from(
            ["2024-03-01T12:00:00Z", "2024-02-30T00:00:00Z", "2024-03-01", 1709294400, 1.5e12,
             None, "x", True, "2024-03-01T12:00:00+05:30"]
        ),
        "value": st.sampled_from([1.5, 3, "2.5", None, "abc", 1e300, -1e13, False, 10**30]),
    },
    optional={"station": st.sampled_from(["a", 7, 2.5, None, [1]]), "lat": st.just(3)},
)  # fmt: skip
_COORD = st.sampled_from([1.5, -200.0, 91, 0, 10**20, 45.25])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(_feature, _COORD, _COORD, _GEO_PROPS), max_size=20))
def test_typed_geojson_read_agrees_with_json(features: list[dict]) -> None:
    from geoinfer_workflows.modules.ingest import geojson

    text = json.dumps({"type": "FeatureCollection", "features": features})
    typed = geojson._typed_collection(text)
    assert typed is not None
    _same(_summary(typed), _summary(geojson._geojson_from_doc(json.loads(text))))


def test_typed_read_of_coordinates_with_an_altitude_agrees_with_json() -> None:
    """[lon, lat, altitude] (and ints, -0.0, a huge int): the typed read takes the first two
    as floats, the json reading the same cells by the strict number rule."""
    from geoinfer_workflows.modules.ingest import geojson

    props = {"timestamp": "2024-03-01T12:00:00Z", "value": 1}
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": c}, "properties": props}
        for c in ([1.5, 2.5, 100.0], [3, -0.0, 7], [200, 45, 0, 0], [10**20, 1], [-0.0, 91.0])
    ]
    text = json.dumps({"type": "FeatureCollection", "features": features})
    typed = geojson._typed_collection(text)
    assert typed is not None and typed.accepted == 2 and typed.rejected_count == 3
    _same(_summary(typed), _summary(geojson._geojson_from_doc(json.loads(text))))


@pytest.mark.parametrize(
    "feature",
    [
        '{"geometry": {"type": "Point", "coordinates": [NaN, 1]}, "properties": {}}',
        '{"geometry": {"type": "Point", "coordinates": [true, 1]}, "properties": {}}',
        '{"geometry": {"type": "Point", "coordinates": [1]}, "properties": {}}',
        '{"geometry": {"type": "LineString", "coordinates": [1, 2]}, "properties": {}}',
        '{"geometry": null, "properties": {}}',
        '{"geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": null}',
        '{"geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {"value": 1e400}}',
        "[1, 2]",
    ],
)
def test_the_typed_read_leaves_every_other_document_to_json(feature: str) -> None:
    from geoinfer_workflows.modules.ingest import geojson

    good = json.dumps(_feature(1, 2, {"timestamp": 0, "value": 1}))
    text = f'{{"type": "FeatureCollection", "features": [{good}, {feature}]}}'
    assert geojson._typed_collection(text) is None
    result = ingest(text.encode(), format="geojson")
    assert result.rows_read == 2 and result.rejected_count >= 1


def test_a_csv_path_is_streamed_not_read_whole(tmp_path: Path, monkeypatch) -> None:
    """`ingest(path)` (the CLI's call) and `ingest_csv(path)` never hold the whole text:
    the whole-file reader is not called, and the result is that of the bytes read whole
    (blocks of every size: `test_dirty_file_gives_todays_result`)."""
    path = tmp_path / "dirty.csv"
    path.write_bytes((DATA / "ingest_dirty.csv").read_bytes())
    whole = _summary(ingest_csv(path.read_bytes()))

    def refuse(*args: object) -> None:
        raise AssertionError("the file was read whole")

    monkeypatch.setattr(csv_module, "_read_path", refuse)
    _same(_summary(ingest(path)), whole)
    _same(_summary(ingest_csv(str(path))), whole)


@pytest.mark.parametrize(
    "props",
    [
        [{"timestamp": 0, "value": 1}, {"timestamp": 5}],  # a key absent from one feature
        [{"timestamp": 0, "value": 2}],  # written with a repeated key below: the last counts
        [{"time": 0, "value": 1}, {"time": 1, "value": 2}],  # an alias
        [{"timestamp": "2024-03-01T12:00:00Z", "value": None, "station": 3}],  # an extra
    ],
)
def test_typed_read_of_properties_agrees_with_json(props: list[dict]) -> None:
    from geoinfer_workflows.modules.ingest import geojson

    features = [_feature(1.5, 2, p) for p in props]
    text = json.dumps({"type": "FeatureCollection", "features": features})
    if len(props) == 1 and "station" not in props[0]:
        text = text.replace('"value": 2', '"value": 1, "value": 2')
    want = _summary(geojson._geojson_from_doc(json.loads(text)))
    _same(_summary(ingest_geojson(text)), want)


_VALID_ISO = "2024-02-29T23:59:59Z"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 19), st.sampled_from("0123456789-:TtZz +.,\u00e9\t")),
        max_size=3,
    ),
    st.lists(st.text(alphabet="0123456789-:TtZz+., ", min_size=17, max_size=20), max_size=5),
)
def test_twenty_character_timestamps_get_the_general_parsers_verdict(edits, others) -> None:
    """The CSV engine's fixed-form shortcut (`_fixed_is_final`: a plain 20-character cell
    the fixed form refuses is invalid) agrees with the general ISO parser cell by cell."""
    from geoinfer_workflows.modules.ingest.arrow import _iso_seconds
    from geoinfer_workflows.modules.ingest.timestamps import _CodePoints, _parse_iso

    cell = list(_VALID_ISO)
    for at, char in edits:
        cell[at] = char
    cells = ["".join(cell), _VALID_ISO, *others]
    raw = [c.encode() for c in cells]
    width = max(map(len, raw))
    by_row = np.array([list(r.ljust(width, b"\0")) for r in raw], dtype=np.uint8)
    seconds, plain = _iso_seconds(by_row)
    general = _parse_iso(_CodePoints.of_unicode(np.array(cells, dtype=str)))
    want_plain = [c.isascii() and c == c.strip("".join(map(chr, range(1, 33)))) for c in cells]
    assert plain.tolist() == want_plain
    np.testing.assert_array_equal(seconds[plain], general[plain])


@pytest.mark.parametrize("size", [1, 7, 64])
def test_file_blocks_reuse_their_buffers_across_calls(size: int, tmp_path: Path) -> None:
    """The pooled read buffers (`csv._file_blocks`): the header line first, each block
    ends at a line end, the blocks are the file in order, and a second file read after
    the first (its buffers reused, longer lines and a shorter file) gives its own bytes,
    none of the first's."""
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    first.write_bytes(b"".join(b"%d,aaaaaaaaaa\n" % i for i in range(200)))
    second.write_bytes(b"".join(b"%d,%s\n" % (i, b"b" * (i % 23)) for i in range(90)) + b"end")
    for path in (first, second, first):
        with path.open("rb") as fh:
            blocks = [bytes(block) for block in csv_module._file_blocks(fh, size)]
        assert b"".join(blocks) == path.read_bytes()
        assert blocks[0] == path.read_bytes().split(b"\n")[0] + b"\n"  # the header alone
        assert all(block.endswith(b"\n") for block in blocks[:-1])
        assert all(len(block) >= size for block in blocks[1:-1])


def test_a_block_still_viewed_is_not_refilled(tmp_path: Path) -> None:
    """A consumer holding a view of a block when it asks for the next one gets an error,
    never the next block's bytes under its view."""
    path = tmp_path / "lines.csv"
    path.write_bytes(b"".join(b"%d\n" % i for i in range(100)))
    with path.open("rb") as fh:
        blocks = csv_module._file_blocks(fh, 16)
        assert next(blocks) == b"0\n"  # the header line, a bytes object of its own
        view = memoryview(next(blocks))
        seen = bytes(view)
        with pytest.raises(BufferError):
            next(blocks)
        assert bytes(view) == seen
        view.release()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_fixed_form_reads_what_the_general_parser_reads(seed: int) -> None:
    """`_parse_iso_fixed` (int32 arithmetic) on 60,000 twenty-byte cells: valid times over
    years 0..9999 with up to three bytes changed; every cell it reads gets the general
    parser's seconds, and every cell it refuses the general parser refuses too (no cell
    is blank-padded or holds a NUL, so the refusal is final: `arrow._fixed_is_final`)."""
    from geoinfer_workflows.modules.ingest.timestamps import (
        _CodePoints,
        _parse_iso,
        _parse_iso_fixed,
    )

    rng = np.random.default_rng(seed)
    n = 60_000
    seconds = rng.integers(-62_000_000_000, 253_000_000_000, n).astype("datetime64[s]")
    text = [s.rjust(19, "0") + "Z" for s in np.datetime_as_string(seconds).tolist()]
    by_row = np.frombuffer("".join(text).encode(), dtype=np.uint8).reshape(n, 20).copy()
    alphabet = np.frombuffer(b"0123456789-:TtZz+.,/;\xff", dtype=np.uint8)
    changes = rng.integers(0, 4, n)
    for k in range(3):
        at, byte = rng.integers(0, 20, n), alphabet[rng.integers(0, alphabet.size, n)]
        edit = np.flatnonzero(changes > k)
        by_row[edit, at[edit]] = byte[edit]
    by_row[::7, 10] = ord(" ")  # every separator and zone the fixed form takes
    by_row[::11, 10] = ord("t")
    by_row[::13, 19] = ord("z")
    got, read = _parse_iso_fixed(by_row)
    general = _parse_iso(_CodePoints(np.ascontiguousarray(by_row.T).astype(np.int32)))
    assert 0.3 < read.mean() < 0.9
    np.testing.assert_array_equal(got[read], general[read])
    assert np.isnan(general[~read]).all()


def test_the_tables_columns_live_in_pyarrows_pool_and_are_plain_writable_arrays(
    tmp_path: Path,
) -> None:
    """The CSV engine's table columns come from pyarrow's pool (pooled.py): they must
    still be ordinary numpy arrays a caller may write to, keep their values after the
    reader's other buffers are gone, and equal what the csv-module engine returns."""
    from benchmarks import common

    path = tmp_path / "obs.csv"
    path.write_text(common.csv_text_with_bad_rows(50_000), encoding="utf-8")
    result = ingest_csv(path)
    expected = csv_module._csv_module_result(path.read_text(encoding="utf-8"), hint="")
    table = result.table
    assert type(table.lat) is np.ndarray and table.lat.base is not None  # a pool Buffer
    for name in ("lat", "lon", "t", "value"):
        column = getattr(table, name)
        np.testing.assert_array_equal(column, getattr(expected.table, name))
        assert column.flags.writeable
    table.value[:3] = -1.0
    ingest_csv(path)  # another call reuses the pool: must not touch these arrays
    assert table.value[:3].tolist() == [-1.0, -1.0, -1.0]
    np.testing.assert_array_equal(table.lat, expected.table.lat)
