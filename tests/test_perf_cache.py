"""Cache: exact LRU order, TTL on an injected clock, no pickle, survival of damaged files,
threads and processes against a model of the expected contents."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import random
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeClock, sqlite_cache
from scipy import sparse

from geoinfer_workflows.errors import GeoInferError, ParameterError
from geoinfer_workflows.orchestration.cache import (
    LRUCache,
    SQLiteCache,
    TwoLevelCache,
    cached_stage,
    decode_value,
    encode_value,
    input_digest,
)


def make_l2(tmp_path: Path, **kwargs: object) -> SQLiteCache:
    return sqlite_cache(tmp_path / "cache.db", **kwargs)


# --- L1 -------------------------------------------------------------------------------


def test_lru_order_and_eviction_are_exact() -> None:
    lru: LRUCache[str, int] = LRUCache(3)
    for k, v in (("a", 1), ("b", 2), ("c", 3)):
        lru.set(k, v)
    assert lru.keys() == ["a", "b", "c"]
    assert lru.get("a") == 1  # a becomes most recent: the guide's cache would still evict it
    assert lru.keys() == ["b", "c", "a"]
    lru.set("d", 4)
    assert lru.keys() == ["c", "a", "d"] and "b" not in lru
    lru.set("c", 30)  # update refreshes recency
    lru.set("e", 5)
    assert lru.keys() == ["d", "c", "e"]
    assert lru.get("b", "gone") == "gone"
    assert lru.get("c") == 30
    s = lru.stats()
    assert (s.hits, s.misses, s.evictions, s.size, s.maxsize) == (2, 1, 2, 3, 3)
    assert s.hit_ratio == pytest.approx(2 / 3)


def test_lru_against_a_reference_model_on_random_operations() -> None:
    rng = random.Random(11)
    lru: LRUCache[int, int] = LRUCache(16)
    model: list[tuple[int, int]] = []  # least recent first
    evictions = 0
    for step in range(5_000):
        key = rng.randrange(40)
        found = [i for i, (k, _) in enumerate(model) if k == key]
        if rng.random() < 0.5:
            expected = model[found[0]][1] if found else None
            assert lru.get(key) == expected
            if found:
                model.append(model.pop(found[0]))
        else:
            if found:
                model.pop(found[0])
            model.append((key, step))
            if len(model) > 16:
                model.pop(0)
                evictions += 1
            lru.set(key, step)
        assert lru.keys() == [k for k, _ in model]
    assert lru.stats().evictions == evictions


def test_lru_none_values_and_delete() -> None:
    lru: LRUCache[str, object] = LRUCache(2)
    lru.set("n", None)
    sentinel = object()
    assert lru.get("n", sentinel) is None
    assert lru.delete("n") and not lru.delete("n")
    assert lru.get("n", sentinel) is sentinel
    with pytest.raises(ParameterError, match="maxsize"):
        LRUCache(0)


def test_lru_threads_lose_no_write() -> None:
    lru: LRUCache[str, int] = LRUCache(100_000)
    n_threads, n_ops = 8, 10_000

    def worker(t: int) -> dict[str, int]:
        rng = random.Random(t)
        model: dict[str, int] = {}
        for i in range(n_ops):
            key = f"{t}:{rng.randrange(500)}"
            op = rng.random()
            if op < 0.5:
                lru.set(key, i)
                model[key] = i
            elif op < 0.9:
                assert lru.get(key, -1) == model.get(key, -1)
            else:
                lru.delete(key)
                model.pop(key, None)
            lru.set(f"shared:{i % 50}", t * n_ops + i)
        return model

    models = _run_threads(worker, n_threads)
    expected = {k: v for m in models for k, v in m.items()}
    own = {k for k in list(lru.keys()) if not k.startswith("shared:")}
    assert own == set(expected)
    assert all(lru.get(k) == v for k, v in expected.items())
    for j in range(50):  # last writer wins, and the value is one some thread wrote there
        value = lru.get(f"shared:{j}")
        assert value % n_ops % 50 == j


def _run_threads(worker, n_threads: int) -> list:  # type: ignore[no-untyped-def]
    results: list = [None] * n_threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def run(t: int) -> None:
        try:
            barrier.wait()
            results[t] = worker(t)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return results


# --- value encoding ---------------------------------------------------------------------

ROUND_TRIP_VALUES = [
    None,
    True,
    0,
    -(2**62),
    3.141592653589793,
    float("inf"),
    'héllo\n"quoted"',
    [1, [2, [3, None]], {"k": "v"}],
    {"counts": [1, 2], "nested": {"x": 1.5, "empty": {}}},
]

ROUND_TRIP_ARRAYS = [
    np.random.default_rng(0).normal(size=(37, 5)),
    np.arange(10, dtype=np.int64)[::3],  # non-contiguous view
    np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
    np.array(["a", "bc", "déf"]),
    np.array([np.nan, -0.0, np.inf]),
    np.array([1, 2], dtype=[("lat", "f8"), ("n", "i4")]),
    np.array(["2024-01-01T00:00"], dtype="datetime64[s]"),
    np.zeros((0, 3), dtype=np.uint8),
    np.array(2.5),  # 0-d
]


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
def test_json_values_round_trip(tmp_path: Path, value: object) -> None:
    cache = make_l2(tmp_path)
    cache.set("k", value)
    got = cache.get("k", "MISSING")
    assert got == value or (isinstance(value, float) and np.isnan(value) and np.isnan(got))
    assert type(got) is type(value)


@pytest.mark.parametrize("array", ROUND_TRIP_ARRAYS, ids=lambda a: str(a.dtype))
def test_arrays_round_trip_bit_exact(tmp_path: Path, array: np.ndarray) -> None:
    cache = make_l2(tmp_path)
    cache.set("a", array)
    cache.set("t", {"arr": array, "list": [array, 1]})
    got = cache.get("a")
    assert _bits_equal(got, array)
    tree = cache.get("t")
    assert _bits_equal(tree["arr"], array) and _bits_equal(tree["list"][0], array)
    assert tree["list"][1] == 1


def test_csr_weights_round_trip_exactly(tmp_path: Path) -> None:
    """Spatial weights (a scipy CSR matrix) as a value and inside a tree, bit for bit."""
    weights = sparse.csr_matrix(
        (np.array([1.0, 0.5, 2.0]), np.array([2, 0, 1], dtype=np.int32), np.array([0, 1, 3, 3])),
        shape=(3, 4),
    )
    cache = make_l2(tmp_path)
    cache.set("w", weights)
    cache.set("t", {"w": weights, "n": 1})
    for got in (cache.get("w"), cache.get("t")["w"]):
        assert type(got) is sparse.csr_matrix and got.shape == (3, 4)
        for part in ("data", "indices", "indptr"):
            assert _bits_equal(getattr(got, part), getattr(weights, part))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2), "tuple"),
        (sparse.csr_array(np.eye(2)), "csr_array"),  # would come back a csr_matrix
        (sparse.coo_matrix(np.eye(2)), "coo_matrix"),
        ({"__csr_matrix__": [1]}, "reserved"),
        ({1: "a"}, "int key"),
        (np.int64(3), "item"),
        (np.array([object()], dtype=object), "object-dtype"),
        (np.ma.masked_array([1, 2]), "MaskedArray"),
        ({"x": {1, 2}}, "set"),
        ({"__ndarray__": 0}, "reserved"),
        (object(), "object"),
    ],
)
def test_unsupported_values_are_rejected_clearly(
    tmp_path: Path, value: object, message: str
) -> None:
    cache = make_l2(tmp_path)
    with pytest.raises(ParameterError, match=message):
        cache.set("k", value)
    assert len(cache) == 0


class _Boom:
    """Unpickling this would create a file: proof of code execution."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("kind", ["npy", "json", "tree", "pickle"])
def test_pickled_blob_is_never_unpickled(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "executed"
    blob = pickle.dumps(_Boom(str(marker)))
    cache = make_l2(tmp_path)
    cache.set("other", 1)
    with sqlite3.connect(cache.path) as conn:
        conn.execute(
            "INSERT INTO entries (key, kind, value, created, accessed) VALUES (?, ?, ?, ?, ?)",
            ("evil", kind, blob, cache.clock(), cache.clock()),
        )
    assert cache.get("evil", "MISS") == "MISS"
    assert not marker.exists()
    stats = cache.stats()
    assert stats.invalid == 1 and "evil" not in list(cache.keys())
    assert cache.get("other") == 1
    # Also at the codec level: a pickle is an error, never a value.
    with pytest.raises(ValueError):
        decode_value("npy", blob)
    assert not marker.exists()


def test_npy_with_pickled_object_payload_is_rejected() -> None:
    buffer = np.lib.format  # an .npy header declaring dtype object embeds a pickle
    import io

    stream = io.BytesIO()
    buffer.write_array(stream, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        decode_value("npy", stream.getvalue())
    kind, payload = encode_value(np.arange(3))
    with pytest.raises(ValueError):
        decode_value(kind, payload + b"junk")


# --- TTL and bound ------------------------------------------------------------------------


def test_ttl_expiry_with_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = make_l2(tmp_path, ttl_seconds=60, clock=clock)
    cache.set("a", 1)
    clock.now += 30
    cache.set("b", 2)
    clock.now += 29.999
    assert cache.get("a") == 1  # 59.999 s old: fresh (reading does not extend its life)
    clock.now += 0.001
    assert cache.get("a", "expired") == "expired"  # exactly 60 s: expired
    assert cache.get("b") == 2
    assert "a" not in list(cache.keys())  # the expired read deleted it
    assert cache.stats().expirations == 1
    clock.now += 30
    assert "b" not in cache  # expired, though still stored until purged or read
    assert cache.purge_expired() == 1 and len(cache) == 0
    cache.set("b", 3)  # rewriting restarts the TTL
    clock.now += 59
    assert cache.get("b") == 3


def test_no_ttl_never_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = make_l2(tmp_path, ttl_seconds=None, clock=clock)
    cache.set("a", [1])
    clock.now += 1e9
    assert cache.get("a") == [1] and cache.purge_expired() == 0


def test_size_bound_evicts_least_recently_accessed(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = make_l2(tmp_path, max_entries=3, clock=clock)
    for key in "abc":
        clock.now += 1
        cache.set(key, key)
    clock.now += 1
    assert cache.get("a") == "a"  # a is now the most recently accessed
    clock.now += 1
    cache.set("d", "d")
    assert cache.keys() == ["c", "a", "d"]
    assert cache.stats().evictions == 1 and len(cache) == 3
    clock.now += 1
    cache.set("c", "c2")  # overwrite is not growth
    assert len(cache) == 3 and cache.stats().evictions == 1


def test_persistence_across_instances(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_l2(tmp_path, clock=clock) as cache:
        cache.set("x", np.arange(4))
    reopened = make_l2(tmp_path, clock=clock)
    assert np.array_equal(reopened.get("x"), np.arange(4))
    assert reopened.stats().recoveries == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"ttl_seconds": float("nan")}, "ttl_seconds"),
        ({"max_entries": 0}, "max_entries"),
    ],
)
def test_bad_l2_parameters(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        make_l2(tmp_path, **kwargs)


# --- damaged files ------------------------------------------------------------------------


def _healthy_file(tmp_path: Path) -> Path:
    with make_l2(tmp_path, clock=FakeClock()) as cache:
        for i in range(300):
            cache.set(f"k{i}", {"payload": "x" * 1000, "i": i})
    return tmp_path / "cache.db"


def _truncate(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _zero(path: Path) -> None:
    path.write_bytes(b"\0" * path.stat().st_size)


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(5).bytes(path.stat().st_size))


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('alice')")
    conn.close()


def _mangle_pages(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(4096 * 3)
        fh.write(np.random.default_rng(6).bytes(4096 * 20))


def _text_file(path: Path) -> None:
    path.write_text("lat,lon\n1,2\n")


@pytest.mark.parametrize(
    "damage", [_truncate, _zero, _garbage, _foreign, _mangle_pages, _text_file]
)
def test_damaged_file_is_set_aside_and_rebuilt(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    path = _healthy_file(tmp_path)
    damage(path)
    original = path.read_bytes()
    cache = make_l2(tmp_path)  # must not raise
    assert cache.stats().recoveries == 1
    (aside,) = (p for p in tmp_path.glob("cache.db.corrupt-*") if not p.name.endswith("-wal"))
    assert aside.read_bytes() == original  # set aside untouched, for inspection
    assert len(cache) == 0
    cache.set("after", np.arange(3))
    assert np.array_equal(cache.get("after"), np.arange(3))
    assert make_l2(tmp_path).stats().recoveries == 0  # the rebuilt file is healthy


def test_empty_file_is_a_fresh_cache_not_damage(tmp_path: Path) -> None:
    (tmp_path / "cache.db").touch()
    cache = make_l2(tmp_path)
    cache.set("a", 1)
    assert cache.get("a") == 1 and cache.stats().recoveries == 0
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_database_error_during_use_sets_file_aside(tmp_path: Path) -> None:
    cache = make_l2(tmp_path)
    cache.set("a", 1)
    with sqlite3.connect(cache.path) as other:  # another program damages the schema
        other.execute("DROP TABLE entries")
    other.close()
    assert cache.get("a", "MISS") == "MISS"  # sqlite3 error -> checked -> set aside -> empty
    assert cache.stats().recoveries == 1
    assert len(list(tmp_path.glob("cache.db.corrupt-*"))) >= 1
    cache.set("b", 2)
    assert cache.get("b") == 2 and len(cache) == 1


def test_truncation_during_use_never_raises_and_is_caught_on_open(tmp_path: Path) -> None:
    cache = make_l2(tmp_path)
    for i in range(50):
        cache.set(f"k{i}", "x" * 2000)
    cache.close()  # checkpoint: the data now lives in the main file
    assert cache.get("k0") == "x" * 2000  # reopened, healthy
    with cache.path.open("r+b") as fh:
        fh.truncate(0)  # e.g. a cleanup script empties it under the open connection
    # SQLite may keep serving its cached pages: any answer is fine, an exception is not.
    assert cache.get("k1", "MISS") in ("MISS", "x" * 2000)
    for i in range(200):
        cache.set(f"n{i}", "y" * 2000)
    other = make_l2(tmp_path)  # a new opener (or process) validates the file
    assert other.stats().recoveries == 1
    other.set("fresh", 1)
    assert other.get("fresh") == 1


def test_garbage_written_during_use_never_raises(tmp_path: Path) -> None:
    """SQLite may serve pages it still caches; whatever it does, no operation may fail."""
    cache = make_l2(tmp_path)
    for i in range(50):
        cache.set(f"k{i}", "x" * 2000)
    cache.close()
    cache.get("k0")
    cache.path.write_bytes(np.random.default_rng(1).bytes(64 * 1024))
    for i in range(50):
        assert cache.get(f"k{i}", None) in (None, "x" * 2000)
    cache.set("new", 1)
    assert cache.get("new") == 1
    cache.close()
    reopened = make_l2(tmp_path)  # on open the damage is certainly caught
    assert reopened.get("k3", "MISS") in ("MISS", "x" * 2000)
    reopened.set("again", 2)
    assert reopened.get("again") == 2


# --- concurrency ----------------------------------------------------------------------------


def test_sqlite_threads_lose_no_write(tmp_path: Path) -> None:
    cache = make_l2(tmp_path, max_entries=100_000, ttl_seconds=None)
    n_threads, n_ops = 8, 10_000

    def worker(t: int) -> dict[str, object]:
        rng = random.Random(100 + t)
        model: dict[str, object] = {}
        for i in range(n_ops):
            key = f"{t}:{rng.randrange(200)}"
            op = rng.random()
            if op < 0.45:
                value: object = [t, i] if i % 2 else np.full(3, i, dtype=np.int32)
                cache.set(key, value)
                model[key] = value
            elif op < 0.9:
                got = cache.get(key, "MISS")
                want = model.get(key, "MISS")
                if isinstance(want, np.ndarray):
                    assert np.array_equal(got, want)
                else:
                    assert got == want
            else:
                assert cache.delete(key) == (model.pop(key, None) is not None)
        return model

    models = _run_threads(worker, n_threads)
    expected = {k: v for m in models for k, v in m.items()}
    stored = dict(cache.items())
    assert stored.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert _bits_equal(stored[key], value)
        else:
            assert stored[key] == value
    assert len(cache) == len(expected)
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _process_writer(
    path: str, worker: int, n: int, start: multiprocessing.synchronize.Event
) -> None:
    cache = SQLiteCache(path, ttl_seconds=None, max_entries=100_000)
    start.wait(30)
    for i in range(n):
        cache.set(f"w{worker}:{i}", {"worker": worker, "i": i, "arr": np.arange(i % 7)})
        cache.set(f"shared:{i % 20}", [worker, i])
        got = cache.get(f"w{worker}:{i // 2}")
        assert got["i"] == i // 2
    cache.close()


def test_two_processes_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SQLiteCache(path, ttl_seconds=None, max_entries=100_000).close()  # create the schema
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    n = 400
    procs = [ctx.Process(target=_process_writer, args=(path, w, n, start)) for w in (0, 1)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    cache = SQLiteCache(path, ttl_seconds=None, max_entries=100_000)
    for w in (0, 1):
        for i in range(n):
            got = cache.get(f"w{w}:{i}")
            assert got["worker"] == w and got["i"] == i
            assert np.array_equal(got["arr"], np.arange(i % 7))
    for j in range(20):
        worker, i = cache.get(f"shared:{j}")
        assert worker in (0, 1) and i % 20 == j
    assert len(cache) == 2 * n + 20
    assert cache.stats().recoveries == 0


# --- two levels and stage memoisation -------------------------------------------------------


def test_two_level_read_through_and_promotion(tmp_path: Path) -> None:
    l2 = make_l2(tmp_path)
    l2.set("warm", [1, 2])
    cache = TwoLevelCache(LRUCache(2), l2)
    assert cache.get("warm") == [1, 2]  # L2 hit, promoted
    assert "warm" in cache.l1
    assert cache.get("warm") == [1, 2]  # now an L1 hit
    assert cache.get("cold", "MISS") == "MISS"
    cache.set("new", 5)
    assert l2.get("new") == 5 and cache.l1.get("new") == 5
    s = cache.stats()
    assert (s.l1_hits, s.l2_hits, s.misses) == (1, 1, 1)
    assert s.hit_ratio == pytest.approx(2 / 3)
    with pytest.raises(ParameterError):
        cache.set("bad", (1, 2))
    assert "bad" not in cache.l1  # rejected before L1 could hold it
    assert cache.delete("new") and cache.get("new", None) is None


def test_cached_stage_memoises_by_content(tmp_path: Path) -> None:
    calls: list[int] = []
    cache = TwoLevelCache(LRUCache(8), make_l2(tmp_path))

    @cached_stage(cache, "scale:v1")
    def scale(values: np.ndarray, factor: float = 2.0) -> np.ndarray:
        calls.append(1)
        return values * factor

    x = np.arange(5.0)
    first = scale(x)
    assert np.array_equal(scale(x.copy()), first)  # equal content: a hit
    assert np.array_equal(scale(values=x, factor=2.0), first)  # same binding: a hit
    assert len(calls) == 1
    scale(x, 3.0)
    scale(x.astype(np.float32))  # same values, other dtype: a different key
    scale(x.reshape(5, 1))  # same bytes, other shape: a different key
    assert len(calls) == 4
    # A fresh L1 over the same file: the result comes back from disk.
    again = TwoLevelCache(LRUCache(8), make_l2(tmp_path))
    scale_again = cached_stage(again, "scale:v1")(scale.__wrapped__)
    assert np.array_equal(scale_again(x), first) and len(calls) == 4


@dataclasses.dataclass(frozen=True)
class _Table:
    lat: np.ndarray
    extra: dict[str, np.ndarray]


def test_input_digest_is_canonical_and_discriminating() -> None:
    a = np.arange(6, dtype=np.int64)
    assert input_digest({"b": 1, "a": [1.0, "x"]}) == input_digest({"a": [1.0, "x"], "b": 1})
    assert input_digest(a) == input_digest(a.copy())
    assert input_digest(a[::2]) == input_digest(np.ascontiguousarray(a[::2]))
    distinct = [
        input_digest(x)
        for x in (
            1,
            1.0,
            True,
            "1",
            [1],
            (1,),
            a,
            a.astype(np.float64),
            a.reshape(2, 3),
            ("ab", "c"),
            ("a", "bc"),
            _Table(a, {}),
            _Table(a, {"k": a}),
        )
    ]
    assert len(set(distinct)) == len(distinct)
    with pytest.raises(ParameterError, match="digest"):
        input_digest({1, 2})


def test_errors_share_the_package_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(GeoInferError):
        make_l2(tmp_path, max_entries=-1)
    with pytest.raises(ParameterError, match="keys are strings"):
        make_l2(tmp_path).set(5, 1)  # type: ignore[arg-type]
    assert os.path.exists(tmp_path / "cache.db")
