"""Ingestion side by side with its peers, on the same data (issue 13).

CSV: a file of `common.csv_text_with_bad_rows` (1% bad rows of seven kinds) read to typed
columns (lat, lon, value float64; timestamp epoch seconds) by geoinfer's `ingest_csv`
(with validation, quarantine and reasons), by pyarrow.csv on one thread (the ragged rows
skipped, timestamps by `pyarrow.compute.strptime`, bad ones null) and by pandas
(`read_csv`, then `to_numeric` / `to_datetime`, coercing what does not parse). GeoJSON:
a FeatureCollection of `common.geojson_text` read by geoinfer's `ingest_geojson` and by
pandas (`json.loads` + `json_normalize`, then the same conversions); pyarrow has no
reader for a FeatureCollection.

Rows: 1e5, plus 1e6 in the `large` profile. Each side has a `time_` row and a traced
peak; the ratio to the reference peer is the median of interleaved pairs
(`benchmarks/peers.py`). The peak is tracemalloc's (numpy and Python memory) plus that
of pyarrow's memory pool, which tracemalloc does not see and where pyarrow, pandas'
strings and geoinfer's CSV engine keep arrays (`common.traced_and_arrow_peak_mib`).
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import common, compat, peers

ISO = "%Y-%m-%dT%H:%M:%SZ"


def _pyarrow_csv(path: Path) -> Callable[[], Any]:
    pa = peers.require_peer("pyarrow")
    pa_csv = peers.require_peer("pyarrow.csv")
    pc = peers.require_peer("pyarrow.compute")

    def read() -> dict[str, Any]:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=lambda row: "skip"),
            convert_options=pa_csv.ConvertOptions(column_types={"timestamp": pa.string()}),
        )
        t = pc.strptime(table["timestamp"], format=ISO, unit="s", error_is_null=True)
        columns = {name: table[name].to_numpy() for name in ("lat", "lon", "value")}
        return columns | {"t": t.cast(pa.int64()).to_numpy(zero_copy_only=False)}

    return read


def _pandas_columns(frame: Any, pd: Any) -> dict[str, Any]:
    """lat/lon/value float64 and t epoch seconds of a frame, what does not parse coerced."""
    columns = {
        name: pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")
        for name in ("lat", "lon", "value")
    }
    t = pd.to_datetime(frame["timestamp"], format=ISO, errors="coerce")
    return columns | {"t": t.to_numpy(dtype="datetime64[s]").view("int64")}


def _pandas_csv(path: Path) -> Callable[[], Any]:
    pd = peers.require_peer("pandas")
    return lambda: _pandas_columns(pd.read_csv(path, on_bad_lines="skip"), pd)


def _pandas_geojson(text: str) -> Callable[[], Any]:
    pd = peers.require_peer("pandas")

    def read() -> dict[str, Any]:
        frame = pd.json_normalize(json.loads(text)["features"])
        coords = frame["geometry.coordinates"].tolist()
        frame["lon"] = [c[0] for c in coords]
        frame["lat"] = [c[1] for c in coords]
        frame = frame.rename(columns={"properties.timestamp": "timestamp"})
        return _pandas_columns(frame.rename(columns={"properties.value": "value"}), pd)

    return read


def _ingest() -> Any:
    return compat.import_first("geoinfer_workflows.modules.ingest")


class _CsvFile:
    """The seeded CSV with 1% bad rows, written to a temporary file in setup."""

    def make_file(self, rows: int) -> Path:
        self.folder = Path(tempfile.mkdtemp(prefix="geoinfer-peer-ingest-"))
        path = self.folder / "observations.csv"
        path.write_text(common.csv_text_with_bad_rows(rows), encoding="utf-8")
        return path

    def teardown(self, *params: Any) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _csv_side(impl: str, path: Path) -> Callable[[], Any]:
    if impl == "geoinfer":
        ingest_csv = _ingest().ingest_csv
        return lambda: ingest_csv(path)
    return _pyarrow_csv(path) if impl == "pyarrow" else _pandas_csv(path)


class _PerSide:
    """Each side's CPU time and traced peak of `self.read` (set in a subclass's setup)."""

    param_names = ["impl", "rows"]
    timeout = 900
    timer = time.process_time  # one thread on every side
    repeat = (3, 7, 60.0)
    number = 1
    read: Callable[[], Any]

    def time_read(self, impl: str, rows: int) -> None:
        self.read()

    time_read.version = "peer-ingest-time-1"

    def track_traced_peak_mib(self, impl: str, rows: int) -> float:
        return common.traced_and_arrow_peak_mib(self.read)

    track_traced_peak_mib.unit = "MiB"
    # 2: pyarrow's pool counted too, where pyarrow (and pandas' strings) keep arrays and,
    # since it moved its large arrays there, geoinfer's CSV engine.
    track_traced_peak_mib.version = "peer-ingest-traced-and-arrow-peak-2"


class PeerCsvIngest(_CsvFile, _PerSide):
    """CSV, 1% bad rows, to typed columns."""

    params = (["geoinfer", "pyarrow", "pandas"], list(common.PEER_INGEST_ROWS))

    def setup(self, impl: str, rows: int) -> None:
        self.read = _csv_side(impl, self.make_file(rows))


class PeerCsvIngestRatio(_CsvFile):
    """CSV, 1% bad rows: median interleaved ratio of a side's CPU time to pyarrow.csv's
    on one thread (below 1.0: faster than pyarrow)."""

    params = (["geoinfer", "pandas"], list(common.PEER_INGEST_ROWS))
    param_names = ["impl", "rows"]
    timeout = 900

    def setup(self, impl: str, rows: int) -> None:
        path = self.make_file(rows)
        self.read = _csv_side(impl, path)
        self.pyarrow = _pyarrow_csv(path)

    def track_ratio_to_pyarrow(self, impl: str, rows: int) -> float:
        return peers.interleaved_ratio(self.read, self.pyarrow)

    track_ratio_to_pyarrow.unit = "ratio"
    track_ratio_to_pyarrow.version = "peer-csv-ingest-ratio-1"


def _geojson_side(impl: str, text: str) -> Callable[[], Any]:
    if impl == "geoinfer":
        ingest_geojson = _ingest().ingest_geojson
        return lambda: ingest_geojson(io.StringIO(text))
    return _pandas_geojson(text)


class PeerGeoJsonIngest(_PerSide):
    """A FeatureCollection of Points to typed columns."""

    params = (["geoinfer", "pandas"], list(common.PEER_INGEST_ROWS))

    def setup(self, impl: str, rows: int) -> None:
        self.read = _geojson_side(impl, common.geojson_text(rows))


class PeerGeoJsonIngestRatio:
    """geoinfer's median interleaved ratio of CPU time to pandas on a FeatureCollection."""

    params = [list(common.PEER_INGEST_ROWS)]
    param_names = ["rows"]
    timeout = 900

    def setup(self, rows: int) -> None:
        text = common.geojson_text(rows)
        self.read = _geojson_side("geoinfer", text)
        self.pandas = _pandas_geojson(text)

    def track_ratio_to_pandas(self, rows: int) -> float:
        return peers.interleaved_ratio(self.read, self.pandas)

    track_ratio_to_pandas.unit = "ratio"
    track_ratio_to_pandas.version = "peer-geojson-ingest-ratio-1"
