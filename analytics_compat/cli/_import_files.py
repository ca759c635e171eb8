"""The import command's input: which files, and their lines, streamed.

Owns finding the input files (files as given; a directory's files at any depth, in
name order, leaving out hidden ones and the command's own state and reject files),
a fingerprint of each (size and a digest of its first 64 KiB, so a checkpoint is
not applied to a file that changed), and reading lines one at a time from a plain
or gzip file (told apart by gzip's magic bytes, not by name). A line longer than
the cap is reported as too long and skipped without being held in memory, so
memory stays bounded whatever the file. It knows nothing about JSON, Segment or
sending.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import IO, Iterable, Iterator, List, Optional, Sequence, Tuple

import attrs

__all__ = [
    "HEAD_BYTES",
    "OWN_SUFFIXES",
    "InputError",
    "InputFile",
    "LineReader",
    "find_inputs",
    "head_digest",
]

HEAD_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024
# the import command's own files, never read as input when a directory is scanned
OWN_SUFFIXES = (
    ".import-state.json",
    ".import-state.json.tmp",
    ".rejects.jsonl",
    ".rejects.jsonl.tmp",
)


class InputError(Exception):
    """An input path is missing or unreadable, or a file cannot be read to its end."""


@attrs.frozen(kw_only=True)
class InputFile:
    """One input file and its fingerprint."""

    path: Path  # absolute
    size: int
    head: str  # sha256 of the first ``head_bytes`` bytes
    head_bytes: int


def head_digest(path: Path, length: int) -> str:
    """The sha256 (hex) of the first ``length`` bytes of ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        digest.update(stream.read(length))
    return digest.hexdigest()


def _input_file(path: Path) -> InputFile:
    size = path.stat().st_size
    length = min(size, HEAD_BYTES)
    return InputFile(path=path, size=size, head=head_digest(path, length), head_bytes=length)


def _walk(directory: Path, exclude: frozenset[Path]) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if name.startswith(".") or name.endswith(OWN_SUFFIXES) or path in exclude:
                continue
            if path.is_file():
                yield path


def find_inputs(paths: Sequence[str], exclude: Iterable[Path] = ()) -> List[InputFile]:
    """The files to import, in order, each once; raises ``InputError`` naming a bad path."""
    skip = frozenset(p.resolve() for p in exclude)
    found: List[InputFile] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given).resolve()
        if path.is_dir():
            files = list(_walk(path, skip))
            if not files:
                raise InputError(f"{given}: the directory holds no files to import")
        elif path.is_file():
            files = [path]
        elif path.exists():
            raise InputError(f"{given}: not a regular file or a directory")
        else:
            raise InputError(f"{given}: no such file or directory")
        for file in files:
            if file in seen:
                continue
            seen.add(file)
            try:
                found.append(_input_file(file))
            except OSError as error:
                raise InputError(f"{file}: cannot be read ({error.strerror or error})") from None
    return found


class LineReader:
    """The lines of one input file: ``(number, bytes)``, or ``(number, None)`` for a line
    longer than ``max_line_bytes`` (numbers count every line, from 1).

    ``position`` is how far into the file (as stored, compressed or not) reading has
    got, for progress. Raises ``InputError`` if the file cannot be read to its end (a
    truncated or corrupt gzip file, an I/O error); the lines before it were yielded.
    """

    def __init__(self, file: InputFile, max_line_bytes: int) -> None:
        self.file = file
        self._max = max_line_bytes
        self._raw: Optional[IO[bytes]] = None
        self.gzip = False

    @property
    def position(self) -> int:
        raw = self._raw
        if raw is None or raw.closed:
            return 0
        try:
            return raw.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[Tuple[int, Optional[bytes]]]:
        number = 0
        path = self.file.path
        try:
            with open(path, "rb", buffering=_CHUNK * 4) as raw:
                self._raw = raw
                self.gzip = raw.read(2) == _GZIP_MAGIC
                raw.seek(0)
                stream: IO[bytes] = raw
                if self.gzip:
                    stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
                with stream:
                    for number, line in self._lines(stream):
                        yield number, line
        except (OSError, EOFError, zlib.error) as error:
            where = f" after line {number:,}" if number else ""
            raise InputError(f"{path}: cannot be read{where}: {_describe(error)}") from None

    def _lines(self, stream: IO[bytes]) -> Iterator[Tuple[int, Optional[bytes]]]:
        cap = self._max
        readline = stream.readline
        number = 0
        while True:
            line = readline(cap + 1)
            if not line:
                return
            number += 1
            if len(line) > cap and not line.endswith(b"\n"):
                while True:  # drop the rest of the line, a chunk at a time
                    rest = readline(_CHUNK)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield number, None
            else:
                yield number, line


def _describe(error: BaseException) -> str:
    if isinstance(error, EOFError):
        return "the gzip data ends early (a truncated file?)"
    if isinstance(error, (gzip.BadGzipFile, zlib.error)):
        return f"corrupt gzip data ({error})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
