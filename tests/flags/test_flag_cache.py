"""FileDefinitionsCache and the poller's use of a definitions cache, in one process.

Leases, atomic files, staleness and corruption use real files in a temporary directory
and an injectable clock; the poller talks to the real loopback server. The
multi-process behaviour is in test_flag_cache_processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest

from analytics_compat.flags import DEFAULT_DEFINITIONS_PATH, DefinitionsPoller
from analytics_compat.flags.cache import FileDefinitionsCache, FlagDefinitionCacheProvider

pytestmark = pytest.mark.timeout(60)

BODY = {
    "flags": [{"id": 1, "key": "beta", "active": True, "filters": {"groups": [{}]}}],
    "group_type_mapping": {},
    "cohorts": {},
}
OTHER = {**BODY, "flags": [{"id": 2, "key": "gamma", "active": True, "filters": {}}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(path: Path, clock: Clock, **kw: Any) -> FileDefinitionsCache:
    kw.setdefault("lease", 10.0)
    kw.setdefault("max_age", 60.0)
    kw.setdefault("startup_wait", 0.0)
    return FileDefinitionsCache(path, clock=clock, **kw)


# --------------------------------------------------------------------------- the lease


def test_one_holder_of_the_lease_polls_the_others_read(tmp_path: Path, clock: Clock) -> None:
    first, second = make(tmp_path / "defs.json", clock), make(tmp_path / "defs.json", clock)
    assert first.should_fetch_flag_definitions() is True
    assert second.should_fetch_flag_definitions() is False
    clock.now += 5
    assert first.should_fetch_flag_definitions() is True  # renewed
    clock.now += 8  # 13 s after taking it, 8 s after renewing: still held
    assert second.should_fetch_flag_definitions() is False


def test_an_expired_lease_is_taken_over(tmp_path: Path, clock: Clock) -> None:
    first, second = make(tmp_path / "defs.json", clock), make(tmp_path / "defs.json", clock)
    assert first.should_fetch_flag_definitions() is True
    clock.now += 10.5  # the holder stopped renewing (stuck)
    assert second.should_fetch_flag_definitions() is True
    assert first.should_fetch_flag_definitions() is False


def test_a_dead_holder_is_replaced_at_once(tmp_path: Path, clock: Clock) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lease = {"owner": "x", "pid": int(dead.stdout), "expires": clock.now + 1000, "since": 0}
    (tmp_path / "defs.json.lock").write_text(json.dumps(lease))
    assert make(tmp_path / "defs.json", clock).should_fetch_flag_definitions() is True


def test_shutdown_gives_the_lease_up(tmp_path: Path, clock: Clock) -> None:
    first, second = make(tmp_path / "defs.json", clock), make(tmp_path / "defs.json", clock)
    assert first.should_fetch_flag_definitions() is True
    second.shutdown()  # not the holder: nothing changes
    assert second.should_fetch_flag_definitions() is False
    first.shutdown()
    assert second.should_fetch_flag_definitions() is True


def test_a_garbled_lease_file_is_a_free_lease(tmp_path: Path, clock: Clock) -> None:
    (tmp_path / "defs.json.lock").write_text("{not json")
    assert make(tmp_path / "defs.json", clock).should_fetch_flag_definitions() is True


# --------------------------------------------------------------------------- the file


def test_written_atomically_read_only_when_changed(tmp_path: Path, clock: Clock) -> None:
    writer, reader = make(tmp_path / "defs.json", clock), make(tmp_path / "defs.json", clock)
    assert reader.get_flag_definitions() is None  # no file yet
    writer.on_flag_definitions_received(BODY)
    first = reader.get_flag_definitions()
    assert first == BODY
    assert reader.get_flag_definitions() is first  # unchanged file: not read again
    writer.on_flag_definitions_received(OTHER)
    assert reader.get_flag_definitions() == OTHER
    assert sorted(os.listdir(tmp_path)) == ["defs.json"]  # no temporary file left behind
    assert (tmp_path / "defs.json").stat().st_mode & 0o777 == 0o600


def test_a_stale_file_is_ignored(tmp_path: Path, clock: Clock) -> None:
    writer, reader = make(tmp_path / "defs.json", clock), make(tmp_path / "defs.json", clock)
    writer.on_flag_definitions_received(BODY)
    clock.now += 59
    assert reader.get_flag_definitions() == BODY
    clock.now += 2
    assert reader.get_flag_definitions() is None


@pytest.mark.parametrize(
    "content",
    ['{"format": 1, "written_at": 1', "[]", '{"format": 2, "written_at": 1, "body": {"flags": []}}',
     '{"format": 1, "written_at": "x", "body": {"flags": []}}',
     '{"format": 1, "written_at": 1, "body": {"flags": {}}}', ""],
    ids=["truncated", "not-an-object", "unknown-format", "bad-time", "bad-body", "empty"],
)  # fmt: skip
def test_a_corrupt_file_is_ignored(tmp_path: Path, clock: Clock, content: str) -> None:
    (tmp_path / "defs.json").write_text(content)
    assert make(tmp_path / "defs.json", clock).get_flag_definitions() is None


def test_a_reader_waits_briefly_for_a_new_holders_first_write(tmp_path: Path) -> None:
    writer = FileDefinitionsCache(tmp_path / "defs.json", startup_wait=10.0)
    reader = FileDefinitionsCache(tmp_path / "defs.json", startup_wait=10.0)
    assert writer.should_fetch_flag_definitions() is True
    threading.Timer(0.2, writer.on_flag_definitions_received, args=(BODY,)).start()
    assert reader.get_flag_definitions() == BODY  # waited instead of polling too


def test_the_wait_is_bounded_when_the_holder_never_writes(tmp_path: Path) -> None:
    writer = FileDefinitionsCache(tmp_path / "defs.json", startup_wait=0.3)
    reader = FileDefinitionsCache(tmp_path / "defs.json", startup_wait=0.3)
    assert writer.should_fetch_flag_definitions() is True
    assert reader.get_flag_definitions() is None


def test_the_provider_interface_is_posthog_pythons(tmp_path: Path) -> None:
    cache = FileDefinitionsCache(tmp_path / "defs.json")
    assert isinstance(cache, FlagDefinitionCacheProvider)
    posthog_cache = pytest.importorskip("posthog.flag_definition_cache")
    assert isinstance(cache, posthog_cache.FlagDefinitionCacheProvider)


# --------------------------------------------------------------------------- the poller


def poller(server: Any, session: Any, cache: Any) -> DefinitionsPoller:
    return DefinitionsPoller(session, server.url, "phc_p", "phx_k", cache=cache, interval=1.0)


def test_a_reader_poller_makes_no_request(flag_server, session, tmp_path, clock) -> None:
    flag_server.script("GET", DEFAULT_DEFINITIONS_PATH, flag_server.reply(200, BODY))
    leader = poller(flag_server, session, make(tmp_path / "d.json", clock))
    reader = poller(flag_server, session, make(tmp_path / "d.json", clock))
    assert leader.load_now() is True
    assert reader.load_now() is True
    assert len(flag_server.requests) == 1
    assert reader.ready.is_set() and reader.definitions is not None
    assert list(reader.definitions.by_key) == ["beta"]
    first = reader.definitions
    assert reader.load_now() is True
    assert reader.definitions is first  # the same file is not parsed again


def test_a_304_refreshes_the_file_for_the_readers(flag_server, session, tmp_path, clock) -> None:
    replies = (flag_server.reply(200, BODY, ETag='"v1"'), flag_server.reply(304))
    flag_server.script("GET", DEFAULT_DEFINITIONS_PATH, *replies)
    cache = make(tmp_path / "d.json", clock)
    leader = poller(flag_server, session, cache)
    assert leader.load_now() is True
    clock.now += 50
    assert leader.load_now() is True  # a 304
    clock.now += 50  # 100 s after the 200, 50 s after the 304
    assert make(tmp_path / "d.json", clock).get_flag_definitions() == BODY


@pytest.mark.parametrize("problem", ["stale", "corrupt", "failing"])
def test_without_usable_cache_data_a_reader_polls_itself(
    flag_server, session, tmp_path, clock, problem
) -> None:
    flag_server.script("GET", DEFAULT_DEFINITIONS_PATH, flag_server.reply(200, OTHER))
    holder = make(tmp_path / "d.json", clock)
    assert holder.should_fetch_flag_definitions() is True
    holder.on_flag_definitions_received(BODY)
    cache: Any = make(tmp_path / "d.json", clock)
    if problem == "stale":
        clock.now += 61
        holder.should_fetch_flag_definitions()  # the holder is alive, its file is old
    elif problem == "corrupt":
        (tmp_path / "d.json").write_text("{garbage")
    else:
        cache = Failing()
    reader = poller(flag_server, session, cache)
    assert reader.load_now() is True
    assert len(flag_server.requests) == 1
    assert reader.definitions is not None and list(reader.definitions.by_key) == ["gamma"]


class Failing:
    """A provider whose every call fails: the poller must carry on without it."""

    def should_fetch_flag_definitions(self) -> bool:
        return False

    def get_flag_definitions(self) -> Optional[Mapping[str, Any]]:
        raise OSError("cache backend unreachable")

    def on_flag_definitions_received(self, data: Mapping[str, Any]) -> None:
        raise OSError("cache backend unreachable")

    def shutdown(self) -> None:
        raise OSError("cache backend unreachable")


def test_stop_releases_the_lease(flag_server, session, tmp_path, clock) -> None:
    flag_server.script("GET", DEFAULT_DEFINITIONS_PATH, flag_server.reply(200, BODY))
    leader = poller(flag_server, session, make(tmp_path / "d.json", clock))
    assert leader.load_now() is True
    other = make(tmp_path / "d.json", clock)
    assert other.should_fetch_flag_definitions() is False
    leader.stop()
    assert other.should_fetch_flag_definitions() is True
