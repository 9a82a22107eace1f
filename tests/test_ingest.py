"""DATA ingestion: every kind of bad input, exact rejected rows, and independent oracles.

Timestamps are checked against Python's `datetime` (an implementation independent of the
module's vectorised code-point parser); numbers against `float`; row conservation
(accepted + rejected == rows read) on every result via `_checked`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from geoinfer_workflows.errors import IngestError, ParameterError
from geoinfer_workflows.modules.ingest import (
    IngestResult,
    Rejection,
    ingest,
    ingest_columns,
    ingest_csv,
    ingest_geojson,
    ingest_records,
)
from geoinfer_workflows.modules.ingest import csv as csv_module

HEADER = "lat,lon,timestamp,value"
GOOD = "10.5,20.25,2024-03-01T12:00:00Z,1.5"
T_GOOD = 1_709_294_400  # 2024-03-01T12:00:00Z


def _csv(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def _checked(result: IngestResult) -> IngestResult:
    """The invariants every result must satisfy, whatever the input."""
    rows = [r.row for r in result.rejected]
    assert result.accepted + result.rejected_count == result.rows_read
    assert result.rejected_count == len(rows) == len(set(rows))
    assert all(1 <= row <= result.rows_read for row in rows)
    table = result.table
    assert table.lat.dtype == np.float64 and table.lon.dtype == np.float64
    assert table.value.dtype == np.float64 and table.t.dtype == np.int64
    assert all(len(col) == len(table) for col in table.extra.values())
    assert sum(result.reasons_summary().values()) == result.rejected_count
    return result


def _rows(result: IngestResult) -> list[int]:
    return [r.row for r in result.rejected]


def _reasons(result: IngestResult) -> dict[int, str]:
    return {r.row: r.reason for r in result.rejected}


def _same_table(a: IngestResult, b: IngestResult) -> None:
    for name in ("lat", "lon", "t", "value"):
        np.testing.assert_array_equal(getattr(a.table, name), getattr(b.table, name))
    assert a.table.extra.keys() == b.table.extra.keys()
    for name in a.table.extra:
        np.testing.assert_array_equal(a.table.extra[name], b.table.extra[name])
    assert a.rejected == b.rejected and a.rows_read == b.rows_read


# ------------------------------------------------------------ the ten kinds of bad input


def test_nan_and_inf_are_rejected_with_the_field_named():
    text = _csv(
        GOOD,
        "nan,20,2024-03-01,1",
        "10,inf,2024-03-01,1",
        "10,20,2024-03-01,NaN",
        "10,20,2024-03-01,-inf",
        GOOD,
        "10,20,2024-03-01,Infinity",
        "10,20,nan,1",
    )
    result = _checked(ingest_csv(text))
    assert _reasons(result) == {
        2: "lat is NaN",
        3: "lon is inf",
        4: "value is NaN",
        5: "value is -inf",
        7: "value is inf",
        8: "timestamp is NaN",
    }
    assert result.accepted == 2
    assert result.reasons_summary()["value not finite"] == 3


def test_out_of_range_coordinates_rejected_and_bounds_inclusive():
    text = _csv(
        "90,180,2024-03-01,1",
        "91.5,0,2024-03-01,1",
        "-90,-180,2024-03-01,1",
        "-90.0000001,0,2024-03-01,1",
        "0,180.5,2024-03-01,1",
        "0,-181,2024-03-01,1",
    )
    result = _checked(ingest_csv(text))
    assert _reasons(result) == {
        2: "lat 91.5 outside [-90, 90]",
        4: "lat -90.0000001 outside [-90, 90]",
        5: "lon 180.5 outside [-180, 180]",
        6: "lon -181 outside [-180, 180]",
    }
    np.testing.assert_array_equal(result.table.lat, [90.0, -90.0])
    np.testing.assert_array_equal(result.table.lon, [180.0, -180.0])


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("lat,lon,value", ["timestamp", "time | datetime"]),
        ("x,y,timestamp,value", ["lat", "lon", "latitude", "lng"]),
        ("lat,lon,timestamp", ["value"]),
    ],
)
def test_missing_columns_raise_naming_them_and_their_aliases(header, named):
    with pytest.raises(IngestError, match="missing required column") as err:
        ingest_csv(header + "\n1,2,3\n")
    for word in named:
        assert word in str(err.value)


def test_missing_columns_in_records_and_geojson_raise():
    with pytest.raises(IngestError, match="value"):
        ingest_records([{"lat": 1, "lon": 2, "timestamp": T_GOOD}])
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [1, 2]},
                "properties": {"value": 1},
            }
        ],
    }
    with pytest.raises(IngestError, match="timestamp"):
        ingest_geojson(collection)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("lat,latitude,lon,timestamp,value", ["'lat'", "'latitude'"]),
        ("lat,lon,time,datetime,value", ["'time'", "'datetime'"]),
        ("lat,lon,timestamp,value,depth, Depth ", ["'depth'", "'Depth'"]),
        ("LAT,lat,lon,timestamp,value", ["'LAT'", "'lat'"]),
    ],
)
def test_duplicate_columns_including_alias_collisions_raise(header, words):
    with pytest.raises(IngestError, match="duplicate columns") as err:
        ingest_csv(header + "\n")
    for word in words:
        assert word in str(err.value)


def test_duplicate_record_keys_through_aliases_raise():
    with pytest.raises(IngestError, match="duplicate columns"):
        ingest_records([{"lat": 1, "lng": 2, "lon": 2, "timestamp": T_GOOD, "value": 1}])


def test_unparseable_timestamps_quarantine_only_their_rows():
    bad = {
        2: "2024-13-45",
        3: "2024-02-30",
        5: "yesterday",
        6: "2024-03-01T25:00",
        7: "2024-03-01T12:00:00+25:00",
        8: "now",
        9: "NaT",
        10: "2024-03-01Z",
        11: "2024-3-1",
        12: "2024-03-01T12:0",
    }
    lines = [GOOD] * 13
    for row, stamp in bad.items():
        lines[row - 1] = f"1,2,{stamp},3"
    lines[3] = "1,2,,3"  # row 4: empty cell
    result = _checked(ingest_csv(_csv(*lines)))
    reasons = _reasons(result)
    assert sorted(reasons) == sorted([*bad, 4])
    assert reasons[4] == "missing timestamp"
    for row, stamp in bad.items():
        assert reasons[row] == f"unparseable timestamp {stamp!r}"
    assert result.accepted == 2
    np.testing.assert_array_equal(result.table.t, [T_GOOD, T_GOOD])


@pytest.mark.parametrize("source", ["", b"", "\n\n  \n", b"\xef\xbb\xbf", "  "])
def test_empty_input_raises(source):
    with pytest.raises(IngestError, match="empty input"):
        ingest_csv(source, text=True) if isinstance(source, str) else ingest_csv(source)


def test_header_only_is_an_empty_table():
    result = _checked(ingest_csv(HEADER + ",station\n"))
    assert result.rows_read == 0 and result.accepted == 0 and result.rejected == ()
    assert set(result.table.extra) == {"station"} and len(result.table.extra["station"]) == 0


def test_non_utf8_bytes_raise_with_the_byte_offset():
    prefix = b"lat,lon,timestamp,value,place\n1,2,2024-03-01,3,"
    data = prefix + "Zürich".encode("latin-1") + b"\n"
    offset = len(prefix) + 1  # 'Z' then the latin-1 u-umlaut 0xfc
    with pytest.raises(IngestError, match=f"byte offset {offset} .line 2.") as err:
        ingest_csv(data)
    assert "0xfc" in str(err.value) and "UTF-8" in str(err.value)
    with pytest.raises(IngestError, match=f"byte offset {offset + 3} "):
        ingest_csv(b"\xef\xbb\xbf" + data)  # the offset counts the BOM too
    with pytest.raises(IngestError, match="UTF-16"):
        ingest_csv(HEADER.encode("utf-16"))


def test_ragged_rows_are_quarantined_with_field_counts():
    text = _csv(GOOD, "1,2,2024-03-01,3,4,5", GOOD, "1,2,2024-03-01", "", GOOD, "1")
    result = _checked(ingest_csv(text))
    # the blank line is not a record: "1" is data record 6
    assert _reasons(result) == {
        2: "expected 4 fields, got 6",
        4: "expected 4 fields, got 3",
        6: "expected 4 fields, got 1",
    }
    assert result.rows_read == 6 and result.accepted == 3


def _feature(geometry, **props):
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"timestamp": T_GOOD, "value": 1.0, **props},
    }


def _point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def test_wrong_geojson_geometries_are_quarantined():
    features = [
        _feature(_point(20.0, 10.0)),
        _feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
        _feature({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
        _feature(None),
        _feature({"type": "Point", "coordinates": [1.0]}),
        _feature({"type": "Point", "coordinates": ["1", "2"]}),
        _feature(_point(0.0, 95.0)),
        "not a feature",
        _feature(_point(-20.0, -10.0)),
        _feature({"type": "MultiPoint", "coordinates": [[0, 0]]}),
    ]
    result = _checked(ingest_geojson({"type": "FeatureCollection", "features": features}))
    reasons = _reasons(result)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 10]
    assert reasons[2] == "geometry type 'Polygon' is not Point"
    assert reasons[3] == "geometry type 'LineString' is not Point"
    assert reasons[4] == "missing geometry"
    assert "coordinates" in reasons[5] and "coordinates" in reasons[6]
    assert reasons[7] == "lat 95 outside [-90, 90]"
    assert "not an object" in reasons[8]
    assert reasons[10] == "geometry type 'MultiPoint' is not Point"
    np.testing.assert_array_equal(result.table.lat, [10.0, -10.0])
    np.testing.assert_array_equal(result.table.lon, [20.0, -20.0])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"type": "Feature", "geometry": null}', "must be a FeatureCollection, got 'Feature'"),
        ("[1, 2]", "must be a FeatureCollection"),
        ('{"type": "FeatureCollection", "features": 3}', "'features' list"),
        ('{"type": "FeatureCollection",\n "features": [}', "invalid JSON at line 2"),
    ],
)
def test_geojson_that_is_not_a_feature_collection_raises(doc, message):
    with pytest.raises(IngestError, match=message):
        ingest_geojson(doc)


def test_absurd_magnitudes_rejected_but_the_bound_itself_accepted():
    text = _csv(
        "1,2,2024-03-01,1e12",
        "1,2,2024-03-01,1e13",
        "1,2,2024-03-01,-1e12",
        "1,2,2024-03-01,-5e12",
        "1,2,2024-03-01,1e300",
        "1,2,2024-03-01,1e400",  # overflows to inf
    )
    result = _checked(ingest_csv(text))
    reasons = _reasons(result)
    assert sorted(reasons) == [2, 4, 5, 6]
    assert reasons[2] == "value 1e+13 implausible magnitude (|value| > 1e+12)"
    assert "-5e+12 implausible magnitude" in reasons[4]
    assert "implausible magnitude" in reasons[5]
    assert reasons[6] == "value is inf"
    np.testing.assert_array_equal(result.table.value, [1e12, -1e12])


def test_timestamps_outside_1900_2200_rejected():
    text = _csv(
        "1,2,1900-01-01T00:00:00Z,1",
        "1,2,1899-12-31T23:59:59Z,1",
        "1,2,2200-01-01T00:00:00Z,1",
        "1,2,2200-01-01T00:00:01Z,1",
        "1,2,1e30,1",
    )
    result = _checked(ingest_csv(text))
    reasons = _reasons(result)
    assert sorted(reasons) == [2, 4, 5]
    assert reasons[2] == "timestamp 1899-12-31T23:59:59Z outside [1900-01-01, 2200-01-01]"
    assert "outside [1900-01-01, 2200-01-01]" in reasons[5]
    np.testing.assert_array_equal(result.table.t, [-2_208_988_800, 7_258_118_400])


# ------------------------------------------------------------------- what must be accepted


def test_aliases_case_and_whitespace_in_the_header():
    canonical = ingest_csv(_csv(GOOD, "1,2,2024-03-02,3"))
    for header in (
        "Latitude , Longitude,Time, VALUE",
        " LAT,lng,datetime,Value",
        "latitude,LON,TIMESTAMP,value",
    ):
        _same_table(canonical, _checked(ingest_csv(_csv(GOOD, "1,2,2024-03-02,3", header=header))))


def test_bom_and_crlf_are_fine():
    plain = ingest_csv(_csv(GOOD, "1,2,2024-03-02,3"))
    crlf = _csv(GOOD, "1,2,2024-03-02,3").replace("\n", "\r\n")
    _same_table(plain, _checked(ingest_csv(b"\xef\xbb\xbf" + crlf.encode())))
    _same_table(plain, _checked(ingest_csv("\ufeff" + crlf)))


def _oracle_epoch(stamp: str) -> int:
    """Epoch seconds by Python's datetime: naive is UTC, fractions floored."""
    parsed = dt.datetime.fromisoformat(stamp)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return math.floor(parsed.timestamp())


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-03-01T12:00:00Z", 1_709_294_400),
        ("2024-03-01T12:00:00+02:00", 1_709_287_200),
        ("2024-03-01T12:00:00-05:30", 1_709_314_200),
        ("2024-03-01T12:00:00+0530", 1_709_274_600),
        ("2024-03-01T12:00+01", 1_709_290_800),
        ("2024-03-01 12:00:00", 1_709_294_400),
        ("2024-03-01", 1_709_251_200),
        ("2024-03-01T12", 1_709_294_400),
        ("2024-03-01T00:30:00+01:00", 1_709_249_400),  # previous UTC day
        ("2024-02-29T23:59:59.999Z", 1_709_251_199),
        ("1969-12-31T23:59:59.5Z", -1),  # floored, not truncated toward zero
        ("1900-01-01T00:00:00Z", -2_208_988_800),
    ],
)
def test_iso_timestamps_and_offsets_give_exact_utc_epoch_seconds(stamp, expected):
    assert _oracle_epoch(stamp) == expected  # the table above is right by datetime too
    result = _checked(ingest_csv(_csv(f"1,2,{stamp},3")))
    assert result.rejected == ()
    assert result.table.t.tolist() == [expected]


def test_lowercase_t_and_z_and_comma_fraction():
    result = _checked(
        ingest_csv(_csv("1,2,2024-03-01t12:00:00z,3", '1,2,"2024-03-01T12:00:00,75Z",3'))
    )
    assert result.table.t.tolist() == [T_GOOD, T_GOOD]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iso_parser_agrees_with_datetime_on_random_strings(seed):
    """Random valid and invalid stamps: accepted exactly when datetime accepts them."""
    rng = np.random.default_rng(seed)
    stamps = []
    for _ in range(400):
        y = int(rng.integers(1899, 2202))
        mo, d = int(rng.integers(0, 14)), int(rng.integers(0, 33))
        h, mi, s = int(rng.integers(0, 26)), int(rng.integers(0, 62)), int(rng.integers(0, 62))
        stamp = f"{y:04d}-{mo:02d}-{d:02d}"
        parts = int(rng.integers(0, 5))
        if parts:
            stamp += "T" if rng.random() < 0.7 else " "
            stamp += [f"{h:02d}", f"{h:02d}:{mi:02d}", f"{h:02d}:{mi:02d}:{s:02d}"][
                min(parts, 3) - 1
            ]
            if parts == 4:
                stamp += f":{s:02d}." + "7" * int(rng.integers(1, 7))
            zone = int(rng.integers(0, 5))
            oh, om = int(rng.integers(0, 26)), int(rng.choice([0, 15, 30, 45, 59]))
            sign = "+" if rng.random() < 0.5 else "-"
            stamp += [
                "",
                "Z",
                f"{sign}{oh:02d}:{om:02d}",
                f"{sign}{oh:02d}{om:02d}",
                f"{sign}{oh:02d}",
            ][zone]
        stamps.append(stamp)
    result = _checked(ingest_csv(_csv(*(f"1,2,{stamp},3" for stamp in stamps))))
    reasons = _reasons(result)
    accepted = iter(result.table.t.tolist())
    for row, stamp in enumerate(stamps, start=1):
        try:
            expected = _oracle_epoch(stamp)
        except ValueError:
            assert reasons.get(row) == f"unparseable timestamp {stamp!r}", stamp
            continue
        if -2_208_988_800 <= expected <= 7_258_118_400:
            assert row not in reasons, (stamp, reasons.get(row))
            assert next(accepted) == expected, stamp
        else:
            assert "outside [1900-01-01, 2200-01-01]" in reasons[row], stamp
    assert next(accepted, None) is None


def test_epoch_second_timestamps_int_and_float_are_floored():
    stamps = ["1709294400", "1709294400.9", "-86400", "-86400.5", "1.7e9", " 1709294400 "]
    result = _checked(ingest_csv(_csv(*(f"1,2,{s},3" for s in stamps))))
    assert result.table.t.tolist() == [math.floor(float(s)) for s in stamps]
    assert result.table.t.tolist() == [
        1709294400,
        1709294400,
        -86400,
        -86401,
        1_700_000_000,
        1709294400,
    ]


def test_mixed_epoch_and_iso_in_one_column():
    result = _checked(ingest_csv(_csv("1,2,1709294400,3", "1,2,2024-03-01T12:00:00Z,3", "1,2,x,3")))
    assert result.table.t.tolist() == [T_GOOD, T_GOOD]
    assert _reasons(result) == {3: "unparseable timestamp 'x'"}


def test_path_text_and_file_objects_give_the_same_table(tmp_path: Path):
    text = _csv(GOOD, "91,2,2024-03-01,3", '1,2,2024-03-02,4,"extra"', "5,6,1709294400,7")
    path = tmp_path / "obs.csv"
    path.write_bytes(text.encode())
    reference = _checked(ingest_csv(text))
    assert _rows(reference) == [2, 3]
    with path.open("rb") as binary, path.open("r", encoding="utf-8", newline="") as textual:
        sources = [
            path,
            str(path),
            text.encode(),
            io.BytesIO(text.encode()),
            io.StringIO(text),
            binary,
            textual,
        ]
        for source in sources:
            _same_table(reference, _checked(ingest_csv(source)))
    _same_table(reference, _checked(ingest(path)))


def test_str_source_rule_is_explicit():
    with pytest.raises(IngestError, match="no such file"):
        ingest_csv("missing.csv")
    with pytest.raises(IngestError, match="missing required column"):
        ingest_csv("missing.csv", text=True)  # forced content: a one-column header
    with pytest.raises(IngestError, match="text=False"):
        ingest_csv("lat,lon")  # a comma makes it content; the hint says how to force a path
    with pytest.raises(ParameterError):
        ingest_csv(Path("x.csv"), text=True)
    with pytest.raises(ParameterError):
        ingest_csv(42)  # type: ignore[arg-type]


def test_extra_columns_are_kept_aligned_with_accepted_rows():
    text = _csv(
        "1,2,2024-03-01,10,alpha,0.5,7",
        "95,2,2024-03-01,20,beta,0.6,x",  # rejected: its non-numeric 'code' does not count
        "3,4,2024-03-01,30,gamma,,8",
        "5,6,2024-03-01,40,delta,0.8,9",
        header=HEADER + ",Station,depth,code",
    )
    result = _checked(ingest_csv(text))
    extra = result.table.extra
    assert list(extra) == ["station", "depth", "code"]
    assert extra["station"].dtype.kind == "U" and extra["station"].tolist() == [
        "alpha",
        "gamma",
        "delta",
    ]
    assert extra["depth"].dtype.kind == "U"  # an empty accepted cell is not a number
    assert extra["depth"].tolist() == ["0.5", "", "0.8"]
    assert extra["code"].dtype == np.float64 and extra["code"].tolist() == [7.0, 8.0, 9.0]
    np.testing.assert_array_equal(result.table.value, [10.0, 30.0, 40.0])
    long_note = "x" * 300  # too wide for a fixed-width unicode array: kept as objects
    notes = _checked(
        ingest_csv(_csv(f"{GOOD},short", f"{GOOD},{long_note}", header=HEADER + ",note"))
    )
    assert notes.table.extra["note"].dtype == object
    assert notes.table.extra["note"].tolist() == ["short", long_note]


def test_quoted_fields_with_commas_and_quotes():
    text = _csv(
        '1,2,2024-03-01,"3.5","Smith, J."',
        '4,5,"2024-03-02T00:00:00+01:00", 6,"He said ""hi"", twice"',
        header=HEADER + ",note",
    )
    result = _checked(ingest_csv(text))
    assert result.rejected == ()
    assert result.table.extra["note"].tolist() == ["Smith, J.", 'He said "hi", twice']
    assert result.table.value.tolist() == [3.5, 6.0]
    assert result.table.t.tolist() == [1_709_251_200, 1_709_251_200 + 23 * 3600]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{"type": "FeatureCollection", "features": []}', "looks like JSON"),
        ("[1, 2]\n", "looks like JSON"),
        ("lat,lon,timestamp,value\n1,2,\x00,3\n", "NUL character"),
        ('lat,lon,timestamp,value\n1,2,"2024-03-01,3\n4,5,6,7\n', "never closed"),
        ("lat;lon;timestamp;value\n1;2;3;4\n", "delimiter must be ','"),
    ],
)
def test_not_csv_raises_one_clear_error(source, message):
    with pytest.raises(IngestError, match=message):
        ingest_csv(source, text=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_garbage_is_not_csv(seed):
    garbage = np.random.default_rng(seed).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    with pytest.raises(IngestError):
        ingest_csv(garbage)


# ------------------------------------------------------------------ property: random mixes

_BAD_KINDS = {
    # kind -> (make the four fields bad, a word the reason must contain)
    "lat range": (lambda f, r: [str(r.choice([-1, 1]) * r.uniform(90.001, 500)), *f[1:]], "lat"),
    "lon range": (
        lambda f, r: [f[0], str(r.choice([-1, 1]) * r.uniform(180.001, 900)), *f[2:]],
        "lon",
    ),
    "nan": (lambda f, r: [*f[:3], "nan"], "NaN"),
    "inf": (lambda f, r: [f[0], "-inf", *f[2:]], "inf"),
    "month 13": (lambda f, r: [*f[:2], "2024-13-01T00:00:00Z", f[3]], "unparseable timestamp"),
    "feb 30": (lambda f, r: [*f[:2], "2023-02-29", f[3]], "unparseable timestamp"),
    "before 1900": (lambda f, r: [*f[:2], "1899-06-01", f[3]], "outside"),
    "empty lat": (lambda f, r: ["", *f[1:]], "missing lat"),
    "text value": (lambda f, r: [*f[:3], "abc"], "unparseable value"),
    "huge": (lambda f, r: [*f[:3], "3e15"], "implausible"),
    "too many": (lambda f, r: [*f, "x", "y"], "expected 5 fields, got 6"),
    "too few": (lambda f, r: f[:2], "expected 5 fields, got 2"),
}


def _random_stamp(rng: np.random.Generator) -> tuple[str, int]:
    """A valid timestamp in a random format and its epoch seconds, formatted by datetime."""
    t = int(rng.integers(-2_000_000_000, 7_000_000_000))
    style = int(rng.integers(0, 6))
    if style == 0:
        return str(t), t
    if style == 1:
        return f"{t}.25", math.floor(float(f"{t}.25"))  # "-5.25" is -5.25: floor -6
    if style == 2:
        midnight = t - t % 86_400
        return dt.datetime.fromtimestamp(midnight, dt.UTC).strftime("%Y-%m-%d"), midnight
    minutes = int(rng.integers(-14 * 60, 14 * 60 + 1)) // 15 * 15
    local = dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(minutes=minutes)))
    if style == 3:
        return local.isoformat(), t  # "+hh:mm" offset
    if style == 4:
        return local.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ"), t
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f%z"), t  # "+hhmm" offset, fraction


@pytest.mark.parametrize(
    ("seed", "batch_rows"), [(0, None), (1, None), (2, None), (3, 7), (4, 64), (5, 1)]
)
def test_random_mixes_accept_exactly_the_good_rows(seed, batch_rows, monkeypatch):
    if batch_rows is not None:  # CSV is parsed in batches: make the seams fall inside the input
        monkeypatch.setattr(csv_module, "_CSV_BATCH_ROWS", batch_rows)
    rng = np.random.default_rng(seed)
    n = 400
    lines, good_rows, bad_rows = [], [], {}
    for row in range(1, n + 1):
        lat, lon = float(rng.uniform(-90, 90)), float(rng.uniform(-180, 180))
        value = float(rng.normal(0, 1e3))
        stamp, t = _random_stamp(rng)
        tag = f"s{int(rng.integers(0, 50))}"
        fields = [repr(lat), repr(lon), stamp, repr(value)]
        if rng.random() < 0.35:
            kind = str(rng.choice(list(_BAD_KINDS)))
            make, word = _BAD_KINDS[kind]
            fields = make(fields, rng)
            bad_rows[row] = word
            cells = [*fields, tag] if kind not in ("too many", "too few") else fields
        else:
            good_rows.append((lat, lon, t, value, tag))
            cells = [*fields, tag]
        lines.append(",".join(cells))
    result = _checked(ingest_csv(_csv(*lines, header=HEADER + ",tag")))
    assert result.rows_read == n
    reasons = _reasons(result)
    assert sorted(reasons) == sorted(bad_rows)
    for row, word in bad_rows.items():
        assert word in reasons[row], (row, reasons[row])
    expected = np.array([g[:4] for g in good_rows])
    np.testing.assert_array_equal(result.table.lat, expected[:, 0])
    np.testing.assert_array_equal(result.table.lon, expected[:, 1])
    assert result.table.t.tolist() == [g[2] for g in good_rows]
    np.testing.assert_array_equal(result.table.value, expected[:, 3])
    assert result.table.extra["tag"].tolist() == [g[4] for g in good_rows]
    # The same lines as dicts of str: a too-long line just fills the five keys, so it is good.
    names = ("lat", "lon", "timestamp", "value", "tag")
    records = [dict(zip(names, line.split(","), strict=False)) for line in lines]
    from_records = _checked(ingest_records(records))
    assert _rows(from_records) == sorted(
        r for r, w in bad_rows.items() if w != _BAD_KINDS["too many"][1]
    )


# ------------------------------------------------------------------------ numpy columns


def test_ingest_columns_on_1e5_rows_rejects_exactly_the_planted_rows():
    rng = np.random.default_rng(7)
    n = 100_000
    lat, lon = rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)
    t = rng.integers(1_600_000_000, 1_700_000_000, n)
    value = rng.normal(size=n)
    sensor = np.arange(n)
    planted = {
        17: "lat is NaN",
        5_000: "lon 200 outside",
        12_345: "timestamp 1850",
        99_999: "value is inf",
    }
    lat[17] = np.nan
    lon[5_000] = 200.0
    t[12_345] = -3_786_825_600  # 1850-01-01
    value[99_999] = np.inf
    result = _checked(ingest_columns(lat, lon, t, value, sensor=sensor))
    assert _rows(result) == [i + 1 for i in sorted(planted)]
    for r in result.rejected:
        assert r.reason.startswith(planted[r.row - 1])
    keep = np.setdiff1d(np.arange(n), list(planted))
    np.testing.assert_array_equal(result.table.lat, lat[keep])
    np.testing.assert_array_equal(result.table.t, t[keep])
    np.testing.assert_array_equal(result.table.extra["sensor"], sensor[keep])
    assert not np.shares_memory(result.table.lat, lat)  # the caller's buffers are not aliased


def test_ingest_columns_datetime64_and_float_epochs():
    t = np.array(["2024-03-01T12:00:00.750", "NaT", "1850-01-01"], dtype="datetime64[ms]")
    ones = np.ones(3)
    result = _checked(ingest_columns(ones, ones, t, ones))
    assert result.table.t.tolist() == [T_GOOD]
    assert _reasons(result) == {
        2: "missing timestamp",
        3: "timestamp 1850-01-01T00:00:00Z outside [1900-01-01, 2200-01-01]",
    }
    result = _checked(ingest_columns(ones, ones, np.array([T_GOOD + 0.5, np.nan, -0.5]), ones))
    assert result.table.t.tolist() == [T_GOOD, -1]
    assert _reasons(result) == {2: "timestamp is NaN"}
    strings = ingest_columns(["1", "x"], [2.0, 3.0], ["2024-03-01T12:00:00Z", "1709294400"], [1, 2])
    _checked(strings)
    assert strings.table.t.tolist() == [T_GOOD] and _reasons(strings) == {2: "unparseable lat 'x'"}


def test_ingest_columns_whole_input_errors():
    with pytest.raises(IngestError, match="differ in length"):
        ingest_columns(np.zeros(3), np.zeros(3), np.zeros(2, dtype=np.int64), np.zeros(3))
    with pytest.raises(IngestError, match="1-D"):
        ingest_columns(np.zeros((2, 2)), np.zeros(2), np.zeros(2), np.zeros(2))
    with pytest.raises(IngestError, match="numeric"):
        ingest_columns(np.zeros(2, dtype=bool), np.zeros(2), np.zeros(2), np.zeros(2))
    empty = _checked(
        ingest_columns(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
    )
    assert empty.rows_read == 0


# ----------------------------------------------------------------------- records, dispatch


def test_records_with_aliases_types_and_row_problems():
    aware = dt.datetime(2024, 3, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    records = [
        {"Latitude": 10.0, "lng": 20.0, "time": T_GOOD, "value": 1.0, "site": "a"},
        {"Latitude": "11.5", "lng": 21, "time": "2024-03-01T12:00:00Z", "value": 2, "site": "b"},
        {"Latitude": None, "lng": 20.0, "time": T_GOOD, "value": 1.0},
        {"lng": 20.0, "time": T_GOOD, "value": 1.0},
        ["not", "a", "mapping"],
        {"Latitude": True, "lng": 20.0, "time": T_GOOD, "value": 1.0},
        {"Latitude": 1.0, "lng": 2.0, "time": aware, "value": 3.0, "site": "c"},
        {"Latitude": 1.0, "lng": 2.0, "time": dt.date(2024, 3, 1), "value": 3.0, "site": 4},
        {"Latitude": 1.0, "lng": 2.0, "time": {"when": "now"}, "value": 3.0},
    ]
    result = _checked(ingest_records(records))
    reasons = _reasons(result)
    assert reasons == {
        3: "missing lat",
        4: "missing lat",
        5: "record is a list, not a mapping",
        6: "unparseable lat True",
        9: "unparseable timestamp {'when': 'now'}",
    }
    assert result.table.t.tolist() == [T_GOOD, T_GOOD, T_GOOD, 1_709_251_200]
    assert result.table.lat.tolist() == [10.0, 11.5, 1.0, 1.0]
    assert result.table.extra["site"].tolist() == ["a", "b", "c", "4"]


def test_records_whole_input_errors():
    with pytest.raises(IngestError, match="empty input"):
        ingest_records([])
    with pytest.raises(IngestError, match="sequence of mappings"):
        ingest_records({"type": "FeatureCollection"})  # type: ignore[arg-type]


def test_records_and_geojson_match_csv():
    csv_result = ingest_csv(_csv(GOOD, "95,1,2024-03-01,2", "1,2,2024-03-02T00:00:00+01:00,3"))
    rows = [
        line.split(",") for line in (GOOD, "95,1,2024-03-01,2", "1,2,2024-03-02T00:00:00+01:00,3")
    ]
    records = [dict(zip(("lat", "lon", "timestamp", "value"), r, strict=True)) for r in rows]
    _same_table(csv_result, _checked(ingest_records(records)))
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(r[1]), float(r[0])]},
                "properties": {"timestamp": r[2], "value": float(r[3])},
            }
            for r in rows
        ],
    }
    sources = (
        lambda: collection,
        lambda: json.dumps(collection),
        lambda: io.StringIO(json.dumps(collection)),
    )
    for make in sources:
        _same_table(csv_result, _checked(ingest_geojson(make())))
        _same_table(csv_result, _checked(ingest(make())))


def test_geojson_extra_properties_and_empty_collection():
    features = [
        _feature(_point(1.0, 2.0), station="a", depth=1.5, lat=99),
        _feature({"type": "Polygon", "coordinates": []}, station="b", depth=2.5),
        _feature(_point(3.0, 4.0), station="c", depth=3.5),
    ]
    result = _checked(ingest_geojson({"type": "FeatureCollection", "features": features}))
    assert result.table.extra["station"].tolist() == ["a", "c"]
    assert result.table.extra["depth"].tolist() == [1.5, 3.5]
    assert result.table.extra["lat"].tolist() == ["99", ""]  # a property, not the position
    empty = _checked(ingest_geojson('{"type": "FeatureCollection", "features": []}'))
    assert empty.rows_read == 0


def test_dispatch_by_type_extension_and_content(tmp_path: Path):
    text = _csv(GOOD)
    collection = {
        "type": "FeatureCollection",
        "features": [_feature(_point(20.25, 10.5), value=1.5)],
    }
    (tmp_path / "a.csv").write_text(text)
    (tmp_path / "b.geojson").write_text(json.dumps(collection))
    (tmp_path / "c.dat").write_text(json.dumps(collection))
    reference = ingest_csv(text)
    for source in (
        text,
        tmp_path / "a.csv",
        str(tmp_path / "b.geojson"),
        tmp_path / "c.dat",
        collection,
    ):
        _same_table(reference, _checked(ingest(source)))
    records = [{"lat": 10.5, "lon": 20.25, "timestamp": "2024-03-01T12:00:00Z", "value": 1.5}]
    _same_table(reference, _checked(ingest(records)))
    _same_table(reference, _checked(ingest(json.dumps(records))))
    with pytest.raises(ParameterError, match="unknown format"):
        ingest(text, format="xlsx")


def test_rejection_equality_and_summary():
    result = _checked(ingest_csv(_csv("95,0,2024-03-01,1", "96,0,2024-03-01,1", "0,0,x,1")))
    assert result.rejected[0] == Rejection(1, "lat 95 outside [-90, 90]")
    assert result.reasons_summary() == {"lat out of range": 2, "unparseable timestamp": 1}


def test_a_column_of_mostly_bad_cells_keeps_nan_apart_from_garbage():
    """Past the first few failures parsing switches to a tolerant pass; same answers."""
    cells = ["abc" if i % 3 == 0 else "nan" if i % 3 == 1 else str(i) for i in range(300)]
    result = _checked(ingest_csv(_csv(*(f"1,2,2024-03-01,{c}" for c in cells))))
    reasons = _reasons(result)
    assert len(reasons) == 200
    for i, cell in enumerate(cells):
        if cell == "abc":
            assert reasons[i + 1] == "unparseable value 'abc'"
        elif cell == "nan":
            assert reasons[i + 1] == "value is NaN"
    assert result.table.value.tolist() == [float(i) for i in range(2, 300, 3)]


def test_field_reasons_by_case_keep_the_wording_and_its_precedence() -> None:
    """`_Field.explain` sorts rows into cases with masks and words each case once; every
    row must still read as it always has, with missing before unparseable before the
    value's own problem (NaN, infinite, out of range)."""
    from geoinfer_workflows.modules.ingest.fields import _Field

    values = np.array([np.nan, np.inf, -np.inf, 95.0, np.nan, np.nan, -91.5, np.inf])
    missing = np.array([False, False, False, False, True, False, False, True])
    unparseable = np.array([False, False, False, False, False, True, False, False])
    cells = ["nan", "inf", "-inf", "95", "", "abc", "-91.5", ""]
    field = _Field("lat", values, -90.0, 90.0, missing, unparseable, cells)
    expected = [
        ("lat not finite", "lat is NaN"),
        ("lat not finite", "lat is inf"),
        ("lat not finite", "lat is -inf"),
        ("lat out of range", "lat 95 outside [-90, 90]"),
        ("missing lat", "missing lat"),
        ("unparseable lat", "unparseable lat 'abc'"),
        ("lat out of range", "lat -91.5 outside [-90, 90]"),
        ("missing lat", "missing lat"),
    ]
    rows = np.arange(values.size)
    assert field.explain(rows) == expected
    assert field.explain(rows[[1, 4, 6]]) == [expected[1], expected[4], expected[6]]
