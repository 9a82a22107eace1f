"""Issue 12, cache: crafted entries are misses that get deleted, a damaged or truncated file
never blocks or stops a workflow, timestamps cannot evict fresh writes nor outlive the TTL,
unencodable keys and values are ParameterError, files are private and folders created."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeClock, sqlite_cache

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.orchestration.cache import SQLiteCache, decode_value, encode_value


def _cache(path: Path, **kwargs: object) -> SQLiteCache:
    return sqlite_cache(path, **{"max_entries": 100, **kwargs})


def _plant(path: Path, key: str, kind: str, payload: bytes) -> None:
    """Write an entry behind the cache's back, as a hostile or broken writer would."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE entries SET kind = ?, value = ? WHERE key = ?", (kind, payload, key))
    conn.close()


def _huge_npy() -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (35184372088832,), }"
    header += " " * (63 - len(header) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _huge_tree_prefix() -> bytes:
    return struct.pack("<Q", 2**64 - 1) + b"{}"


def _nested_json() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def _tree(doc: bytes) -> bytes:
    """A tree payload of a JSON document and no arrays."""
    return struct.pack("<Q", len(doc)) + doc


# -- item 4: crafted entries are a miss and are deleted ------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("npy", _huge_npy()),
        ("tree", _huge_tree_prefix()),
        ("json", _nested_json()),
        ("tree", _tree(b'{"__csr_matrix__": 5}')),
        # column 7 of a 2-column matrix: scipy would index outside its arrays
        ("tree", _tree(b'{"__csr_matrix__": [[1, 2], [1.0], [7], [0, 1]]}')),
    ],
)
def test_crafted_entries_are_a_miss_and_deleted(tmp_path: Path, kind: str, payload: bytes) -> None:
    cache = _cache(tmp_path / "c.db")
    cache.set("k", [1, 2])
    _plant(cache.path, "k", kind, payload)
    assert cache.get("k", "MISS") == "MISS"
    assert "k" not in cache and cache.stats().invalid == 1
    assert list(cache.items()) == []
    with pytest.raises(ValueError):
        decode_value(kind, payload)


# -- item 12: a file truncated under a live connection ------------------------------------


def test_zero_truncated_file_held_open_elsewhere_neither_blocks_nor_raises(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    holder = _cache(path, busy_timeout_s=30.0)
    holder.set("a", [1, 2])
    os.truncate(path, 0)  # a cleanup script empties the file; `holder` keeps its WAL open
    started = time.perf_counter()
    other = _cache(path, busy_timeout_s=30.0)
    other.set("b", 1)
    assert other.get("b") == 1
    assert time.perf_counter() - started < 5.0
    assert holder.get("a", "MISS") in ("MISS", [1, 2])  # any answer, no exception


def test_a_locked_cache_is_a_miss_not_a_stopped_workflow(tmp_path: Path) -> None:
    cache = _cache(tmp_path / "c.db", busy_timeout_s=0.05)
    cache.set("a", 1)
    blocker = sqlite3.connect(cache.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds the file
    try:
        cache.set("b", 2)  # dropped, with a warning
        assert cache.get("b", "MISS") == "MISS"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    cache.set("b", 2)
    assert cache.get("b") == 2


# -- item 13: timestamps -------------------------------------------------------------------


def test_a_write_never_evicts_the_value_it_just_wrote(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = _cache(tmp_path / "c.db", max_entries=2, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2)
    clock.now -= 100  # this writer's clock is behind the others' (or it read it early)
    cache.set("c", 3)
    assert cache.get("c") == 3


def test_an_entry_from_a_clock_running_ahead_does_not_outlive_its_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = _cache(tmp_path / "c.db", ttl_seconds=60, clock=clock)
    clock.now += 10_000  # the writer's clock runs ahead
    cache.set("k", 1)
    clock.now -= 10_000  # the true time: the entry is "from the future"
    clock.now += 61
    assert cache.get("k", "MISS") == "MISS"
    assert "k" not in cache


def test_the_write_timestamp_is_taken_inside_the_write_lock(tmp_path: Path) -> None:
    calls: list[bool] = []
    cache = _cache(tmp_path / "c.db")

    def clock() -> float:
        conn = cache._conn
        calls.append(conn is not None and conn.in_transaction)
        return 1_000_000.0

    cache.clock = clock
    cache.set("k", 1)
    assert calls == [True]


# -- smaller: unencodable keys and values ----------------------------------------------


def _recursive() -> list:
    value: list = [1]
    value.append(value)
    return value


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    ["\ud800", {"k\udfff": 1}, 10**5000, _recursive(), _deep(5000)],
    ids=["surrogate", "surrogate-key", "huge-int", "recursive-list", "deep-list"],
)
def test_unencodable_values_are_parameter_errors(tmp_path: Path, value: object) -> None:
    with pytest.raises(ParameterError):
        encode_value(value)
    cache = _cache(tmp_path / "c.db")
    with pytest.raises(ParameterError):
        cache.set("k", value)
    assert len(cache) == 0


def test_unencodable_keys_are_parameter_errors(tmp_path: Path) -> None:
    cache = _cache(tmp_path / "c.db")
    with pytest.raises(ParameterError):
        cache.set("\ud800", 1)
    with pytest.raises(ParameterError):
        cache.get("\ud800")


# -- smaller: private files, folders created ----------------------------------------------


def test_cache_files_are_private_and_parents_are_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "c.db"
    cache = _cache(path)
    cache.set("k", np.arange(3))
    for name in ("c.db", "c.db-wal", "c.db-shm"):
        mode = stat.S_IMODE((path.parent / name).stat().st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))


def test_a_valid_npy_still_round_trips(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(5.0))
    assert decode_value("npy", buffer.getvalue()).tolist() == [0, 1, 2, 3, 4]
