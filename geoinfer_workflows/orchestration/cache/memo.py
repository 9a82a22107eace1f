"""Memoising a computation on a workflow's path, in the cache of the current run.

A stage wraps a computation whose inputs recur across runs in `memoize`: the study area's
spatial weights (the same cells in every run), the H3 cells of points or the IDW grid of
a data set that a service is asked for again and again. With no cache in scope (the
default) `memoize` is a plain call, so a workflow's behaviour and results do not change;
in a run given a cache (``Pipeline.run(inputs, cache=...)``), the result is looked up by
`name` and a digest of the arguments (`keys.input_digest`), and computed and stored on a
miss. A cached result is the object the computation returned, so it must be equal for
equal arguments (a pure function) and must not be modified by its users: numpy arrays
(and the arrays of a sparse matrix) are handed out read-only, so a stage that writes into
one fails loudly instead of corrupting later runs.

Only wrap what pays: the digest reads every byte of the arguments (about 1 GB/s), so a
computation must cost clearly more per input byte than hashing it (a per-point h3 call, a
KD-tree build and query), not a vectorised pass over the same bytes.

The cache in scope is a context variable: each thread (each user of the load tester) sees
the cache of the run it is in, and none outside a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np
from scipy import sparse

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.orchestration.cache.base import MISSING, CacheLike
from geoinfer_workflows.orchestration.cache.keys import input_digest

__all__ = ["active_cache", "memoize", "using_cache"]

log = logging.getLogger(__name__)

V = TypeVar("V")

_ACTIVE: ContextVar[CacheLike | None] = ContextVar("geoinfer_run_cache", default=None)


def active_cache() -> CacheLike | None:
    """The cache of the run in progress in this thread, or None.

    Examples
    --------
    >>> from geoinfer_workflows.orchestration.cache import LRUCache, active_cache, using_cache
    >>> active_cache() is None
    True
    >>> cache = LRUCache(8)
    >>> with using_cache(cache):
    ...     active_cache() is cache
    True
    """
    return _ACTIVE.get()


@contextmanager
def using_cache(cache: CacheLike | None) -> Iterator[None]:
    """Make `cache` the one `memoize` uses inside the block (None: no caching).

    `Pipeline.run` enters it for the stages of one run; the previous cache (usually none)
    is restored on leaving, also on an exception.
    """
    if cache is not None and not (
        callable(getattr(cache, "get", None)) and callable(getattr(cache, "set", None))
    ):
        raise ParameterError(
            f"cache must have get(key, default) and set(key, value), got {type(cache).__name__}"
        )
    token = _ACTIVE.set(cache)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def memoize(name: str, fn: Callable[..., V], *args: Any, **kwargs: Any) -> V:
    """``fn(*args, **kwargs)``, looked up in and stored to the run's cache when there is one.

    Parameters
    ----------
    name : str
        What is computed, with a version to change when `fn` changes meaning
        (``"disease_surveillance.case_cells/1"``): the key is ``name:digest(args)``.
    fn : callable
        A pure function of `args`.
    *args, **kwargs
        Its arguments: numpy arrays, scalars, str, bytes, lists, tuples, dicts or
        dataclasses of those (what `input_digest` reads). Pass each argument the same
        way (by position or by name) at every call: the two spellings are two keys.

    Returns
    -------
    object
        What ``fn(*args, **kwargs)`` returns (read-only if it is a numpy array or a CSR
        matrix and a cache is in scope). A value the cache cannot store (an unsupported
        type in a SQLite level) is returned uncached, with a logged warning: a cache must
        never stop a workflow.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.orchestration.cache import LRUCache, memoize, using_cache
    >>> calls = []
    >>> def double(x):
    ...     calls.append(1)
    ...     return x * 2
    >>> cache = LRUCache(8)
    >>> with using_cache(cache):
    ...     first = memoize("double/1", double, np.arange(3))
    ...     again = memoize("double/1", double, np.arange(3))
    >>> again.tolist(), len(calls), cache.stats().hit_ratio
    ([0, 2, 4], 1, 0.5)
    >>> memoize("double/1", double, np.arange(3)).tolist(), len(calls)  # no cache in scope
    ([0, 2, 4], 2)
    """
    cache = _ACTIVE.get()
    if cache is None:
        return fn(*args, **kwargs)
    key = f"{name}:{input_digest(args, kwargs)}"
    value = cache.get(key, MISSING)
    if value is MISSING:
        value = fn(*args, **kwargs)
        try:
            cache.set(key, value)
        except ParameterError as exc:
            log.warning("%s not cached: %s", name, exc)
    _freeze(value)
    return value


def _freeze(value: Any) -> None:
    """Make a shared array (or a sparse matrix's arrays) read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif sparse.issparse(value) and value.format == "csr":
        for part in (value.data, value.indices, value.indptr):
            part.flags.writeable = False
