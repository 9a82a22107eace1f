"""Build tests/data/ingest_dirty.csv (every kind of bad CSV row, seeded) and its expected
result, tests/data/ingest_dirty_expected.json, from the ingest package of the day.

Run once at commit 10ead56 (the csv-module parser, before the pyarrow engine):
`python tests/data/build_ingest_dirty.py tests/data/ingest_dirty.csv \\
    tests/data/ingest_dirty_expected.json`.
The test (tests/test_ingest_engine.py) compares today's result with that file.
"""

import json
import random
import sys

from geoinfer_workflows.modules.ingest import ingest


def dirty_lines(n, seed=13):
    rng = random.Random(seed)
    bad_cells = {
        "num": [
            "",
            "  ",
            "abc",
            "4_5",
            "\u0661\u0662",
            "1 2",
            "0x10",
            "1e",
            ".",
            "nan",
            "NaN",
            "-inf",
            "Infinity",
            "inf",
            "1e400",
            "1" + "0" * 400,
            "+1.5",
            "1.",
            ".5",
            "-0",
            " 7",
            "1e-400",
            "--1",
            "1.5.2",
            "\u00a01",
            "1,5",
        ],
        "lat": ["91.5", "-90.0000001", "90", "-90"],
        "lon": ["-181.0", "180.0000001", "180", "-180"],
        "ts": [
            "",
            "2024-13-45T25:61:00Z",
            "2024-02-30",
            "1800-01-01T00:00:00Z",
            "2300-01-01",
            "2024-03-01 12:00",
            "2024-03-01t12:00:00z",
            "2024-03-01T12:00:00+05:30",
            "2024-03-01T12:00:00-0800",
            "2024-03-01T12:00:00+05",
            "2024-03-01T12:00:00.987Z",
            "2024-03-01T12:00:00,5",
            "2024-03-01T12",
            "1709294400",
            "1709294400.75",
            "1e12",
            "now",
            "NaT",
            "today",
            " 2024-03-01T12:00:00Z",
            "2024-03-01T12:00:00Z ",
            "2024-03-01T24:00:00Z",
            "2024-03-01T12:00:00+24:00",
            "20240301",
            "2024-3-1",
            "\u0662024-03-01",
            "2024-03-01T12:00:00.Z",
            "-1e20",
            "nan",
            "inf",
            "4_5",
            "2024-03-01T12:00:60Z",
            "1899-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "2200-01-01T00:00:01Z",
            "x" * 70,
            "1" * 80,
        ],
        "value": ["1e300", "-1e13", "1e12", "nan", "inf", "-inf"],
    }
    lines = ["lat, lon ,Time,value,station,note"]
    for i in range(n):
        lat = f"{rng.uniform(-89, 89):.6f}"
        lon = f"{rng.uniform(-179, 179):.6f}"
        day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        hms = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        ts = f"{day}T{hms}Z"
        value = f"{rng.gauss(20, 5):.3f}"
        station = str(rng.randint(1, 50))
        note = "n" * 300 if i == 777 else rng.choice(["ok", "checked", "", "x"])
        cells = [lat, lon, ts, value, station, note]
        r = rng.random()
        if r < 0.25:
            k = rng.randrange(4)
            pool = {
                0: bad_cells["num"] + bad_cells["lat"],
                1: bad_cells["num"] + bad_cells["lon"],
                2: bad_cells["ts"],
                3: bad_cells["num"] + bad_cells["value"],
            }[k]
            cells[k] = rng.choice(pool)
            if rng.random() < 0.1:
                cells[rng.randrange(4)] = rng.choice(bad_cells["num"])
        elif r < 0.27:
            cells = [*cells, "extra"]
        elif r < 0.29:
            cells = cells[:3]
        elif r < 0.30:
            lines.append(rng.choice(["", "   ", "\t"]))
        elif r < 0.32:
            cells = [" " + c for c in cells]
        elif r < 0.33:
            cells[4] = rng.choice(["abc", "1_0", "\u0661"])
        lines.append(",".join(cells))
    return lines


def summary(r):
    """A result as JSON-ready lists (tests/test_ingest_engine.py compares these)."""
    t = r.table
    return {
        "rows_read": r.rows_read,
        "rejected": [[x.row, x.kind, x.reason] for x in r.rejected],
        "lat": t.lat.tolist(),
        "lon": t.lon.tolist(),
        "t": t.t.tolist(),
        "value": t.value.tolist(),
        "extra": {k: [str(v.dtype), v.tolist()] for k, v in t.extra.items()},
    }


if __name__ == "__main__":
    lines = dirty_lines(3000)
    text = "\n".join(lines) + "\n"
    with open(sys.argv[1], "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    with open(sys.argv[2], "w") as fh:
        json.dump(summary(ingest(text.encode(), format="csv")), fh, indent=0)
