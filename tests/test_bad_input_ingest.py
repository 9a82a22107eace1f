"""Issue 12, ingestion: hostile but fair inputs quarantine a row or raise IngestError, and
never crash with a traceback from deep inside the parser."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from geoinfer_workflows.errors import IngestError
from geoinfer_workflows.modules.ingest import (
    REJECTION_KINDS,
    ingest,
    ingest_columns,
    ingest_csv,
    ingest_records,
)

HEADER = "lat,lon,timestamp,value"


def _reasons(result) -> dict[int, str]:
    return {r.row: r.reason for r in result.rejected}


# -- item 7: one row-level problem rejects only that row --------------------------------


@pytest.mark.parametrize(
    ("bad_row", "word"),
    [
        ('45,7,"2024-01-01"x,1', "malformed CSV record"),
        ('45,7,"2024-01-01"  ,1', "malformed CSV record"),
        ("45,7,1700000000," + "9" * 140_000, "malformed CSV record"),
        ('45,7,1700000000,"' + "9" * 140_000 + '"', "malformed CSV record"),
    ],
)
def test_row_level_csv_problems_quarantine_that_row_only(bad_row: str, word: str) -> None:
    text = f"{HEADER}\n46,8,1700000000,3\n{bad_row}\n47,9,1700000001,4\n"
    result = ingest_csv(text)
    assert result.rows_read == 3 and result.accepted == 2
    assert list(_reasons(result)) == [2]
    assert word in _reasons(result)[2]
    assert result.table.lat.tolist() == [46.0, 47.0]


def test_an_unclosed_quote_is_still_a_whole_input_error() -> None:
    with pytest.raises(IngestError, match="never closed"):
        ingest_csv(f'{HEADER}\n1,2,"2024-03-01,3\n' + "4,5,6,7\n" * 40_000)


# -- item 8: huge integers ----------------------------------------------------------------


def test_5000_digit_integer_in_geojson_quarantines_its_feature() -> None:
    huge = "1" * 5000
    doc = (
        '{"type":"FeatureCollection","features":['
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[7,45]},'
        f'"properties":{{"timestamp":{huge},"value":1}}}},'
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[8,46]},'
        f'"properties":{{"timestamp":1700000000,"value":2,"note":{huge}}}}}]}}'
    )
    result = ingest(doc)
    assert result.rows_read == 2 and result.accepted == 1
    assert "timestamp" in _reasons(result)[1]
    assert result.table.extra["note"].shape == (1,)


def test_400_digit_integers_in_records_are_quarantined_not_a_traceback() -> None:
    huge = 10**400
    records = [
        {"lat": 45, "lon": 7, "timestamp": huge, "value": 1},
        {"lat": 45, "lon": 7, "timestamp": "2024-01-01", "value": 1},
        {"lat": huge, "lon": 7, "timestamp": 1700000000, "value": 1},
        {"lat": 45, "lon": 7, "timestamp": 1700000000, "value": 10**5000},
        {"lat": 45, "lon": 7, "timestamp": 1700000000, "value": 1, "x": 10**5000},
    ]
    result = ingest_records(records)
    assert sorted(_reasons(result)) == [1, 3, 4]
    assert "unparseable timestamp" in _reasons(result)[1]
    assert "unparseable lat" in _reasons(result)[3]
    assert result.table.extra["x"].tolist()[1].startswith("0x")


# -- item 14: one strict number rule -------------------------------------------------------


@pytest.mark.parametrize("cell", ["4_5", "٤٥", "\u00a045", "4\u06f05", "1_700_000_000"])
def test_lenient_number_spellings_are_unparseable_everywhere(cell: str) -> None:
    text = (
        f"{HEADER}\n{cell},7,1700000000,1\n45,{cell},1700000000,1\n45,7,{cell},1\n45,7,1,{cell}\n"
    )
    result = ingest_csv(text)
    assert result.accepted == 0
    assert [r.kind for r in result.rejected] == [
        "unparseable lat",
        "unparseable lon",
        "unparseable timestamp",
        "unparseable value",
    ]
    records = ingest_records([{"lat": cell, "lon": 7, "timestamp": cell, "value": 1}])
    assert records.rejected[0].kind == "unparseable lat"


def test_datetime64_beyond_the_seconds_range_is_out_of_range_not_1970() -> None:
    t = np.array([2**62, 19_700, -(2**62)], dtype="datetime64[D]")
    result = ingest_columns([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], t, [3.0, 3.0, 3.0])
    assert result.table.t.tolist() == [19_700 * 86_400]
    assert [r.kind for r in result.rejected] == ["timestamp out of range"] * 2
    years = np.array(["2024", "9999", "NaT"], dtype="datetime64[Y]")
    by_year = ingest_columns([1.0] * 3, [2.0] * 3, years, [3.0] * 3)
    assert [r.kind for r in by_year.rejected] == ["timestamp out of range", "missing timestamp"]


def test_every_kind_is_in_the_one_vocabulary() -> None:
    text = (
        f"{HEADER}\n,7,1,1\nx,7,1,1\nnan,7,1,1\n91,7,1,1\n45,7,1e15,1\n45,7,1,1e13\n"
        '45,7\n45,7,"1"x,1\n'
    )
    kinds = {r.kind for r in ingest_csv(text).rejected}
    assert len(kinds) == 8 and kinds <= set(REJECTION_KINDS)


# -- smaller: endless and blocking inputs ------------------------------------------------


def test_dev_zero_is_refused_not_read_until_memory_error() -> None:
    with pytest.raises(IngestError, match="not a regular file"):
        ingest(os.devnull.replace("null", "zero"), format="csv")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path) -> None:
    fifo = tmp_path / "obs.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            ingest(fifo)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the stuck reader so the test process can exit
        with open(fifo, "w") as fh:
            fh.write("")
        pytest.fail("ingest() blocked on a FIFO")
    assert isinstance(outcome[0], IngestError) and "not a regular file" in str(outcome[0])


def test_json_records_with_a_huge_integer_value_do_not_crash() -> None:
    text = json.dumps([{"lat": 1, "lon": 2, "timestamp": 3, "value": 4}])
    text = text.replace("4}", "9" * 5000 + "}")
    result = ingest(text)
    assert result.rejected[0].kind == "value not finite"
