"""The import command's files of record: the checkpoint and the reject file.

Owns:

- the checkpoint (``--resume``): a small JSON file saying, for each input file (its
  path and fingerprint) and for one host, how many of its first lines are done:
  every one of them acknowledged by the server, rejected, blank or a duplicate. It
  is written atomically (a temporary file beside it, flushed to disk, renamed over
  the old one), so a killed import leaves the previous checkpoint or the new one,
  never half of one. A resumed import skips those lines; a file whose fingerprint
  changed (other than by growing at the end) is read again from its start.
- the reject file: one JSON object per line that could not be mapped (``file``,
  ``line``, ``reason``, ``text``: the line's first 300 characters). A resumed import
  first drops the entries beyond the checkpoint, as those lines are read again.

Neither ever holds the project key. Knows nothing about Segment or sending.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

import attrs

from ._import_files import InputFile, head_digest

__all__ = [
    "FileMark",
    "RejectLog",
    "StateError",
    "carried_entries",
    "load_checkpoint",
    "resume_point",
    "save_checkpoint",
]

_FORMAT = "analytics-compat-import-state"
_VERSION = 1
_TEXT_CHARS = 300


class StateError(Exception):
    """The checkpoint cannot be read, or belongs to another host."""


@attrs.define(kw_only=True)
class FileMark:
    """Where one input file stands: its first ``lines_done`` lines are done."""

    file: InputFile
    lines_done: int
    complete: bool = False

    def as_json(self) -> Dict[str, Any]:
        return {
            "path": str(self.file.path),
            "size": self.file.size,
            "head": self.file.head,
            "head_bytes": self.file.head_bytes,
            "lines_done": self.lines_done,
            "complete": self.complete,
        }


def _same_host(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def load_checkpoint(path: Path, host: str) -> Dict[str, Dict[str, Any]]:
    """The checkpoint's entries by file path ({} if there is none yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise StateError(f"cannot read the checkpoint {path}: {error.strerror}") from None
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError("not an import checkpoint of this version")
        files = {str(entry["path"]): dict(entry) for entry in data["files"]}
        for entry in files.values():
            int(entry["lines_done"]), int(entry["size"]), int(entry["head_bytes"])
            str(entry["head"])
        recorded = str(data["host"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise StateError(f"{path} is not a readable import checkpoint ({error})") from None
    if not _same_host(recorded, host):
        raise StateError(
            f"the checkpoint {path} was written for another host ({recorded}); "
            "import there, or pass --state with another file (or leave out --resume)"
        )
    return files


def resume_point(entry: Optional[Dict[str, Any]], file: InputFile) -> Tuple[int, Optional[str]]:
    """How many lines of ``file`` to skip, and a warning when the checkpoint cannot apply."""
    if entry is None:
        return 0, None
    length = int(entry["head_bytes"])
    try:
        same = (
            file.size >= int(entry["size"])
            and file.head_bytes >= length
            and head_digest(file.path, length) == entry["head"]
        )
    except OSError:
        same = False
    if not same:
        return 0, (
            f"{file.path} changed since the checkpoint: importing it from its first line "
            "(what was sent before is stored once: the same lines give the same uuids)"
        )
    return int(entry["lines_done"]), None


def save_checkpoint(
    path: Path, host: str, marks: Sequence[FileMark], carried: Sequence[Dict[str, Any]] = ()
) -> None:
    """Write the checkpoint atomically; ``carried`` are entries of files not in this run."""
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "host": host,
        "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": [*carried, *(mark.as_json() for mark in marks)],
    }
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(document, stream, indent=1)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


class RejectLog:
    """The reject file, opened on the first reject.

    ``keep(file, line)`` says which entries of an existing file to keep (a resumed
    import); None starts a new file (an old one is removed).
    """

    def __init__(self, path: Path, keep: Optional[Callable[[str, int], bool]] = None) -> None:
        self.path = path
        self.kept = 0  # entries kept from an earlier run
        self.written = 0  # entries written by this run
        self._stream: Optional[IO[str]] = None
        if keep is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        elif path.exists():
            self._filter(keep)

    def _filter(self, keep: Callable[[str, int], bool]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        with (
            open(self.path, encoding="utf-8", errors="replace") as old,
            open(temporary, "w", encoding="utf-8") as new,
        ):
            for text in old:
                try:
                    entry = json.loads(text)
                    wanted = keep(str(entry["file"]), int(entry["line"]))
                except (ValueError, KeyError, TypeError):
                    wanted = False  # a torn last line of a killed run
                if wanted:
                    new.write(text if text.endswith("\n") else text + "\n")
                    self.kept += 1
        os.replace(temporary, self.path)

    def add(self, file: Path, line: int, reason: str, raw: Optional[bytes]) -> None:
        if self._stream is None:
            self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        text = None if raw is None else raw[: _TEXT_CHARS * 4].decode("utf-8", "replace")
        entry = {
            "file": str(file),
            "line": line,
            "reason": reason,
            "text": None if text is None else text.rstrip("\r\n")[:_TEXT_CHARS],
        }
        self._stream.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.written += 1

    def sync(self) -> None:
        """Flush to disk (before a checkpoint that counts these lines as done)."""
        if self._stream is not None:
            self._stream.flush()
            os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    @property
    def total(self) -> int:
        return self.kept + self.written


def carried_entries(
    entries: Dict[str, Dict[str, Any]], files: Sequence[InputFile]
) -> List[Dict[str, Any]]:
    """The checkpoint entries of files this run does not read (kept when it saves)."""
    mine = {str(f.path) for f in files}
    return [entry for path, entry in entries.items() if path not in mine]
