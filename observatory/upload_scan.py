"""Streaming scans of uploaded bytes: the shape of delimited text, gzip members, JSON nesting.

Used by :mod:`observatory.uploads` before anything is imported, so that a hostile file costs
a bounded amount of memory and time:

- :class:`TextShape` walks the text in chunks and refuses a line longer than
  ``MAX_LINE_BYTES`` (1 MiB) or with more than ``MAX_COLUMNS`` (2000) fields for any of the
  delimiters the importers accept (``,`` ``;`` tab ``|``). The widest real export the project
  reads (ENVIPE 2021 persons, CDMX) has 149 columns. The first MiB is also parsed as CSV
  (quotes respected), so a header cannot hide its width across quoted line breaks.
- :func:`gunzip_chunks` decompresses *every* member of a gzip file (``cat a.gz b.gz`` is one
  valid gzip file, and the importers read all of it), a bounded piece at a time.
- :func:`json_depth` measures how deeply a JSON document nests without building it, so a
  nested GeoJSON is refused with a sentence instead of a ``RecursionError``.

Each refusal is an :class:`UploadRejected` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Iterable, Iterator

import numpy as np

MAX_COLUMNS = 2000
MAX_LINE_BYTES = 1 << 20
MAX_JSON_DEPTH = 64  # GeoJSON needs about 8 (collection, features, geometry, rings, positions)
HEAD_BYTES = 1 << 20
DELIMITERS = (b",", b";", b"\t", b"|")
CHUNK = 1 << 20


class UploadRejected(ValueError):
    """An uploaded file that will not be imported; the message names the file and the reason."""


class TextShape:
    """Feed the bytes of a delimited text file in chunks; refuses over-long or over-wide lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.line = 1  # number of the line being read
        self.length = 0  # its bytes so far
        self.fields = [1] * len(DELIMITERS)  # its fields so far, per delimiter
        self.head = bytearray()
        self.cr_only: bool | None = None

    def _refuse_if_bad(self) -> None:
        if self.length > MAX_LINE_BYTES:
            raise UploadRejected(f"{self.name}: line {self.line} is longer than {MAX_LINE_BYTES >> 20} MB; "
                                 "is this a delimited text export?")
        widest = max(self.fields)
        if widest > MAX_COLUMNS:
            raise UploadRejected(f"{self.name}: line {self.line} has more than {MAX_COLUMNS} columns "
                                 f"({widest} or more); at most {MAX_COLUMNS} are accepted")

    def _extend(self, piece: bytes) -> None:
        self.length += len(piece)
        self.fields = [f + piece.count(d) for f, d in zip(self.fields, DELIMITERS, strict=True)]
        self._refuse_if_bad()

    def _new_line(self, lines: int = 1) -> None:
        self.line += lines
        self.length = 0
        self.fields = [1] * len(DELIMITERS)

    def feed(self, chunk: bytes) -> None:
        """Check the next ``chunk`` of the file."""
        if self.cr_only is None:  # old Mac exports end lines with CR alone
            self.cr_only = b"\n" not in chunk and b"\r" in chunk
        if self.cr_only:
            chunk = chunk.replace(b"\r", b"\n")
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        first = chunk.find(b"\n")
        if first < 0:
            self._extend(chunk)
            return
        self._extend(chunk[:first])
        self._new_line()
        last = chunk.rfind(b"\n")
        if last > first:
            middle = chunk[first + 1:last].split(b"\n")
            # A line with MAX_COLUMNS fields has at least MAX_COLUMNS - 1 bytes: only long lines are counted.
            if max(map(len, middle)) >= MAX_COLUMNS - 1:
                for line in middle:
                    self._extend(line)
                    self._new_line()
            else:
                self._new_line(len(middle))
        self._extend(chunk[last + 1:])

    def finish(self, complete: bool = True) -> None:
        """After the last chunk: parse the first MiB as CSV (quotes respected) and check its records."""
        head = bytes(self.head)
        whole = complete and len(head) < HEAD_BYTES
        text = head if whole else head[: head.rfind(b"\n") + 1]
        if not text:
            return
        decoded = text.decode("latin-1")  # every byte maps to one character; delimiters are ASCII
        for delimiter in DELIMITERS:
            self._check_records(decoded, delimiter.decode(), whole)

    def _check_records(self, text: str, delimiter: str, whole: bool) -> None:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        records = 0
        try:
            for fields in reader:
                records += 1
                if len(fields) > MAX_COLUMNS:
                    raise UploadRejected(f"{self.name}: the record ending on line {reader.line_num} has "
                                         f"{len(fields)} columns; at most {MAX_COLUMNS} are accepted")
        except csv.Error as exc:
            raise UploadRejected(f"{self.name}: line {reader.line_num + 1} cannot be read as delimited text "
                                 f"({exc})") from exc
        if records <= 1 and not whole:
            # The first record runs past the first MiB (a quoted header spanning lines): too wide to check.
            raise UploadRejected(f"{self.name}: the header is longer than {HEAD_BYTES >> 20} MB")


def check_text(chunks: Iterable[bytes], name: str) -> None:
    """Run :class:`TextShape` over ``chunks`` (the whole file)."""
    shape = TextShape(name)
    for chunk in chunks:
        shape.feed(chunk)
    shape.finish()


def memory_chunks(data: bytes | memoryview) -> Iterator[bytes]:
    """``data`` in pieces of at most 1 MiB."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])


def file_chunks(path) -> Iterator[bytes]:
    """A file's bytes in pieces of at most 1 MiB."""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def gunzip_chunks(data: bytes, name: str, cap: int) -> Iterator[bytes]:
    """The decompressed bytes of every gzip member of ``data``, at most 1 MiB at a time.

    Raises :class:`UploadRejected` past ``cap`` decompressed bytes in total (all members
    counted), for a corrupt or truncated member, or for trailing bytes that are not gzip.
    """
    size, pending = 0, data
    while pending:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while True:
                out = inflater.decompress(pending, CHUNK)
                size += len(out)
                if size > cap:
                    raise UploadRejected(f"{name}: decompresses to more than {cap >> 20} MB")
                if out:
                    yield out
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and len(out) < CHUNK):
                    break
        except zlib.error as exc:
            raise UploadRejected(f"{name}: the gzip file is corrupt ({exc})") from exc
        if not inflater.eof:
            raise UploadRejected(f"{name}: the gzip file is truncated")
        pending = inflater.unused_data.lstrip(b"\x00")  # gzip allows zero padding between members
        if pending and pending[:2] != b"\x1f\x8b":
            raise UploadRejected(f"{name}: bytes after the end of the gzip data are not gzip")


_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_DEPTH_STEP = 8 << 20


def json_depth(data: bytes) -> int:
    """How deeply ``data`` (a JSON text) nests arrays and objects, without parsing it.

    Strings are blanked first (a bracket inside a string does not count). Works in slices of
    8 MiB, so memory stays small for a 100 MB GeoJSON.
    """
    blanked = _JSON_STRING.sub(b'""', data)
    depth, deepest = 0, 0
    view = np.frombuffer(blanked, dtype=np.uint8)
    for start in range(0, len(view), _DEPTH_STEP):
        part = view[start:start + _DEPTH_STEP]
        step = ((part == ord("[")) | (part == ord("{"))).astype(np.int32) - \
            ((part == ord("]")) | (part == ord("}"))).astype(np.int32)
        if not step.any():
            continue
        running = np.cumsum(step) + depth
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest
