"""Executors: one `map` for serial, thread and process execution, and the seam for more.

Why an abstraction and not `concurrent.futures` directly: the workflows' parallel stages
(per-station trends, per-chunk aggregation) should not care *where* their chunks run. They
call `ex.map(fn, items)` and get the results back in input order; the caller picks the
engine, and a benchmark can compare engines on the same stage.

Choosing an engine:

- ``serial``: no pool at all. The right default for small inputs, where a pool's start-up
  and task hand-off cost more than the work.
- ``threads``: numpy releases the GIL inside most array kernels, so vectorised chunks
  really overlap on threads, with no pickling and no process start-up.
- ``processes``: for pure-Python chunk work that holds the GIL. `fn`, the items and the
  results are pickled across the process boundary, so `fn` must be a module-level
  function (not a lambda or closure); this is checked up front with a clear error.

Start method for processes: ``fork`` is fastest (no re-import in the child) and is used
when it is safe. Forking a process that is already running other threads can deadlock
the child (a lock held by another thread at fork time is never released), so when more
than one thread is alive ``forkserver`` is used instead (and ``spawn`` where forkserver
does not exist). Pass `start_method` to force a choice.

The distributed engine: a whole workflow, not a `map`, runs on Dask (the partitions and
their merges live in `geoinfer_workflows.distributed`); this module chooses it
(`resolve_engine`: argument, else GEOINFER_ENGINE / GEOINFER_SCHEDULER, else serial) and
connects to it (`dask_client`: a LocalCluster, or a running scheduler by address).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor as _FuturesExecutor
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar, runtime_checkable

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import check_int

__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "SCHEDULER_ENV",
    "EngineKind",
    "Executor",
    "ExecutorKind",
    "PoolExecutor",
    "SerialExecutor",
    "apply_chunk",
    "available_cpus",
    "dask_client",
    "default_chunk_size",
    "make_executor",
    "map_row_blocks",
    "resolve_engine",
    "split_chunks",
]

T = TypeVar("T")
R = TypeVar("R")

ExecutorKind = Literal["serial", "threads", "processes"]
_KINDS: tuple[str, ...] = ("serial", "threads", "processes")
_START_METHODS = frozenset(multiprocessing.get_all_start_methods())
# Several tasks per worker so one slow chunk does not leave the other workers idle.
_TASKS_PER_WORKER = 4


@runtime_checkable
class Executor(Protocol):
    """What a parallel stage needs from an engine: ordered `map` and a clean shutdown."""

    kind: str
    workers: int

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, chunk_size: int | None = None
    ) -> list[R]:
        """Apply `fn` to every item; results in input order; the first error propagates."""
        ...

    def close(self) -> None:
        """Release workers; `map` after `close` is an error."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware, so a pinned container is not overcounted)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def split_chunks(items: Sequence[T], chunk_size: int) -> list[Sequence[T]]:
    """Consecutive slices of `items`, so a task carries many items and order is recoverable."""
    return [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]


def apply_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """Run `fn` over one chunk; module-level so process pools can pickle it."""
    return [fn(item) for item in chunk]


def default_chunk_size(n_items: int, workers: int) -> int:
    """About `_TASKS_PER_WORKER` tasks per worker: balances load without per-item hand-off."""
    return max(1, math.ceil(n_items / (workers * _TASKS_PER_WORKER)))


def _check_chunk_size(chunk_size: int | None) -> None:
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", 1, note="or None: automatic")


class _ClosingExecutor(AbstractContextManager["_ClosingExecutor"]):
    """``with`` support for every engine: leaving the block calls `close` (once, here)."""

    def close(self) -> None:
        raise NotImplementedError

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SerialExecutor(_ClosingExecutor):
    """Runs everything in the calling thread: the zero-overhead baseline engine."""

    kind = "serial"

    def __init__(self) -> None:
        self.workers = 1
        self._closed = False

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, chunk_size: int | None = None
    ) -> list[R]:
        """Apply `fn` in order; `chunk_size` is accepted (and checked) for interface parity."""
        _check_chunk_size(chunk_size)
        if self._closed:
            raise ParameterError("executor is closed; create a new one with make_executor()")
        return [fn(item) for item in items]

    def close(self) -> None:
        self._closed = True


class PoolExecutor(_ClosingExecutor):
    """A thread or process pool behind the `Executor` interface.

    The pool starts lazily on the first non-empty `map`, so creating an executor that ends
    up mapping nothing (an empty stage) costs nothing, and it is reused by later `map`
    calls inside the same ``with`` block.
    """

    def __init__(
        self,
        kind: Literal["threads", "processes"],
        workers: int,
        *,
        start_method: str | None = None,
    ) -> None:
        self.kind = kind
        self.workers = workers
        self.start_method = start_method
        self._pool: _FuturesExecutor | None = None
        self._closed = False
        self._lock = threading.Lock()

    def _get_pool(self) -> _FuturesExecutor:
        with self._lock:
            if self._closed:
                raise ParameterError("executor is closed; create a new one with make_executor()")
            if self._pool is None:
                if self.kind == "threads":
                    self._pool = ThreadPoolExecutor(
                        max_workers=self.workers, thread_name_prefix="geoinfer-map"
                    )
                else:
                    method = self.start_method or _safe_start_method()
                    self._pool = ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=multiprocessing.get_context(method),
                    )
            return self._pool

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, chunk_size: int | None = None
    ) -> list[R]:
        """Apply `fn` to chunks of `items` on the pool; flatten results in input order."""
        _check_chunk_size(chunk_size)
        if self.kind == "processes":
            _check_picklable(fn)
        if len(items) == 0:
            if self._closed:
                raise ParameterError("executor is closed; create a new one with make_executor()")
            return []
        pool = self._get_pool()
        size = chunk_size or default_chunk_size(len(items), self.workers)
        futures = [pool.submit(apply_chunk, fn, chunk) for chunk in split_chunks(items, size)]
        try:
            return [result for future in futures for result in future.result()]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def close(self) -> None:
        """Wait for running tasks and stop the workers (idempotent)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _safe_start_method() -> str:
    """`fork` when single-threaded (fast); otherwise forkserver/spawn (fork would be unsafe)."""
    if "fork" in _START_METHODS and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in _START_METHODS else "spawn"


def _check_picklable(fn: Callable[..., Any]) -> None:
    """Fail early and clearly: a pool would otherwise raise an opaque error from a worker."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise ParameterError(
            f"{name} cannot be sent to a process pool ({exc}); define it at module level "
            "(no lambda, closure or local function), or use kind='threads'"
        ) from exc


def make_executor(
    kind: ExecutorKind,
    workers: int | None = None,
    *,
    start_method: str | None = None,
) -> SerialExecutor | PoolExecutor:
    """An `Executor` of the given kind; `workers` defaults to the CPUs available.

    Use it as a context manager so the pool is always shut down::

        with make_executor("threads", 2) as ex:
            parts = ex.map(station_trends, station_chunks)
    """
    if kind not in _KINDS:
        raise ParameterError(f"unknown executor kind {kind!r}; expected one of {', '.join(_KINDS)}")
    if workers is not None:
        check_int(workers, "workers", 1, note="or None: every available CPU")
    if start_method is not None and start_method not in _START_METHODS:
        raise ParameterError(
            f"start method {start_method!r} is not available here; "
            f"choose one of {', '.join(sorted(_START_METHODS))}"
        )
    if kind == "serial":
        return SerialExecutor()
    return PoolExecutor(kind, workers or available_cpus(), start_method=start_method)


def map_row_blocks(
    fn: Callable[[slice], R],
    n_rows: int,
    *,
    block_rows: int,
    kind: ExecutorKind = "threads",
    workers: int | None = None,
) -> list[R]:
    """`fn` over consecutive row blocks (`slice`s) of `block_rows` rows; results in row order.

    The caller sizes the block from what a row costs (a block should be worth tens of
    milliseconds, or a pool's start-up and hand-off cost more than they save). The size
    is a fixed row count, never a timing taken at run time: a wall-clock probe makes the
    split, and with it the work, the allocations and the instruction count, depend on how
    busy the machine is, and the benchmarks' deterministic trackers must not move unless
    the code does. When everything fits in one block it runs inline and no pool starts.
    """
    n_rows = check_int(n_rows, "n_rows", 0)
    block_rows = check_int(block_rows, "block_rows", 1)
    blocks = [slice(i, min(i + block_rows, n_rows)) for i in range(0, n_rows, block_rows)]
    if len(blocks) <= 1:
        return [fn(blocks[0] if blocks else slice(0, 0))]
    with make_executor(kind, workers) as executor:
        return executor.map(fn, blocks, chunk_size=1)


EngineKind = Literal["serial", "dask"]
ENGINES: tuple[str, ...] = ("serial", "dask")
ENGINE_ENV = "GEOINFER_ENGINE"
SCHEDULER_ENV = "GEOINFER_SCHEDULER"


def resolve_engine(
    engine: str | None = None, scheduler: str | None = None
) -> tuple[EngineKind, str | None]:
    """The engine and scheduler address a run uses: argument, else environment, else serial.

    A scheduler address means a cluster, so it implies ``dask`` when no engine is named;
    naming ``serial`` together with an address is a contradiction and an error.

    Examples
    --------
    >>> from geoinfer_workflows.orchestration.engines import resolve_engine
    >>> resolve_engine("dask")
    ('dask', None)
    >>> resolve_engine(None, "tcp://127.0.0.1:8786")
    ('dask', 'tcp://127.0.0.1:8786')
    """
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    chosen = engine or os.environ.get(ENGINE_ENV) or ("dask" if scheduler else "serial")
    if chosen not in ENGINES:
        raise ParameterError(f"unknown engine {chosen!r}; expected one of {', '.join(ENGINES)}")
    if chosen == "serial" and scheduler:
        raise ParameterError(f"a scheduler address ({scheduler}) needs engine 'dask', not 'serial'")
    return chosen, scheduler  # type: ignore[return-value]


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    memory_limit: str | float = "auto",
    processes: bool = True,
) -> Iterator[Any]:
    """A `distributed.Client`: to the cluster at `scheduler`, or to a LocalCluster it starts.

    The LocalCluster has `workers` single-threaded workers (default: the CPUs available;
    one thread each, since the partition kernels are numpy and one busy thread per core is
    what they can use) with `memory_limit` each (dask's "auto": the machine's memory split
    evenly), in processes unless `processes` is False (threads: cheaper to start, for
    tests). Both are closed on exit; a cluster given by address is left running.

    Examples
    --------
    >>> from geoinfer_workflows.orchestration.engines import dask_client
    >>> with dask_client(workers=1, processes=False) as client:
    ...     client.submit(sum, [1, 2, 3]).result()
    6
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ParameterError(
            "engine 'dask' needs dask.distributed: pip install 'geoinfer-workflows[dask]'"
        ) from exc
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    if workers is not None:
        check_int(workers, "workers", 1, note="or None: every available CPU")
    with (
        LocalCluster(
            n_workers=workers or available_cpus(),
            threads_per_worker=1,
            memory_limit=memory_limit,
            processes=processes,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
