"""L2: a persistent cache in one SQLite file, with a TTL and a bound on entries.

The guide's L2 was a dict that never expired and never shrank. This is a file with a TTL
(checked on every read and by `purge_expired`) and a bound on entries (evicting the least
recently *accessed*); values go through `codec` (no pickle).

A cache file is disposable, so a damaged one must never stop a workflow: a truncated,
zeroed, garbage or foreign file is detected on open (header, application id, schema
version, ``PRAGMA quick_check``) and on any corruption error during use, renamed aside as
``<name>.corrupt-<timestamp>`` (with its -wal/-shm files) and rebuilt empty.

Concurrency: each object holds one SQLite connection guarded by a lock (SQLite serialises
writers anyway, so per-thread connections would buy little); processes sharing the file
coordinate through SQLite's own locking in WAL mode with a busy timeout. A connection is
never used across `fork`: a child process opens its own.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.orchestration.cache.base import CacheError, CacheStats
from geoinfer_workflows.orchestration.cache.codec import decode_value, encode_value
from geoinfer_workflows.validation import check_int

__all__ = ["SQLiteCache"]

log = logging.getLogger(__name__)

V = TypeVar("V")


class _Busy(CacheError):
    """The file stayed locked by another connection for the whole busy timeout.

    `get` treats it as a miss and `set` drops the write (both with a warning): a cache that
    is unavailable for a moment must slow a workflow down, never stop it.
    """


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

    def __exit__(self, *exc_info: object) -> None:
        """Close on leaving a ``with`` block, whatever ended it."""
        self.close()
