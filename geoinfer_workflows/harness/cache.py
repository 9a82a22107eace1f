"""Two-level cache for stage results: an in-memory LRU (L1) over a SQLite file (L2).

What the GEO-INFER benchmarking guide's `IntelligentCache` (the guide is the project's
brief, kept outside this repository) got wrong, and what this does instead:

- Its "LRU" evicted the first key ever *inserted* (``next(iter(dict))``), whatever had
  been read since. `LRUCache` is a true LRU: a read moves the key to the most recent end
  of an OrderedDict, eviction pops the least recent one; both O(1).
- Its L2 was a dict that never expired and never shrank. `SQLiteCache` is a file with a
  TTL (checked on every read and by `purge_expired`) and a bound on entries (evicting the
  least recently *accessed*).
- Persistent caches that unpickle what they find on disk execute whatever someone put
  there. Values here are stored without pickle: numpy arrays in `.npy` format (read with
  ``allow_pickle=False``), everything else as JSON, nested arrays inside JSON as `.npy`
  payloads. Unsupported values are rejected when *stored*, with a message that says what
  to do; an entry that does not decode is a miss (and is deleted), never executed.
- A cache file is disposable, so a damaged one must never stop a workflow: a truncated,
  zeroed, garbage or foreign file is detected on open (header, application id, schema
  version, ``PRAGMA quick_check``) and on any corruption error during use, renamed aside
  as ``<name>.corrupt-<timestamp>`` (with its -wal/-shm files) and rebuilt empty.

Concurrency: each object holds one SQLite connection guarded by a lock (SQLite serialises
writers anyway, so per-thread connections would buy little); processes sharing the file
coordinate through SQLite's own locking in WAL mode with a busy timeout. A connection is
never used across `fork`: a child process opens its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import io
import json
import logging
import math
import os
import sqlite3
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import numpy as np

from geoinfer_workflows.errors import ExitCode, GeoInferError, ParameterError
from geoinfer_workflows.validation import check_int

__all__ = [
    "CacheError",
    "CacheLike",
    "CacheStats",
    "LRUCache",
    "SQLiteCache",
    "TwoLevelCache",
    "TwoLevelStats",
    "cached_stage",
    "decode_value",
    "encode_value",
    "input_digest",
]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

_MISSING: Any = object()


class CacheError(GeoInferError):
    """The cache file cannot be used for a reason other than corruption (locked, no access).

    An environment problem, not bad input: a command it ends exits 3 ("cannot run").
    """

    exit_code = ExitCode.CANNOT_RUN


class _Busy(CacheError):
    """The file stayed locked by another connection for the whole busy timeout.

    `get` treats it as a miss and `set` drops the write (both with a warning): a cache that
    is unavailable for a moment must slow a workflow down, never stop it.
    """


class CacheLike(Protocol):
    """What `cached_stage` and `TwoLevelCache` need from a cache level."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class CacheStats:
    """Counters of one cache level since it was created (per object, not per file)."""

    hits: int
    misses: int
    evictions: int
    size: int
    maxsize: int
    expirations: int = 0
    invalid: int = 0  # entries that did not decode: counted as misses and deleted
    recoveries: int = 0  # damaged files set aside and rebuilt

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups; 0.0 before the first lookup (so it stays JSON-safe)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


# ---------------------------------------------------------------------------------------
# L1: in-memory LRU
# ---------------------------------------------------------------------------------------


class LRUCache(Generic[K, V]):
    """Bounded least-recently-used map; thread-safe; O(1) get, set and eviction.

    Values are stored by reference, not copied: a caller that mutates a returned array
    mutates the cached one. `in` and `keys()` neither count as lookups nor refresh recency.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = check_int(maxsize, "maxsize", 1)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(self, key: K, default: Any = None) -> V | Any:
        """The value (now most recently used), or `default` on a miss."""
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                self._misses += 1
                return default
            self._data.move_to_end(key)
            self._hits += 1
            return value

    def set(self, key: K, value: V) -> None:
        """Insert or replace as most recently used; evict the least recent beyond maxsize."""
        with self._lock:
            data = self._data
            if key in data:
                data.move_to_end(key)
            data[key] = value
            if len(data) > self.maxsize:
                data.popitem(last=False)
                self._evictions += 1

    def delete(self, key: K) -> bool:
        """Remove `key`; True if it was present."""
        with self._lock:
            return self._data.pop(key, _MISSING) is not _MISSING

    def clear(self) -> None:
        """Drop every entry (counters are kept)."""
        with self._lock:
            self._data.clear()

    def keys(self) -> list[K]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._evictions, len(self._data), self.maxsize
            )


# ---------------------------------------------------------------------------------------
# Value encoding: .npy for arrays, JSON for the rest, never pickle
# ---------------------------------------------------------------------------------------

_ARRAY_MARKER = "__ndarray__"
_TREE_HEADER = struct.Struct("<Q")  # length of the JSON document that precedes the arrays
# numpy parses .npy headers with ast.literal_eval, and CPython 3.11's AST constructor keeps
# its recursion depth in state shared by threads: concurrent parses fail at random with
# "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905, seen here
# on 3.11.7 with 8 threads). Header parsing is microseconds, so one lock costs nothing.
_NPY_READ_LOCK = threading.Lock()


def _check_array(value: np.ndarray, where: str) -> None:
    if type(value) is not np.ndarray:
        raise ParameterError(
            f"cannot cache {type(value).__name__} at {where}: only plain numpy arrays are "
            "stored (np.asarray() it, or keep its parts separately)"
        )
    if value.dtype.hasobject:
        raise ParameterError(
            f"cannot cache an object-dtype array at {where}: it would need pickle; "
            "convert it to a numeric, string or structured dtype"
        )


_MAX_DEPTH = 100  # nesting of lists and dicts in a cached value
_MAX_INT_BITS = 14_000  # ~4,200 digits: below Python's int <-> str limit (4,300 digits)


def _check_text(text: str, where: str) -> None:
    """A str that has a UTF-8 form: an unpaired surrogate ('\ud800') has none."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParameterError(
                f"cannot cache text with the unpaired surrogate {text[exc.start]!r} at {where}: "
                "it has no UTF-8 form (was it decoded with errors='surrogateescape'?)"
            ) from None


def _to_jsonable(value: Any, arrays: list[np.ndarray], where: str, depth: int = 0) -> Any:
    """Validate `value` for an exact JSON round trip; arrays become index markers.

    Depth is bounded, which also catches a list or dict that contains itself, so a value
    the decoder could not read back (or a cycle) is a ParameterError, not a RecursionError.
    """
    if depth > _MAX_DEPTH:
        raise ParameterError(
            f"cannot cache a value nested more than {_MAX_DEPTH} levels deep (at {where[:80]}"
            "...); does a list or dict contain itself?"
        )
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        _check_text(value, where)
        return value
    if isinstance(value, int) and type(value) is int:
        if value.bit_length() > _MAX_INT_BITS:
            raise ParameterError(
                f"cannot cache an int of {value.bit_length()} bits at {where}: JSON stores "
                f"ints as text, limited to {_MAX_INT_BITS} bits; store it as a str or array"
            )
        return value
    if isinstance(value, float):  # includes np.float64, which is a float subclass
        return float(value)
    if isinstance(value, np.ndarray):
        _check_array(value, where)
        arrays.append(value)
        return {_ARRAY_MARKER: len(arrays) - 1}
    if isinstance(value, list):
        return [_to_jsonable(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(
                    f"cannot cache a dict with a {type(k).__name__} key at {where}: JSON keys "
                    "are strings, so it would come back different; use string keys"
                )
            if k == _ARRAY_MARKER:
                raise ParameterError(f"the key {_ARRAY_MARKER!r} is reserved (at {where})")
            _check_text(k, f"a key of {where}")
            out[k] = _to_jsonable(v, arrays, f"{where}[{k!r}]", depth + 1)
        return out
    if isinstance(value, tuple):
        raise ParameterError(
            f"cannot cache a tuple at {where}: JSON would return it as a list; "
            "return a list or a dict from the cached stage"
        )
    if isinstance(value, np.generic):
        raise ParameterError(
            f"cannot cache numpy scalar {type(value).__name__} at {where}: "
            "convert it with .item() (or keep it in an array)"
        )
    raise ParameterError(
        f"cannot cache a value of type {type(value).__name__} at {where}: supported are "
        "numpy arrays, and None/bool/int/float/str in lists and str-keyed dicts (no pickle)"
    )


_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_npy_size(stream: io.BytesIO, size: int) -> None:
    """Refuse an .npy whose header declares more data than the payload holds.

    WHY: numpy allocates what the header declares before reading; a crafted header
    (shape (2**45,)) would raise MemoryError on every lookup instead of being a miss.
    """
    start = stream.tell()
    version = np.lib.format.read_magic(stream)
    if version not in _NPY_HEADER_READERS:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, _, dtype = _NPY_HEADER_READERS[version](stream)
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise ValueError(f"invalid .npy shape {shape}")
    declared = math.prod(shape) * dtype.itemsize
    if declared > size - stream.tell():
        raise ValueError(f"the .npy header declares {declared} bytes, the entry holds fewer")
    stream.seek(start)


def _read_npy(stream: io.BytesIO, size: int) -> np.ndarray:
    with _NPY_READ_LOCK:
        _check_npy_size(stream, size)
        return np.lib.format.read_array(stream, allow_pickle=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    if (data[6], data[7]) not in _NPY_HEADER_READERS:  # 3.0: field names beyond latin-1
        raise ParameterError(
            "cannot cache an array whose dtype field names are not latin-1; rename the fields"
        )
    return data


def encode_value(value: Any) -> tuple[str, bytes]:
    """(kind, payload) for storage; raises ParameterError for what cannot round-trip."""
    if isinstance(value, np.ndarray):
        _check_array(value, "top level")
        return "npy", _npy_bytes(value)
    arrays: list[np.ndarray] = []
    doc = _to_jsonable(value, arrays, "top level")
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if not arrays:
        return "json", text
    parts = [_TREE_HEADER.pack(len(text)), text, *(_npy_bytes(a) for a in arrays)]
    return "tree", b"".join(parts)


def _restore_arrays(doc: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(doc, list):
        return [_restore_arrays(v, arrays) for v in doc]
    if isinstance(doc, dict):
        if len(doc) == 1 and _ARRAY_MARKER in doc:
            return arrays[doc[_ARRAY_MARKER]]
        return {k: _restore_arrays(v, arrays) for k, v in doc.items()}
    return doc


def decode_value(kind: str, payload: bytes) -> Any:
    """Inverse of `encode_value`. Never unpickles: `.npy` is read with allow_pickle=False.

    Raises ValueError for anything that is not a payload this module wrote, including
    payloads crafted to exhaust memory or the stack (checked sizes, a depth limit).
    """
    try:
        return _decode(kind, payload)
    except (RecursionError, OverflowError) as exc:
        raise ValueError(f"undecodable {kind} payload: {type(exc).__name__}") from None


def _decode(kind: str, payload: bytes) -> Any:
    if kind == "json":
        return json.loads(payload.decode("utf-8"))
    if kind == "npy":
        stream = io.BytesIO(payload)
        array = _read_npy(stream, len(payload))
        if stream.tell() != len(payload):
            raise ValueError("trailing bytes after the array")
        return array
    if kind == "tree":
        (n,) = _TREE_HEADER.unpack_from(payload)
        if n > len(payload) - _TREE_HEADER.size:
            raise ValueError(f"tree length prefix {n} is beyond the entry's {len(payload)} bytes")
        doc = json.loads(payload[_TREE_HEADER.size : _TREE_HEADER.size + n].decode("utf-8"))
        stream = io.BytesIO(payload)
        stream.seek(_TREE_HEADER.size + n)
        arrays = []
        while stream.tell() < len(payload):
            arrays.append(_read_npy(stream, len(payload)))
        return _restore_arrays(doc, arrays)
    raise ValueError(f"unknown payload kind {kind!r}")


# ---------------------------------------------------------------------------------------
# L2: SQLite file
# ---------------------------------------------------------------------------------------

_APPLICATION_ID = 0x47494E46  # "GINF": tells our cache files from any other SQLite file
_SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_CORRUPTION_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_DECODE_ERRORS = (ValueError, OSError, EOFError, KeyError, IndexError, TypeError, struct.error)

_SCHEMA = (
    "CREATE TABLE entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value BLOB NOT NULL, "
    "created REAL NOT NULL, accessed REAL NOT NULL)",
    "CREATE INDEX entries_by_access ON entries (accessed)",
    "CREATE INDEX entries_by_creation ON entries (created)",
    # The entry count, maintained in the writing transaction itself: O(1) to read, exact
    # across processes (count(*) would scan the table on every write).
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO meta VALUES ('count', 0)",
    "CREATE TRIGGER entries_count_up AFTER INSERT ON entries "
    "BEGIN UPDATE meta SET value = value + 1 WHERE name = 'count'; END",
    "CREATE TRIGGER entries_count_down AFTER DELETE ON entries "
    "BEGIN UPDATE meta SET value = value - 1 WHERE name = 'count'; END",
    f"PRAGMA application_id = {_APPLICATION_ID}",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)
_EXPECTED_TABLES = frozenset({"entries", "meta"})


class _Damaged(Exception):
    """Internal: the file is not a healthy cache of ours (reason in the message)."""


def _error_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_key(key: object) -> None:
    """Keys are str with a UTF-8 form (SQLite stores text as UTF-8)."""
    if not isinstance(key, str):
        raise ParameterError(f"cache keys are strings, got {type(key).__name__}")
    if not key.isascii() and not _encodable(key):
        raise ParameterError(f"cache key {key[:40]!r} has an unpaired surrogate: no UTF-8 form")


class SQLiteCache:
    """Persistent key -> value store with TTL and an entry bound, in one SQLite file.

    `ttl_seconds` (None = never expire) is measured with `clock` (injectable, so tests
    need no sleeps); `max_entries` bounds the file, evicting the least recently accessed
    entries. Entry count is kept by triggers in the same transaction as each write, so
    the bound is exact across processes and costs O(1) per write. Opening validates the
    file with ``PRAGMA quick_check``, which reads it once: O(file size), once per process.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl_seconds: float | None,
        max_entries: int,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
    ) -> None:
        if ttl_seconds is not None and not (
            isinstance(ttl_seconds, int | float) and math.isfinite(ttl_seconds) and ttl_seconds > 0
        ):
            raise ParameterError(
                f"ttl_seconds must be a positive number or None, got {ttl_seconds!r}"
            )
        if not busy_timeout_s >= 0:
            raise ParameterError(f"busy_timeout_s must be >= 0, got {busy_timeout_s!r}")
        self.path = Path(path)
        self.ttl_seconds = None if ttl_seconds is None else float(ttl_seconds)
        self.max_entries = check_int(max_entries, "max_entries", 1)
        self.clock = clock
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._hits = self._misses = self._evictions = 0
        self._expirations = self._invalid = self._recoveries = 0
        with self._lock:
            try:
                self._connection()
            except _Busy as exc:  # opened (and validated) again on first use
                log.warning("%s; continuing without it for now", exc)

    # -- opening, validation and recovery ---------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """The open connection; (re)opened after fork or recovery."""
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited through fork must not be used (or closed) in the child.
        self._conn = None
        try:
            self._conn = self._open_validated()
        except _Damaged as exc:
            self._set_aside(str(exc))
            try:
                self._conn = self._open_validated()
            except _Damaged as again:  # pragma: no cover - a fresh file must validate
                raise CacheError(f"cannot rebuild cache file {self.path}: {again}") from again
        self._pid = os.getpid()
        return self._conn

    def _create_private(self) -> None:
        """Create the folder and an empty file readable by its owner only (0600).

        SQLite gives its -wal and -shm files the mode of the database file, so cached
        values (workflow outputs) are never readable by other users.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise CacheError(f"cannot create cache file {self.path}: {exc}") from exc
        os.close(fd)

    def _open_validated(self) -> sqlite3.Connection:
        self._check_header()
        self._create_private()
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # guarded by self._lock instead
            )
        except sqlite3.Error as exc:
            raise CacheError(f"cannot open cache file {self.path}: {exc}") from exc
        try:
            self._prepare(conn)
        except _Damaged:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _error_code(exc) in _BUSY_CODES:
                raise _Busy(
                    f"cache file {self.path} stayed locked for {self.busy_timeout_s} s: {exc}"
                ) from exc
            raise _Damaged(f"{type(exc).__name__}: {exc}") from exc
        return conn

    def _check_header(self) -> None:
        """Reject a non-SQLite file before SQLite sees it (zeroed, garbage, truncated)."""
        try:
            with self.path.open("rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CacheError(f"cannot read cache file {self.path}: {exc}") from exc
        if head and head != _SQLITE_HEADER:
            raise _Damaged("not an SQLite file (bad header)")
        if not head and any(Path(f"{self.path}{s}").exists() for s in ("-wal", "-shm")):
            # An empty file is fresh only before its first use, which writes the header
            # before any -wal/-shm exists. With them, the file was emptied under a live
            # connection, whose locks would block this opener for the whole busy timeout.
            raise _Damaged("emptied while in use (0 bytes beside its -wal/-shm files)")

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Validate before writing anything, so a foreign file is set aside untouched."""
        if self._is_fresh(conn):
            conn.execute("PRAGMA journal_mode=WAL")  # cannot change inside a transaction
            conn.execute("BEGIN IMMEDIATE")  # one process at a time creates the schema
            try:
                if self._is_fresh(conn):
                    for statement in _SCHEMA:  # not executescript: it would commit first
                        conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._validate(conn)
        conn.execute("PRAGMA journal_mode=WAL")  # a no-op unless someone switched it off
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: safe against app crashes

    @staticmethod
    def _is_fresh(conn: sqlite3.Connection) -> bool:
        """An empty database: no tables and no application id (a new or 0-byte file)."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        has_tables = conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return app_id == 0 and not has_tables

    @staticmethod
    def _validate(conn: sqlite3.Connection) -> None:
        """Ours (application id), our schema version, and structurally sound (quick_check)."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != _APPLICATION_ID:
            raise _Damaged(f"foreign SQLite file (application_id {app_id:#x})")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if version != _SCHEMA_VERSION or not _EXPECTED_TABLES.issubset(tables):
            raise _Damaged(f"unexpected schema (version {version}, tables {sorted(tables)})")
        check = conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise _Damaged(f"quick_check failed: {check[:3]}")

    def _set_aside(self, reason: str) -> None:
        """Rename the damaged file (and its WAL/SHM companions) so a new one can be built."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            try:
                source.rename(f"{target}{suffix}")
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CacheError(f"cannot move damaged cache file {source} aside: {exc}") from exc
        self._recoveries += 1
        log.warning("cache file %s was damaged (%s); moved to %s", self.path, reason, target)

    def _recover(self, reason: str) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):  # closing a damaged handle
                conn.close()
        self._set_aside(reason)
        self._connection()

    def _is_damaged(self) -> bool:
        """After an unexpected error: is the file still a healthy cache of ours?"""
        try:
            conn = self._open_validated()
        except _Damaged:
            return True
        conn.close()
        return False

    def _run(self, operation: Callable[[sqlite3.Connection], V]) -> V:
        """Run `operation` under the lock; on corruption, rebuild and retry once."""
        with self._lock:
            try:
                return operation(self._connection())
            except sqlite3.DatabaseError as exc:
                code = _error_code(exc)
                if code in _BUSY_CODES:
                    raise _Busy(
                        f"cache file {self.path} stayed locked for {self.busy_timeout_s} s: {exc}"
                    ) from exc
                if code not in _CORRUPTION_CODES and not self._is_damaged():
                    raise CacheError(f"cache operation on {self.path} failed: {exc}") from exc
                self._recover(f"{type(exc).__name__}: {exc}")
            return operation(self._connection())

    # -- the cache interface ------------------------------------------------------------

    def _window(self, now: float) -> tuple[float, float]:
        """(after, until): entries created in (after, until] are valid at `now`.

        An entry created after `now` was written by a clock running ahead: it is treated
        as expired, since its age (and so its TTL) cannot be known. Without a TTL nothing
        expires.
        """
        if self.ttl_seconds is None:
            return -math.inf, math.inf
        return now - self.ttl_seconds, now

    def get(self, key: str, default: Any = None) -> Any:
        """The value, refreshing its access time; `default` if missing, expired or invalid.

        A cache file locked by another program for the whole busy timeout is a miss.
        """
        _check_key(key)
        now = self.clock()
        after, until = self._window(now)

        def lookup(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
            return conn.execute(
                "UPDATE entries SET accessed = ? WHERE key = ? AND created > ? AND created <= ? "
                "RETURNING kind, value",
                (now, key, after, until),
            ).fetchall()  # fetchall ends the statement, so autocommit commits it

        try:
            rows = self._run(lookup)
        except _Busy as exc:
            log.warning("%s; lookup of %r counted as a miss", exc, key)
            with self._lock:
                self._misses += 1
            return default
        if rows:
            kind, payload = rows[0]
            try:
                value = decode_value(kind, payload)
            except _DECODE_ERRORS as exc:
                log.warning(
                    "cache entry %r in %s does not decode (%s); dropped", key, self.path, exc
                )
                self._run(lambda c: c.execute("DELETE FROM entries WHERE key = ?", (key,)))
                with self._lock:
                    self._invalid += 1
                    self._misses += 1
                return default
            with self._lock:
                self._hits += 1
            return value
        expired = 0
        if self.ttl_seconds is not None:
            expired = self._run(
                lambda c: (
                    c.execute(
                        "DELETE FROM entries WHERE key = ? AND (created <= ? OR created > ?)",
                        (key, after, until),
                    ).rowcount
                )
            )
        with self._lock:
            self._misses += 1
            self._expirations += expired
        return default

    def set(self, key: str, value: Any) -> None:
        """Store atomically (one transaction), then evict beyond `max_entries`.

        The timestamp is read inside the write lock, so writes are stamped in the order
        they happen, and the entry just written is never the one evicted. A file locked by
        another program for the whole busy timeout drops the write (with a warning).
        """
        _check_key(key)
        kind, payload = encode_value(value)

        def write(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock()
                conn.execute(
                    "INSERT INTO entries (key, kind, value, created, accessed) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "kind = excluded.kind, value = excluded.value, "
                    "created = excluded.created, accessed = excluded.accessed",
                    (key, kind, payload, now, now),
                )
                (count,) = conn.execute("SELECT value FROM meta WHERE name = 'count'").fetchone()
                excess = count - self.max_entries
                if excess > 0:
                    conn.execute(
                        "DELETE FROM entries WHERE key IN (SELECT key FROM entries "
                        "WHERE key != ? ORDER BY accessed, rowid LIMIT ?)",
                        (key, excess),
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return max(excess, 0)

        try:
            evicted = self._run(write)
        except _Busy as exc:
            log.warning("%s; the write of %r was dropped", exc, key)
            return
        if evicted:
            with self._lock:
                self._evictions += evicted

    def delete(self, key: str) -> bool:
        """Remove `key`; True if it was present."""
        _check_key(key)
        return self._run(
            lambda c: c.execute("DELETE FROM entries WHERE key = ?", (key,)).rowcount > 0
        )

    def __contains__(self, key: object) -> bool:
        """Present and not expired; does not refresh access time or count as a lookup."""
        if not isinstance(key, str) or not _encodable(key):
            return False
        after, until = self._window(self.clock())
        return bool(
            self._run(
                lambda c: c.execute(
                    "SELECT 1 FROM entries WHERE key = ? AND created > ? AND created <= ?",
                    (key, after, until),
                ).fetchall()
            )
        )

    def purge_expired(self) -> int:
        """Delete every expired entry now; returns how many."""
        if self.ttl_seconds is None:
            return 0
        after, until = self._window(self.clock())
        n = self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM entries WHERE created <= ? OR created > ?", (after, until)
                ).rowcount
            )
        )
        with self._lock:
            self._expirations += n
        return n

    def keys(self) -> list[str]:
        """All stored keys (expired ones included until purged), least recently accessed first."""
        rows = self._run(
            lambda c: c.execute("SELECT key FROM entries ORDER BY accessed, rowid").fetchall()
        )
        return [row[0] for row in rows]

    def items(self) -> Iterator[tuple[str, Any]]:
        """(key, value) of every decodable entry, without touching access times."""
        rows = self._run(lambda c: c.execute("SELECT key, kind, value FROM entries").fetchall())
        for key, kind, payload in rows:
            try:
                yield key, decode_value(kind, payload)
            except _DECODE_ERRORS:
                continue

    def clear(self) -> None:
        self._run(lambda c: c.execute("DELETE FROM entries"))

    def __len__(self) -> int:
        """Stored entries, expired ones included until read or purged (O(1), trigger-kept)."""
        return int(
            self._run(
                lambda c: c.execute("SELECT value FROM meta WHERE name = 'count'").fetchone()[0]
            )
        )

    def stats(self) -> CacheStats:
        size = len(self)
        with self._lock:
            return CacheStats(
                self._hits,
                self._misses,
                self._evictions,
                size,
                self.max_entries,
                self._expirations,
                self._invalid,
                self._recoveries,
            )

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# L1 over L2
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoLevelStats:
    """Hits per level and misses of both; `hit_ratio` is over all lookups."""

    l1_hits: int
    l2_hits: int
    misses: int
    l1: CacheStats
    l2: CacheStats

    @property
    def hit_ratio(self) -> float:
        lookups = self.l1_hits + self.l2_hits + self.misses
        return (self.l1_hits + self.l2_hits) / lookups if lookups else 0.0


class TwoLevelCache:
    """Read-through L1 then L2, promoting L2 hits into L1; writes go to both.

    A write goes to L2 first, so a value L2 cannot store (an unsupported type) is rejected
    before L1 holds something the persistent level does not.
    """

    def __init__(self, l1: LRUCache[str, Any], l2: SQLiteCache) -> None:
        self.l1 = l1
        self.l2 = l2
        self._lock = threading.Lock()
        self._l1_hits = self._l2_hits = self._misses = 0

    def get(self, key: str, default: Any = None) -> Any:
        value = self.l1.get(key, _MISSING)
        if value is not _MISSING:
            with self._lock:
                self._l1_hits += 1
            return value
        value = self.l2.get(key, _MISSING)
        if value is not _MISSING:
            self.l1.set(key, value)
            with self._lock:
                self._l2_hits += 1
            return value
        with self._lock:
            self._misses += 1
        return default

    def set(self, key: str, value: Any) -> None:
        self.l2.set(key, value)
        self.l1.set(key, value)

    def delete(self, key: str) -> bool:
        in_l1 = self.l1.delete(key)
        in_l2 = self.l2.delete(key)
        return in_l1 or in_l2

    def clear(self) -> None:
        self.l1.clear()
        self.l2.clear()

    def stats(self) -> TwoLevelStats:
        with self._lock:
            counts = (self._l1_hits, self._l2_hits, self._misses)
        return TwoLevelStats(*counts, l1=self.l1.stats(), l2=self.l2.stats())


# ---------------------------------------------------------------------------------------
# Stage memoisation
# ---------------------------------------------------------------------------------------


def _feed(h: Any, obj: Any) -> None:
    """Feed a canonical, type-tagged, length-prefixed encoding of `obj` into hash `h`.

    Tags and lengths make the encoding unambiguous: ("ab", "c") and ("a", "bc"), 1 and
    1.0 and True, an int64 and a float64 array of the same bytes all digest differently.
    """
    if obj is None or isinstance(obj, bool | int | float | str):
        text = json.dumps(obj)  # canonical JSON for scalars
        h.update(f"{type(obj).__name__}:{len(text)}:{text}".encode())
    elif isinstance(obj, np.ndarray | np.generic):
        array = np.ascontiguousarray(obj)
        if array.dtype.hasobject:
            raise ParameterError("cannot digest an object-dtype array; convert it first")
        h.update(f"ndarray:{array.dtype.str}:{array.shape}:".encode())
        h.update(memoryview(array).cast("B"))
    elif isinstance(obj, bytes):
        h.update(f"bytes:{len(obj)}:".encode())
        h.update(obj)
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__}:{len(obj)}:".encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, dict):
        h.update(f"dict:{len(obj)}:".encode())
        for key in sorted(obj, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, key)
            _feed(h, obj[key])
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = dataclasses.fields(obj)
        h.update(f"dataclass:{type(obj).__qualname__}:{len(fields)}:".encode())
        for f in fields:
            _feed(h, f.name)
            _feed(h, getattr(obj, f.name))
    else:
        raise ParameterError(
            f"cannot digest an input of type {type(obj).__name__} for a cache key: supported "
            "are numpy arrays, scalars, str, bytes, lists, tuples, dicts and dataclasses"
        )


def input_digest(*parts: Any) -> str:
    """Hex blake2b digest of `parts` (arrays by dtype, shape and bytes; the rest canonically)."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


def cached_stage(cache: CacheLike, stage_name: str) -> Callable[[F], F]:
    """Memoise a stage: key = stage name + digest of its bound arguments (defaults applied).

    Binding first means ``f(x)``, ``f(x=x)`` and ``f(x, k=<default>)`` share one entry.
    Change `stage_name` (e.g. add a version) when the stage's code changes meaning.
    """
    if not isinstance(stage_name, str) or not stage_name:
        raise ParameterError(f"stage_name must be a non-empty string, got {stage_name!r}")

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            key = f"{stage_name}:{input_digest(dict(bound.arguments))}"
            value = cache.get(key, _MISSING)
            if value is not _MISSING:
                return value
            value = fn(*args, **kwargs)
            cache.set(key, value)
            return value

        return wrapper  # type: ignore[return-value]

    return decorate
