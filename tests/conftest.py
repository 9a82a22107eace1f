"""Shared fixtures and the one check of the machine's prerequisites.

`require(name, ...)`: a test (or a whole module, called at its top) that needs something
the machine provides (valgrind, Chromium, asv, ...) is skipped with the reason and the
install command locally, and fails in CI (GEOINFER_CI=1, set by .ci/run), where a
missing prerequisite must never pass as a skip. The fast loop,
`pytest -m "not e2e and not slow"`, needs only the runtime dependencies, pytest and
hypothesis: everything else is behind `require`.

Session fixtures replace module-level state: `asv_env_dir` (one folder of asv
virtualenvs, built once and shared by every test that runs asv) and `planted_history`
(tests/asv_helpers.py: a history measured, published and made offline once).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

CI = os.environ.get("GEOINFER_CI") == "1"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _importable(*modules: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in modules)


def _clear_refs_writable() -> bool:
    from benchmarks import rss_growth

    return rss_growth.supported()


def _postgis_reachable() -> bool:
    """psycopg installed and the server of GEOINFER_PG_DSN answering."""
    dsn = os.environ.get("GEOINFER_PG_DSN", "")
    if not dsn or not _importable("psycopg"):
        return False
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


# name -> (is it there?, what to install or why it is missing)
PREREQUISITES: dict[str, tuple[Callable[[], bool], str]] = {
    "asv": (
        lambda: _importable("asv", "asv_runner"),
        "asv is not installed: pip install -e '.[test]'",
    ),
    "virtualenv": (
        lambda: _importable("virtualenv"),
        "virtualenv (asv's environments) is not installed: pip install -e '.[test]'",
    ),
    "valgrind": (
        lambda: shutil.which("valgrind") is not None,
        "valgrind is not installed: apt-get install valgrind",
    ),
    "chromium": (
        lambda: (
            Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file() and _importable("selenium")
        ),
        f"{CHROMIUM}, {CHROMEDRIVER} and selenium are needed: apt-get install chromium "
        "chromium-driver; pip install -e '.[test]'",
    ),
    "postgis": (
        _postgis_reachable,
        "no PostgreSQL + PostGIS server: pip install -e '.[store]', then point "
        'GEOINFER_PG_DSN at a server or start one with eval "$(scripts/start-postgis --env)"',
    ),
    "clear_refs": (
        _clear_refs_writable,
        "the peak-RSS mark cannot be reset here (Linux >= 4.0, writable /proc/self/clear_refs)",
    ),
}


def require(*names: str) -> None:
    """Skip (locally) or fail (CI) unless every named prerequisite is there. Works in a
    test, a fixture, or at the top of a module, before its imports that need it."""
    __tracebackhide__ = True  # reports point at the caller
    missing = [PREREQUISITES[name][1] for name in names if not PREREQUISITES[name][0]()]
    if not missing:
        return
    reason = "; ".join(missing)
    if CI:
        pytest.fail(f"CI needs this: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


class FakeClock:
    """A clock that moves only when a test sets `now` (expiry, clocks ahead or behind)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sqlite_cache(path: Path, **options: object):
    """A SQLiteCache at `path` on a FakeClock, with one-hour entries and room for 1,000
    unless `options` say otherwise."""
    from geoinfer_workflows.orchestration.cache import SQLiteCache

    defaults: dict[str, object] = {"ttl_seconds": 3600, "max_entries": 1000, "clock": FakeClock()}
    return SQLiteCache(path, **{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def asv_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One asv environment folder per session: a virtualenv of this config is built once
    and reused by every test that runs asv."""
    require("asv", "virtualenv")
    return tmp_path_factory.mktemp("asv-env")


@pytest.fixture(scope="session")
def planted_history(tmp_path_factory: pytest.TempPathFactory, asv_env_dir: Path):
    """The planted history, measured on two machines, published and made offline: built
    on first use, then shared by every test of the session."""
    from asv_helpers import build_history

    return build_history(tmp_path_factory.mktemp("history"), asv_env_dir)
