"""Reading input: content (str or bytes), a path or a file object to text, UTF-8 checked;
a path must be a regular file. Also the GC pause the parsers run under."""

from __future__ import annotations

import codecs
import gc
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from geoinfer_workflows.errors import IngestError, ParameterError

Source = str | os.PathLike | bytes | IO[str] | IO[bytes]


def _is_inline(source: str, text: bool | None) -> bool:
    """Whether a str is content rather than a path: the documented, filesystem-free rule."""
    if text is not None:
        return text
    if not source or "\n" in source or "\r" in source or "," in source:
        return True
    return source.lstrip()[:1] in ("{", "[")


def _decode(data: bytes) -> str:
    """UTF-8 text of `data` without its BOM; a decoding failure names the byte offset."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise IngestError(
            "input is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
        )
    try:
        return str(memoryview(data)[bom:], "utf-8")  # no copy of the bytes
    except UnicodeDecodeError as err:
        offset = bom + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise IngestError(
            f"input is not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} "
            f"(line {line}) cannot be decoded; re-save the file as UTF-8"
        ) from None


def _open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading, if it is a regular file.

    WHY: ingestion reads its input to the end, so a device (/dev/zero: until memory runs
    out), a FIFO (blocks until a writer appears) or a directory is refused up front. The
    open is non-blocking, so even a FIFO without a writer answers at once.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise IngestError(
            f"no such file: {str(path)!r} (a str without a line break or comma is taken as a "
            "path; pass text=True to parse it as content)"
        ) from None
    except OSError as err:
        raise IngestError(f"cannot read {str(path)!r}: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise IngestError(
            f"{str(path)!r} is not a regular file ({kind}); ingestion reads regular files only"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _read_path(path: Path) -> str:
    with _open_regular(path) as fh:
        try:
            data = fh.read()
        except OSError as err:
            raise IngestError(f"cannot read {str(path)!r}: {err.strerror}") from None
    return _decode(data)


def _path_of(source: Any, *, text: bool | None) -> Path | None:
    """The path `source` names, by the rules of `_read_text`; None for content."""
    if isinstance(source, str) and not _is_inline(source, text):
        return Path(source)
    if isinstance(source, os.PathLike) and not text:
        return Path(source)
    return None


def _read_text(source: Any, *, text: bool | None) -> str:
    """The whole input as text, whatever form it came in (content, path, file object)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _decode(bytes(source))
    if isinstance(source, str) and _is_inline(source, text):
        return source.removeprefix("\ufeff")
    if isinstance(source, str | os.PathLike):
        if text:
            raise ParameterError("text=True needs str content, not a path object")
        return _read_path(Path(source))
    if callable(getattr(source, "read", None)):
        try:
            data = source.read()
        except UnicodeDecodeError as err:
            raise IngestError(
                f"the file object could not be decoded ({err.reason} at offset {err.start}); "
                "open it in binary mode or with encoding='utf-8'"
            ) from None
        if isinstance(data, bytes | bytearray):
            return _decode(bytes(data))
        if isinstance(data, str):
            return data.removeprefix("\ufeff")
        raise ParameterError(f"file object read() returned {type(data).__name__}, not str or bytes")
    raise ParameterError(
        f"cannot ingest a {type(source).__name__}: pass content (str or bytes), a path or a "
        "file object"
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while millions of small str/list objects are made.

    None of them form cycles, yet each allocation burst triggers full collections that
    rescan everything made so far: measured ~2x on csv parsing and ~7x on the transpose.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first_char(content: str) -> str:
    """First non-whitespace character ('' if none) without copying a large input."""
    return (content[:4096].lstrip() or content.lstrip())[:1]
