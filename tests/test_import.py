"""``analytics-compat import``: a real subprocess of the command against a real devserver.

A generated Segment export of 50,000 lines (every message type, duplicates, malformed
and blank lines; a directory holding a plain file, a gzip file and a nested one) is
imported, killed halfway and run again with ``--resume``: every valid message is
stored exactly once (the devserver keeps one event per uuid, and the counts per event
name must match the export's), every malformed line is in the reject file with its
line number, and the exit status is the documented one. Also: ``--dry-run`` sends
nothing, ``--resume`` after a complete run sends nothing, a server that stops
answering, a refused key, ``Retry-After``, the in-flight cap, the project key never
printed, the exit statuses for bad input.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

from analytics_compat._segment_export import legacy_fields, segment_message
from analytics_compat.cli.importer import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    KEY_ENV,
)
from analytics_compat.devserver import DevServer
from benchmarks.segment_export import Expected, write_export
from tests.sink import Sink

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "phc_import_secret_4217"  # the project key: must never be printed
SDK_KEYS = ("$lib", "$lib_version", "$geoip_disable")


def _env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", KEY_ENV))}
    env.update(extra)
    return env


def _command(*args: str) -> List[str]:
    return [sys.executable, "-m", "analytics_compat", "import", *args]


def _run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args), cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=timeout
    )


def _rejects(path: Path) -> Dict[str, Set[int]]:
    found: Dict[str, Set[int]] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(text)
        assert entry["reason"], entry
        found.setdefault(entry["file"], set()).add(entry["line"])
    return found


def _counts(server: DevServer, expected: Expected) -> Dict[str, int]:
    return {name: server.store.count(event=name) for name in expected.events}


def _number(summary: str, label: str) -> int:
    for line in summary.splitlines():
        if line.strip().startswith(label):
            return int(line.split()[1].replace(",", ""))
    raise AssertionError(f"no {label!r} line in:\n{summary}")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Expected:
    root = tmp_path_factory.mktemp("segment") / "export"
    return write_export(root, 50_000, layout="tree", bad_every=97, dup_every=53)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with DevServer(tokens=(TOKEN,), db_path=str(tmp_path / "devserver.sqlite3")) as running:
        yield running


def _assert_stored_as_mapped(server: DevServer, expected: Expected) -> None:
    """A sample of the lines, each against what ``_segment_export`` maps it to."""
    stored = {e["uuid"]: e for e in server.store.events()}
    checked = 0
    for path in expected.files:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as lines:
            for number, raw in enumerate(lines, 1):
                if number % 25 or number in expected.rejects.get(str(path), ()):
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                want = segment_message(message).as_event()
                got = stored[legacy_fields(message)[1]["uuid"]]
                props = {k: v for k, v in got["properties"].items() if k not in SDK_KEYS}
                assert (got["event"], got["distinct_id"], props) == (
                    want["event"],
                    want["distinct_id"],
                    want["properties"],
                )
                when = dt.datetime.fromisoformat(got["timestamp"])
                assert when == dt.datetime.fromisoformat(want["timestamp"])
                checked += 1
    assert checked > 1500


def test_an_import_killed_halfway_and_resumed_stores_every_message_once(
    export: Expected, server: DevServer, tmp_path: Path
) -> None:
    state, rejects = tmp_path / "state.json", tmp_path / "rejects.jsonl"
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    files = ["--state", str(state), "--rejects", str(rejects)]
    args = [str(export.files[0].parent), "--host", server.url, "--batch-size", "250", *files]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        first = subprocess.Popen(
            _command(*args, "--progress-interval", "0.5"),
            cwd=ROOT,
            env=_env(**{KEY_ENV: TOKEN}),  # the key from the environment this time
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 90
            while server.store.count() < export.valid * 0.4:
                assert first.poll() is None, err.read_text()
                assert time.monotonic() < deadline, "the import made no progress"
                time.sleep(0.05)
            time.sleep(1.2)  # let a checkpoint land past the one before
        finally:
            first.kill()  # no chance to write anything on the way out
            first.wait(30)
    assert first.returncode == -signal.SIGKILL
    halfway = server.store.count()
    assert 0 < halfway < export.valid
    checkpoint = json.loads(state.read_text())
    assert sum(f["lines_done"] for f in checkpoint["files"]) > 0
    assert "import:" in err.read_text()  # plain progress lines, not on a terminal

    second = _run(*args, "--resume", "--key", TOKEN)
    assert second.returncode == EXIT_REJECTED, second.stdout + second.stderr
    assert _counts(server, export) == dict(export.events)
    assert server.store.count() == export.valid
    assert all(batch["historical_migration"] for batch in server.store.batches())
    assert _rejects(rejects) == dict(export.rejects)
    assert _number(second.stdout, "resumed") > 0
    assert _number(second.stdout, "failed") == 0
    _assert_stored_as_mapped(server, export)
    for text in (out.read_text(), err.read_text(), second.stdout, second.stderr):
        assert TOKEN not in text
    assert TOKEN not in state.read_text() and TOKEN not in rejects.read_text()


def test_a_dry_run_sends_nothing_and_counts_everything(
    export: Expected, server: DevServer, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.jsonl"
    done = _run(
        str(export.files[0].parent), "--dry-run", "--rejects", str(rejects), "--host", server.url
    )
    assert done.returncode == EXIT_REJECTED, done.stdout + done.stderr
    assert server.store.count() == 0 and server.capture_requests() == []
    assert _number(done.stdout, "valid") == export.valid
    assert _number(done.stdout, "duplicates") == export.duplicates
    assert _number(done.stdout, "rejected") == export.rejected
    assert f"{export.blank:,} blank" in done.stdout
    assert "nothing was sent" in done.stdout
    assert _rejects(rejects) == dict(export.rejects)
    assert not (export.files[0].parent / ".analytics-compat.import-state.json").exists()
    for kind, count in export.by_type.items():
        assert f"{kind} {count:,}" in done.stdout


def _small_export(tmp_path: Path, lines: int = 3000, **kwargs: Any) -> Expected:
    return write_export(tmp_path / "export.jsonl", lines, layout="plain", **kwargs)


def test_resume_after_a_complete_run_sends_nothing(server: DevServer, tmp_path: Path) -> None:
    expected = _small_export(tmp_path, bad_every=101)
    path = str(expected.files[0])
    first = _run(path, "--host", server.url, "--key", TOKEN)
    assert first.returncode == EXIT_REJECTED, first.stdout + first.stderr
    assert server.store.count() == expected.valid
    requests = len(server.capture_requests())
    again = _run(path, "--host", server.url, "--key", TOKEN, "--resume")
    assert again.returncode == EXIT_REJECTED, again.stdout + again.stderr  # rejects still listed
    assert len(server.capture_requests()) == requests
    assert _number(again.stdout, "resumed") == expected.lines
    assert _number(again.stdout, "sent") == 0
    assert _rejects(Path(path + ".rejects.jsonl")) == dict(expected.rejects)  # kept, once


def test_running_again_without_resume_stores_nothing_twice(
    server: DevServer, tmp_path: Path
) -> None:
    expected = _small_export(tmp_path, 2000, dup_every=7)
    path = str(expected.files[0])
    for _ in range(2):
        done = _run(path, "--host", server.url, "--key", TOKEN)
        assert done.returncode == EXIT_OK, done.stdout + done.stderr
        assert _number(done.stdout, "duplicates") == expected.duplicates
    assert server.store.count() == expected.valid
    assert sum(b["inserted_count"] for b in server.store.batches()) == expected.valid


def test_a_server_that_stops_answering_fails_the_rest_and_resume_sends_it(
    server: DevServer, tmp_path: Path
) -> None:
    expected = _small_export(tmp_path, 8000, bad_every=211)
    healthy = threading.Event()
    answered = [0]

    def stop_after_ten_batches(method: str, path: str) -> None:
        if path.startswith("/batch"):
            answered[0] += 1
            if answered[0] > 10 and not healthy.is_set():
                raise RuntimeError("the server is down")  # answered 500

    server.add_request_hook(stop_after_ten_batches)
    args = [str(expected.files[0]), "--host", server.url, "--key", TOKEN, "--batch-size", "200"]
    down = _run(*args, "--max-retries", "0")
    assert down.returncode == EXIT_FAILED, down.stdout + down.stderr
    stored = server.store.count()
    assert 0 < stored == sum(b["inserted_count"] for b in server.store.batches()) < 10 * 200 + 1
    assert "events in a row were not acknowledged" in down.stdout
    assert "HTTP 500" in down.stdout
    assert _number(down.stdout, "failed") >= 3 * 200
    healthy.set()
    up = _run(*args, "--resume")
    assert up.returncode == EXIT_REJECTED, up.stdout + up.stderr
    assert server.store.count() == expected.valid
    assert _counts(server, expected) == dict(expected.events)
    assert _number(up.stdout, "resumed") >= stored - 200


def test_a_refused_key_stops_the_import_at_once(server: DevServer, tmp_path: Path) -> None:
    expected = _small_export(tmp_path, 12_000)
    done = _run(str(expected.files[0]), "--host", server.url, "--key", "phc_wrong_key_99")
    assert done.returncode == EXIT_FAILED, done.stdout + done.stderr
    assert "refused the project key" in done.stdout and "HTTP 401" in done.stdout
    assert len(server.capture_requests()) < 10  # of 24 batches: stopped, did not plough on
    assert "phc_wrong_key_99" not in done.stdout + done.stderr
    assert server.store.count() == 0


def test_retry_after_is_waited_out_and_nothing_is_lost(tmp_path: Path) -> None:
    expected = _small_export(tmp_path, 900)
    sink = Sink()
    try:
        sink.respond(429, headers={"Retry-After": "1"})
        done = _run(str(expected.files[0]), "--host", sink.url, "--key", TOKEN)
        assert done.returncode == EXIT_OK, done.stdout + done.stderr
        first, second = sink.requests[0], sink.requests[1]
        assert first.status == 429 and second.batch == first.batch  # the same batch again
        assert second.at - first.at >= 0.9
        uuids = [e["uuid"] for e in sink.delivered()]
        assert len(uuids) == len(set(uuids)) == expected.valid
        assert all(r.body["historical_migration"] is True for r in sink.requests)
    finally:
        sink.close()


def test_the_reader_waits_for_the_server_at_the_in_flight_cap(tmp_path: Path) -> None:
    expected = _small_export(tmp_path, 8000)
    sink = Sink()
    sink.stall.clear()  # every request waits until released
    err = tmp_path / "err.txt"
    try:
        with open(err, "w") as stderr:
            child = subprocess.Popen(
                _command(
                    str(expected.files[0]),
                    "--host",
                    sink.url,
                    "--key",
                    TOKEN,
                    "--in-flight",
                    "1000",
                    "--batch-size",
                    "100",
                    "--progress-interval",
                    "0.2",
                ),
                cwd=ROOT,
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                deadline = time.monotonic() + 30
                while err.read_text().count("import:") < 8:
                    assert time.monotonic() < deadline and child.poll() is None
                    time.sleep(0.1)
                stalled = [line for line in err.read_text().splitlines() if "import:" in line]
                assert sink.arrived == 1  # one request at a time: the client's one worker
                in_flight = []
                for line in stalled:
                    assert line.startswith("import: 0 / "), line  # nothing settled yet
                    found = re.search(r"in flight ([\d,]+)", line)
                    assert found, line
                    in_flight.append(int(found.group(1).replace(",", "")))
                assert max(in_flight) == in_flight[-1] == 1000  # the reader stopped at the cap
                sink.stall.set()
                child.wait(60)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        assert child.returncode == EXIT_OK, err.read_text()
        assert len({e["uuid"] for e in sink.delivered()}) == expected.valid
    finally:
        sink.close()


def test_rate_limits_the_events_per_second(server: DevServer, tmp_path: Path) -> None:
    expected = _small_export(tmp_path, 1200)
    started = time.monotonic()
    done = _run(str(expected.files[0]), "--host", server.url, "--key", TOKEN, "--rate", "600")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert time.monotonic() - started >= (expected.valid - 30) / 600  # a floor, never a speed
    assert server.store.count() == expected.valid


def test_sigint_stops_reading_waits_for_what_is_in_flight_and_resume_finishes(
    server: DevServer, tmp_path: Path
) -> None:
    expected = _small_export(tmp_path, 4000)
    args = [str(expected.files[0]), "--host", server.url, "--key", TOKEN, "--rate", "1000"]
    child = subprocess.Popen(
        _command(*args), cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while server.store.count() < 500:
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == EXIT_INTERRUPTED, stdout + stderr
    assert "import stopped" in stdout and "--resume" in stdout
    assert _number(stdout, "failed") == 0  # what was in flight was waited for
    assert server.store.count() == _number(stdout, "sent") < expected.valid
    done = _run(*args[:-2], "--resume")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert server.store.count() == expected.valid


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/export.jsonl", "--host", "http://127.0.0.1:9", "--key", TOKEN], "no such file"),
        (["{export}", "--key", TOKEN], "--host is required"),
        (["{export}", "--host", "http://127.0.0.1:9"], KEY_ENV),
        (["{export}", "--host", "ftp://x", "--key", TOKEN], "http:// or https://"),
        (["{export}", "--host", "http://127.0.0.1:9", "--key", TOKEN, "--rate", "0"], "--rate"),
    ],
)
def test_bad_usage_exits_2_with_a_sentence(tmp_path: Path, args: List[str], message: str) -> None:
    expected = _small_export(tmp_path, 10)
    done = _run(*[a.replace("{export}", str(expected.files[0])) for a in args])
    assert done.returncode == EXIT_USAGE
    assert message in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_a_checkpoint_of_another_host_is_not_used(server: DevServer, tmp_path: Path) -> None:
    expected = _small_export(tmp_path, 300)
    path = str(expected.files[0])
    assert _run(path, "--host", server.url, "--key", TOKEN).returncode == EXIT_OK
    other = _run(path, "--host", "http://127.0.0.1:9", "--key", TOKEN, "--resume")
    assert other.returncode == EXIT_USAGE
    assert "written for another host" in other.stderr


def test_a_truncated_gzip_file_imports_what_it_holds_and_exits_2(
    server: DevServer, tmp_path: Path
) -> None:
    expected = write_export(tmp_path / "whole.jsonl.gz", 4000, layout="gzip")
    data = expected.files[0].read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    done = _run(str(cut), "--host", server.url, "--key", TOKEN)
    assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
    assert "ends early" in done.stdout
    assert 0 < server.store.count() < expected.valid
    assert _number(done.stdout, "failed") == 0


def test_an_overlong_line_is_rejected_and_the_next_one_read(
    server: DevServer, tmp_path: Path
) -> None:
    good = {"type": "track", "event": "E", "userId": "u", "timestamp": "2021-01-01T00:00:00Z"}
    path = tmp_path / "long.jsonl"
    lines = [good, {**good, "properties": {"blob": "x" * 5000}, "messageId": "big"}, good]
    lines[2] = {**good, "messageId": "after"}
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = _run(str(path), "--host", server.url, "--key", TOKEN, "--max-line-bytes", "1000")
    assert done.returncode == EXIT_REJECTED, done.stdout + done.stderr
    assert server.store.count() == 2
    entry = json.loads(Path(str(path) + ".rejects.jsonl").read_text())
    assert entry["line"] == 2 and "over 1,000 bytes" in entry["reason"] and entry["text"] is None


def _pty_run(args: List[str]) -> Optional[bytes]:
    import pty

    main, replica = pty.openpty()
    try:
        child = subprocess.Popen(
            _command(*args), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=replica
        )
        os.close(replica)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        child.wait(60)
        return b"".join(chunks)
    finally:
        os.close(main)


def test_on_a_terminal_progress_is_one_line_rewritten(server: DevServer, tmp_path: Path) -> None:
    expected = _small_export(tmp_path, 1500)
    output = _pty_run(
        [str(expected.files[0]), "--host", server.url, "--key", TOKEN, "--rate", "1000"]
    )
    assert output is not None
    text = output.decode()
    assert text.count("\x1b[K") >= 3 and "\r" in text  # rewritten in place
    assert f"{expected.lines:,} / {expected.lines:,} lines (100%)" in text
    assert TOKEN not in text
