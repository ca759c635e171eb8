"""The import command's parts on their own: pacing, duplicate window, progress, line
reading, input discovery, checkpoint, reject file, exit statuses (fake clocks, real files)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import List

import pytest

from analytics_compat.cli._import_files import InputError, LineReader, find_inputs
from analytics_compat.cli._import_progress import (
    Progress,
    RateLimiter,
    RecentIds,
    Snapshot,
    duration,
)
from analytics_compat.cli._import_run import Tally
from analytics_compat.cli._import_state import (
    FileMark,
    RejectLog,
    StateError,
    load_checkpoint,
    resume_point,
    save_checkpoint,
)
from analytics_compat.cli.importer import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    exit_status,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_rate_limiter_spreads_events_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(101):
        limiter.acquire()
    assert clock.now - start == pytest.approx(100 / 50, rel=0.01)
    assert max(clock.slept) <= 1 / 50 + 1e-9  # a steady flow, not one long pause


def test_the_rate_limiter_allows_only_a_small_burst_after_idling() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, sleep=clock.sleep)
    clock.now += 60  # idle for a minute
    for _ in range(50):
        limiter.acquire()
    assert not clock.slept  # a twentieth of a second's worth goes at once
    limiter.acquire()
    assert clock.slept


def test_recent_ids_remember_at_least_the_last_size_ids() -> None:
    recent = RecentIds(3)
    for key in "abcde":
        recent.add(key)
    assert all(key in recent for key in "abcde")  # the older generation is still kept
    recent.add("f")  # the newer one is full: it becomes the older one
    assert not any(key in recent for key in "abc")
    assert all(key in recent for key in "def")
    none = RecentIds(0)
    none.add("x")
    assert "x" not in none


def _snapshot(**overrides: object) -> Snapshot:
    fields = dict(done=0, read=0, total=None, fraction=0.0, sent=0, failed=0, rejected=0)
    fields.update(overrides)
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_plain_progress_is_one_line_per_interval() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(out, mode="plain", interval=10, clock=clock)
    for second in range(25):
        clock.now += 1
        progress.update(_snapshot(done=second * 100, read=second * 100, fraction=second / 50))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("import: 900 / ~5,000 lines (18%)")
    assert "failed 0" in lines[0] and "rejected 0" in lines[0] and "left" in lines[0]


def test_terminal_progress_rewrites_one_line_and_ends_it() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(out, mode="tty", interval=10, clock=clock)
    clock.now += 1
    progress.update(_snapshot(done=10, read=10, fraction=0.5, sent=10))
    clock.now += 0.1
    progress.update(_snapshot(done=11, read=11, fraction=0.5, sent=11))  # too soon: nothing
    clock.now += 1
    progress.update(_snapshot(done=20, read=20, total=20, fraction=1.0, sent=20), final=True)
    text = out.getvalue()
    assert text.count("\r") == 2 and text.count("\x1b[K") == 2 and text.endswith("\n")
    assert "20 / 20 lines (100%)" in text and "~" not in text.rsplit("\r", 1)[1]
    assert "10 events/s" in text


def test_progress_off_writes_nothing() -> None:
    out = io.StringIO()
    Progress(out, mode="off", interval=0.01).update(_snapshot(), final=True)
    assert out.getvalue() == ""


def test_duration() -> None:
    assert (duration(9.4), duration(125), duration(3 * 3600 + 4 * 60)) == ("9s", "2m05s", "3h04m")


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _lines(path: Path, cap: int = 1024) -> List[object]:
    (file,) = find_inputs([str(path)])
    return list(LineReader(file, cap))


def test_gzip_is_told_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    body = b'{"a": 1}\n{"b": 2}\r\n{"c": 3}'  # CRLF, and no newline at the end
    packed = _file(tmp_path, "export.jsonl", gzip.compress(body))
    plain = _file(tmp_path, "export.gz", body)
    want = [(1, b'{"a": 1}\n'), (2, b'{"b": 2}\r\n'), (3, b'{"c": 3}')]
    assert _lines(packed) == want
    assert _lines(plain) == want


def test_a_long_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = _file(
        tmp_path, "x.jsonl", b"a" * 64 + b"\n" + b"b" * 65 + b"\n" + b"c" * 200_000 + b"\nd\n"
    )
    assert _lines(path, cap=64) == [(1, b"a" * 64 + b"\n"), (2, None), (3, None), (4, b"d\n")]


def test_a_corrupt_gzip_file_is_an_input_error_after_its_good_lines(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(20_000)))
    path = _file(tmp_path, "cut.gz", data[: len(data) // 2])
    (file,) = find_inputs([str(path)])
    got = []
    with pytest.raises(InputError, match="ends early"):
        for number, _line in LineReader(file, 1024):
            got.append(number)
    assert got and got == list(range(1, len(got) + 1))


def test_a_directory_is_read_in_name_order_without_hidden_or_own_files(tmp_path: Path) -> None:
    root = tmp_path / "export"
    (root / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in ("b/2.gz", "a.jsonl", "c.json", ".x", ".hidden/y", "a.jsonl.rejects.jsonl"):
        (root / name).write_text("{}\n")
    (root / "a.jsonl.import-state.json").write_text("{}")
    names = [f.path.relative_to(root).as_posix() for f in find_inputs([str(root), str(root)])]
    assert names == ["a.jsonl", "c.json", "b/2.gz"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no files"):
        find_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="no such file"):
        find_inputs([str(tmp_path / "missing")])


def test_the_checkpoint_round_trips_atomically_and_knows_its_host(tmp_path: Path) -> None:
    data = _file(tmp_path, "e.jsonl", b"{}\n" * 10)
    (file,) = find_inputs([str(data)])
    state = tmp_path / "state.json"
    save_checkpoint(state, "http://h:1", [FileMark(file=file, lines_done=7)])
    assert not (tmp_path / "state.json.tmp").exists()
    entries = load_checkpoint(state, "http://h:1/")
    assert resume_point(entries[str(file.path)], file) == (7, None)
    with pytest.raises(StateError, match="another host"):
        load_checkpoint(state, "http://other:1")
    state.write_text("{not json")
    with pytest.raises(StateError, match="not a readable import checkpoint"):
        load_checkpoint(state, "http://h:1")
    assert load_checkpoint(tmp_path / "absent.json", "http://h:1") == {}


def test_a_file_that_grew_resumes_and_one_that_changed_starts_over(tmp_path: Path) -> None:
    path = _file(tmp_path, "e.jsonl", b'{"n": 1}\n' * 10)
    (file,) = find_inputs([str(path)])
    entry = FileMark(file=file, lines_done=10).as_json()
    with open(path, "ab") as grown:
        grown.write(b'{"n": 2}\n')
    (bigger,) = find_inputs([str(path)])
    assert resume_point(entry, bigger) == (10, None)
    path.write_bytes(b'{"n": 3}\n' * 12)
    (changed,) = find_inputs([str(path)])
    skip, warning = resume_point(entry, changed)
    assert skip == 0 and warning is not None and "from its first line" in warning


def test_a_resumed_reject_file_keeps_only_lines_before_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    log = RejectLog(path)
    for line in (3, 9, 12):
        log.add(Path("/in/a.jsonl"), line, "not JSON", b"bad\n")
    log.add(Path("/in/b.jsonl"), 2, "no type", None)
    log.close()
    with open(path, "a") as torn:
        torn.write('{"file": "/in/a.jso')  # a killed run's last, half-written line
    resumed = RejectLog(path, keep=lambda name, line: name == "/in/a.jsonl" and line <= 9)
    assert resumed.kept == 2
    resumed.add(Path("/in/a.jsonl"), 12, "not JSON", b"bad again\n")
    resumed.close()
    entries = [json.loads(text) for text in path.read_text().splitlines()]
    assert [(e["line"], e["text"]) for e in entries] == [(3, "bad"), (9, "bad"), (12, "bad again")]
    RejectLog(path)  # a new run without --resume starts a new file
    assert not path.exists()


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, EXIT_OK),
        ({"duplicates": 5, "resumed": 9}, EXIT_OK),
        ({"rejected": 1}, EXIT_REJECTED),
        ({"rejected_earlier": 1}, EXIT_REJECTED),
        ({"rejected": 1, "failed": 1}, EXIT_FAILED),
        ({"aborted": "key"}, EXIT_FAILED),
        ({"failed": 1, "input_errors": ["x"]}, EXIT_USAGE),
        ({"input_errors": ["x"], "interrupted": True}, EXIT_INTERRUPTED),
    ],
)
def test_exit_status_precedence(fields: dict, status: int) -> None:  # type: ignore[type-arg]
    tally = Tally()
    for name, value in fields.items():
        setattr(tally, name, value)
    assert exit_status(tally) == status
