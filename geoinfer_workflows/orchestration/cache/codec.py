"""Values as bytes without pickle: numpy arrays as `.npy`, everything else as JSON.

Persistent caches that unpickle what they find on disk execute whatever someone put
there. Arrays are stored in `.npy` format (read with ``allow_pickle=False``), everything
else as JSON, nested arrays inside JSON as `.npy` payloads; a scipy CSR matrix (spatial
weights) as its shape and its three arrays. Unsupported values are rejected
when *stored*, with a message that says what to do; a payload that does not decode is a
ValueError (the SQLite level counts it a miss and deletes it), never executed.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
from typing import Any

import numpy as np
from scipy import sparse

from geoinfer_workflows.errors import ParameterError

__all__ = ["decode_value", "encode_value"]

_ARRAY_MARKER = "__ndarray__"
_CSR_MARKER = "__csr_matrix__"  # [shape, data, indices, indptr]
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
    if type(value) is sparse.csr_matrix:  # exactly: a csr_array would come back a matrix
        parts = [list(value.shape), value.data, value.indices, value.indptr]
        return {_CSR_MARKER: _to_jsonable(parts, arrays, where, depth + 1)}
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
            if k in (_ARRAY_MARKER, _CSR_MARKER):
                raise ParameterError(f"the key {k!r} is reserved (at {where})")
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
        "numpy arrays, scipy CSR matrices, and None/bool/int/float/str in lists and "
        "str-keyed dicts (no pickle)"
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
    """(kind, payload) for storage; raises ParameterError for what cannot round-trip.

    Parameters
    ----------
    value : object
        A numpy array, a scipy CSR matrix, or None/bool/int/float/str in lists and
        str-keyed dicts (which may hold arrays and CSR matrices).

    Returns
    -------
    kind : {"npy", "json", "tree"}
        How `payload` is laid out: one array, a JSON document, or JSON then arrays.
    payload : bytes
        What `decode_value` turns back into an equal value.

    Examples
    --------
    >>> import numpy as np
    >>> from geoinfer_workflows.orchestration.cache import decode_value, encode_value
    >>> kind, payload = encode_value({"cells": np.arange(3), "source": "demo"})
    >>> kind, decode_value(kind, payload)["cells"].tolist()
    ('tree', [0, 1, 2])
    >>> encode_value((1, 2))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    ParameterError: cannot cache a tuple at top level: JSON would return it as a list; ...
    """
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
        if len(doc) == 1 and _CSR_MARKER in doc:
            return _restore_csr(_restore_arrays(doc[_CSR_MARKER], arrays))
        return {k: _restore_arrays(v, arrays) for k, v in doc.items()}
    return doc


def _restore_csr(parts: Any) -> sparse.csr_matrix:
    """The CSR matrix of [shape, data, indices, indptr], checked in full: an index out of
    bounds would make scipy's compiled routines read or write outside the arrays."""
    try:
        shape, data, indices, indptr = parts
        matrix = sparse.csr_matrix((data, indices, indptr), shape=tuple(shape))
        matrix.check_format(full_check=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed CSR entry: {exc}") from None
    return matrix


def decode_value(kind: str, payload: bytes) -> Any:
    """Inverse of `encode_value`. Never unpickles: `.npy` is read with allow_pickle=False.

    Raises ValueError for anything that is not a payload this module wrote, including
    payloads crafted to exhaust memory or the stack (checked sizes, a depth limit).

    Parameters
    ----------
    kind : str
        "npy", "json" or "tree", as `encode_value` returned it.
    payload : bytes
        The stored bytes.

    Returns
    -------
    object
        The value `encode_value` was given (arrays bit for bit).

    Examples
    --------
    >>> from geoinfer_workflows.orchestration.cache import decode_value
    >>> decode_value("json", b'{"n": 3}')
    {'n': 3}
    >>> decode_value("tree", b"garbage")
    Traceback (most recent call last):
    ...
    ValueError: undecodable tree payload: error
    """
    try:
        return _decode(kind, payload)
    except (RecursionError, OverflowError, struct.error) as exc:
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
