"""DATA ingestion: CSV text, GeoJSON text and a list of dicts, 1e2 to 1e5 rows (1e6 opt-in).

The serialised input is built in setup; the timed body parses and validates it. A fixed
dirty input tracks how many rows are rejected, so a change that stops catching bad rows
shows in the history beside the speed.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path

from . import common, compat

FORMATS = ("csv", "geojson", "records")


def _ingest_fn(fmt: str):
    data = compat.import_first(
        "geoinfer_workflows.modules.ingest", "geoinfer_workflows.modules.data"
    )

    if fmt == "csv":
        return lambda source: data.ingest_csv(io.StringIO(source))
    if fmt == "geojson":
        return lambda source: data.ingest_geojson(io.StringIO(source))
    return data.ingest_records


def _source(fmt: str, rows: int):
    if fmt == "csv":
        return common.csv_text(rows)
    if fmt == "geojson":
        return common.geojson_text(rows)
    return common.records(rows)


class Ingestion:
    params = (list(FORMATS), list(common.INGEST_ROWS))
    param_names = ["format", "rows"]
    timeout = 600
    timer = time.process_time  # single-threaded parsing
    repeat = (3, 10, 20.0)
    rounds = 2

    def setup(self, fmt: str, rows: int) -> None:
        self.ingest = _ingest_fn(fmt)
        self.source = _source(fmt, rows)

    def time_ingest(self, fmt: str, rows: int) -> None:
        self.ingest(self.source)

    time_ingest.version = "f14c321c44ada2c7817157606a531356f81306f16b84bab146c8cca66283ef81"

    def peakmem_ingest(self, fmt: str, rows: int) -> None:
        self.ingest(self.source)

    peakmem_ingest.version = "618440f4897fa2650d232c522238a2f6006ecf39a3aa2f7e5d0e9b4e73a351af"

    def track_rows_per_second(self, fmt: str, rows: int) -> float:
        return rows / common.median_cpu_seconds(lambda: self.ingest(self.source))

    track_rows_per_second.unit = "rows/s"
    track_rows_per_second.version = (
        "a4e9b74bc57480b63a1b269e5ea9decfd09bb22ee698333c1b36928dcd74d6ea"
    )


class DirtyInput:
    """Rows rejected from the fixed dirty CSV (see common.dirty_csv_text)."""

    timeout = 120

    def setup(self) -> None:
        data = compat.import_first(
            "geoinfer_workflows.modules.ingest", "geoinfer_workflows.modules.data"
        )

        self.ingest_csv = data.ingest_csv
        self.source = common.dirty_csv_text()

    def track_rows_rejected(self) -> float:
        result = self.ingest_csv(io.StringIO(self.source))
        if result.accepted + len(result.rejected) != result.rows_read:
            raise AssertionError("ingestion lost rows: accepted + rejected != rows read")
        return float(len(result.rejected))

    track_rows_rejected.unit = "rows"
    track_rows_rejected.version = "0ae5c65354ebd155b3d449c032e2ed3115ebe36e9b8161da30c4f6cf39aa266d"


class CsvFileStreaming:
    """Traced peak of ingesting a CSV file of `rows` observations (1% bad rows): the file
    streamed in blocks (`ingest_csv(path)`, what `geoinfer-workflows ingest FILE` runs)
    against its text read whole first (`ingest_csv(path.read_bytes())`). The streamed peak
    holds one block of text plus the parsed columns; the whole one holds all the text.
    tracemalloc does not see pyarrow's allocator: both sides undercount it alike."""

    params = ["streamed", "whole"]
    param_names = ["read"]
    timeout = 900
    rows = 1_000_000 if common.PROFILE != "fast" else 100_000

    def setup(self, read: str) -> None:
        data = compat.import_first("geoinfer_workflows.modules.ingest")
        self.folder = Path(tempfile.mkdtemp(prefix="geoinfer-streaming-"))
        path = self.folder / "observations.csv"
        path.write_text(common.csv_text_with_bad_rows(self.rows), encoding="utf-8")
        if read == "streamed":
            self.ingest = lambda: data.ingest_csv(path)
        else:
            self.ingest = lambda: data.ingest_csv(path.read_bytes())

    def teardown(self, read: str) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def track_traced_peak_mib(self, read: str) -> float:
        result = self.ingest()
        if result.accepted + result.rejected_count != result.rows_read:
            raise AssertionError("ingestion lost rows: accepted + rejected != rows read")
        return common.traced_peak_mib(self.ingest)

    track_traced_peak_mib.unit = "MiB"
    track_traced_peak_mib.version = "csv-file-streaming-traced-peak-1"
