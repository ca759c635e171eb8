"""The import command's loop: lines -> Segment messages -> client calls -> outcomes.

Owns, for one run: reading each input line once (the lines the checkpoint counts as
done are skipped unread), mapping it with ``_segment_export`` and sending it through the
client's public analytics-node calls (so batching, retries, ``Retry-After``, the 413
split and every outcome are the client's); and the accounting:

- the messages in flight, in line order, at most ``in_flight`` of them: the reader
  waits on the oldest when the cap is reached, so it never runs ahead of the server
  and memory stays bounded; outcomes are read off the promises as they settle;
- each file's watermark for the checkpoint: the lines before the first one not yet
  acknowledged. A failed line stops its file's watermark for the rest of the run,
  so a resumed import sends it (and what follows it) again;
- counts and reasons for the summary. A 401 or 403 stops the run: every other
  event would be refused too.

Knows nothing about argparse or how the summary is printed.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

import attrs

from analytics_compat import Client, MessagePromise, ValidationError
from analytics_compat._segment_export import legacy_fields

from ._import_files import InputError, InputFile, LineReader
from ._import_progress import Progress, RateLimiter, RecentIds, Snapshot
from ._import_state import FileMark, RejectLog

__all__ = ["Importer", "Settings", "Tally"]

_MAX_REASONS = 12
_TICK_LINES = 256
_KINDS = {"message": "not an object", "type": "no or unknown type", "": "invalid"}
_NO_TIME = (
    "the message has no timestamp (timestamp, originalTimestamp, receivedAt or sentAt): "
    "a historical event needs its time"
)


@attrs.frozen(kw_only=True)
class Settings:
    max_line_bytes: int = 1024 * 1024
    in_flight: int = 5000
    dedup_window: int = 100_000
    rate: Optional[float] = None
    checkpoint_every: float = 1.0
    # this many events in a row not acknowledged (each after its retries): the server is
    # down or refuses them all, so stop and let --resume carry on later (0: never)
    stop_after_failures: int = 1500
    drain_timeout: float = 30.0  # after an interruption: how long in-flight events may take
    shutdown_timeout: float = 10.0


@attrs.define
class Tally:
    """What a run did; the summary is written from it."""

    files: int = 0
    lines: int = 0  # read, skipped ones included
    blank: int = 0
    resumed: int = 0  # lines the checkpoint counted as done
    duplicates: int = 0
    rejected: int = 0
    rejected_earlier: int = 0  # listed in the reject file by the run this one resumes
    sent: int = 0  # acknowledged (a dry run: would be sent)
    failed: int = 0
    by_type: collections.Counter[str] = attrs.field(factory=collections.Counter)
    reject_kinds: collections.Counter[str] = attrs.field(factory=collections.Counter)
    failures: collections.Counter[str] = attrs.field(factory=collections.Counter)
    input_errors: List[str] = attrs.field(factory=list)
    warnings: List[str] = attrs.field(factory=list)
    aborted: Optional[str] = None  # why the run stopped early (a refused key)
    interrupted: bool = False
    seconds: float = 0.0


def _bump(counter: collections.Counter[str], key: str) -> None:
    if key not in counter and len(counter) >= _MAX_REASONS:
        key = "other reasons"
    counter[key] += 1


def _is_refused_key(error: Any) -> bool:
    return getattr(error, "status_code", None) in (401, 403)


class Importer:
    """One run over ``files``; ``marks[i].lines_done`` lines of file ``i`` are skipped."""

    def __init__(
        self,
        client: Client,
        files: Sequence[InputFile],
        marks: Sequence[FileMark],
        rejects: RejectLog,
        progress: Progress,
        settings: Settings,
        *,
        save: Optional[Callable[[Sequence[FileMark]], None]],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._files = files
        self._marks = marks
        self._rejects = rejects
        self._progress = progress
        self._settings = settings
        self._save = save
        self._stop = stop
        self._clock = clock
        self.tally = Tally(files=len(files))
        self._pending: Deque[Tuple[MessagePromise, int, int]] = collections.deque()
        self._read_upto = [mark.lines_done for mark in marks]
        self._frozen: List[Optional[int]] = [None] * len(files)
        self._finished = [False] * len(files)
        self._recent = RecentIds(settings.dedup_window)
        self._limiter = (
            RateLimiter(settings.rate, clock=clock, sleep=stop.wait)
            if settings.rate and client.options is not None and client.options.send
            else None
        )
        self._calls: Dict[str, Callable[[Any], MessagePromise]] = {
            "identify": client.identify,
            "track": client.track,
            "page": client.page,
            "screen": client.screen,
            "group": client.group,
            "alias": client.alias,
        }
        self._total_bytes = sum(f.size for f in files) or 1
        self._bytes_done = 0
        self._reader: Optional[LineReader] = None
        self._next_save = clock() + settings.checkpoint_every
        self._failed_in_a_row = 0
        self.tally.rejected_earlier = rejects.kept

    # -- the run ----------------------------------------------------------------------
    def run(self) -> Tally:
        start = self._clock()
        try:
            for index, file in enumerate(self._files):
                if self._halted():
                    break
                self._read(index, file)
            self._client.flush(_ignore)  # what waits for a full batch leaves now
            self._drain()
        finally:
            # stopped early: what is still queued would be refused too, so do not wait
            aborted = self.tally.aborted is not None
            self._client.shutdown(0.0 if aborted else self._settings.shutdown_timeout)
            self._settle_leftovers()
            self.tally.interrupted = self._stop.is_set()
            self.tally.seconds = self._clock() - start
            self._checkpoint()
            self._rejects.close()
            self._progress.update(self.snapshot(), final=True)
        return self.tally

    def _halted(self) -> bool:
        return self._stop.is_set() or self.tally.aborted is not None

    def _read(self, index: int, file: InputFile) -> None:
        skip = self._marks[index].lines_done
        reader = self._reader = LineReader(file, self._settings.max_line_bytes)
        tally, pending, cap = self.tally, self._pending, self._settings.in_flight
        line = self._line
        try:
            for number, raw in reader:
                tally.lines += 1
                if number <= skip:
                    tally.resumed += 1
                else:
                    line(index, file, number, raw)
                    self._read_upto[index] = number
                if not number % _TICK_LINES:
                    self._settle_heads()
                    self._tick()
                while len(pending) >= cap and not self._halted():
                    pending[0][0].wait(0.1)
                    self._settle_heads()
                    self._tick()
                if self._stop.is_set() or tally.aborted is not None:
                    return
            self._finished[index] = True
        except InputError as error:
            tally.input_errors.append(str(error))
        finally:
            self._reader = None
            self._bytes_done += file.size

    def _line(self, index: int, file: InputFile, number: int, raw: Optional[bytes]) -> None:
        if raw is None:
            limit = self._settings.max_line_bytes
            self._reject(file, number, "too long", f"the line is over {limit:,} bytes", None)
            return
        try:
            message = json.loads(raw)
        except UnicodeDecodeError:
            self._reject(file, number, "not UTF-8", "the line is not UTF-8 text", raw)
            return
        except json.JSONDecodeError as error:
            if not raw.strip():
                self.tally.blank += 1
                return
            reason = f"not JSON: {error.msg} (column {error.colno})"
            self._reject(file, number, "not JSON", reason, raw)
            return
        except (ValueError, RecursionError) as error:
            self._reject(file, number, "not JSON", f"not JSON: {error}", raw)
            return
        try:
            call, fields = legacy_fields(message)
            if fields["timestamp"] is None:
                self._reject(file, number, "no timestamp", _NO_TIME, raw)
                return
            # the uuid as a number: the window holds many, and an int is half a str's size
            uuid = int(fields["uuid"].replace("-", ""), 16)
            if uuid in self._recent:
                self.tally.duplicates += 1
                return
            if self._limiter is not None:
                self._limiter.acquire()
            promise = self._calls[call](fields)
        except ValidationError as error:
            self._reject(
                file, number, _KINDS.get(error.field or "", f"bad {error.field}"), str(error), raw
            )
            return
        self._recent.add(uuid)
        self._pending.append((promise, index, number))
        self.tally.by_type[message["type"]] += 1

    def _reject(
        self, file: InputFile, number: int, kind: str, reason: str, raw: Optional[bytes]
    ) -> None:
        self.tally.rejected += 1
        _bump(self.tally.reject_kinds, kind)
        self._rejects.add(file.path, number, reason, raw)

    # -- outcomes ---------------------------------------------------------------------
    def _settle_heads(self) -> None:
        pending = self._pending
        while pending and pending[0][0].done():
            self._account(*pending.popleft())

    def _account(self, promise: MessagePromise, index: int, line: int) -> None:
        error = promise.error
        if error is None:
            self.tally.sent += 1
            self._failed_in_a_row = 0
            return
        self.tally.failed += 1
        reason = str(error)
        _bump(self.tally.failures, reason[:200])
        if self._frozen[index] is None:
            self._frozen[index] = line - 1
        self._failed_in_a_row += 1
        if self.tally.aborted is not None:
            return
        if _is_refused_key(error):
            self.tally.aborted = f"the server refused the project key ({reason})"
        elif self._failed_in_a_row == self._settings.stop_after_failures:
            self.tally.aborted = (
                f"{self._failed_in_a_row:,} events in a row were not acknowledged "
                "(is the server down?)"
            )

    def _drain(self) -> None:
        pending, deadline = self._pending, None
        while pending and self.tally.aborted is None:
            if self._stop.is_set() and deadline is None:
                deadline = self._clock() + self._settings.drain_timeout
            if deadline is not None and self._clock() > deadline:
                return
            pending[0][0].wait(0.1)
            self._settle_heads()
            self._tick()

    def _settle_leftovers(self) -> None:
        """After shutdown: what is still unsettled was never acknowledged."""
        self._settle_heads()
        while self._pending:
            promise, index, line = self._pending.popleft()
            if promise.done():
                self._account(promise, index, line)
                continue
            self.tally.failed += 1
            _bump(self.tally.failures, "not acknowledged before the import stopped")
            if self._frozen[index] is None:
                self._frozen[index] = line - 1

    # -- progress and checkpoint ------------------------------------------------------
    def snapshot(self) -> Snapshot:
        tally, reader = self.tally, self._reader
        position = self._bytes_done + (reader.position if reader is not None else 0)
        return Snapshot(
            done=tally.lines - len(self._pending),
            read=tally.lines,
            total=tally.lines if all(self._finished) else None,
            fraction=min(1.0, position / self._total_bytes),
            sent=tally.sent,
            failed=tally.failed,
            rejected=tally.rejected,
            in_flight=len(self._pending),
        )

    def _tick(self) -> None:
        self._progress.update(self.snapshot())
        if self._save is not None and self._clock() >= self._next_save:
            self._checkpoint()

    def _checkpoint(self) -> None:
        if self._save is None:
            return
        first: Dict[int, int] = {}
        for _promise, index, line in self._pending:
            first.setdefault(index, line)
        for index, mark in enumerate(self._marks):
            done = self._read_upto[index]
            if index in first:
                done = min(done, first[index] - 1)
            frozen = self._frozen[index]
            if frozen is not None:
                done = min(done, frozen)
            mark.lines_done = done
            mark.complete = self._finished[index] and done == self._read_upto[index]
        self._next_save = self._clock() + self._settings.checkpoint_every
        try:
            self._rejects.sync()  # the rejects of lines counted as done are on disk first
            self._save(self._marks)
        except OSError as error:  # a full disk, say: the import itself can go on
            warning = f"cannot write the checkpoint: {error.strerror or error}"
            if warning not in self.tally.warnings:
                self.tally.warnings.append(warning)


def _ignore(_error: Any) -> None:
    pass
