"""Opening an import file: path or stdin, plain or gzip, and how far we have read.

Nothing here reads the whole input: the caller gets a byte stream to iterate
line by line, plus a byte counter for the progress bar.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

FORMATS = ("csv", "ndjson")
EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
READ_BUFFER = 1 << 16


class ImportInputError(Exception):
    """Input that cannot be imported at all (exit code 2); the message says why."""


class _CountingReader(io.RawIOBase):
    """Counts the bytes taken from the underlying file (compressed bytes for gzip)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


@dataclass
class Source:
    """An opened input: ``stream`` yields decompressed bytes line by line."""

    name: str
    stream: BinaryIO
    size: int | None
    _counter: _CountingReader

    @property
    def bytes_read(self) -> int:
        return self._counter.count


def detect_format(name: str, explicit: str | None) -> str:
    """The format given, or the one the file name's extension says (``.gz`` looked through)."""
    if explicit:
        return explicit
    if name == STDIN:
        raise ImportInputError("reading from stdin: say which format with --format csv or --format ndjson")
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix == ".gz":
        suffix = Path(path.stem).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise ImportInputError(
            f"{name}: cannot tell the format from the extension {suffix or '(none)'!r} "
            f"(known: {known}, optionally with .gz); pass --format csv or --format ndjson"
        )
    return fmt


@contextmanager
def open_source(name: str) -> Iterator[Source]:
    """Open a path or ``-`` (stdin); gzip is recognised by its magic bytes, whatever the name."""
    if name == STDIN:
        raw: BinaryIO = sys.stdin.buffer
        size = None
        close = False
    else:
        try:
            raw = open(name, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            raise ImportInputError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise ImportInputError(f"{name}: is a directory, not a file") from None
        except OSError as exc:
            raise ImportInputError(f"{name}: cannot open: {exc.strerror}") from None
        try:
            size = os.fstat(raw.fileno()).st_size
        except OSError:
            size = None
        close = True
    counter = _CountingReader(raw)
    buffered = io.BufferedReader(counter, buffer_size=READ_BUFFER)
    stream: BinaryIO = buffered
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), buffer_size=READ_BUFFER)  # type: ignore[arg-type]
    try:
        yield Source(name="<stdin>" if name == STDIN else name, stream=stream, size=size, _counter=counter)
    finally:
        if close:
            raw.close()
