"""The shared definitions cache across real processes: 8 pollers, one of them polling.

Eight subprocesses (as gunicorn or celery workers of one host) each run a
``DefinitionsPoller`` against the loopback server, polling every 0.1 s, with and
without a ``FileDefinitionsCache``. Requests are counted at the server over the same
window. A killed polling process is replaced by another one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from analytics_compat.flags import DEFAULT_DEFINITIONS_PATH

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(os.name != "posix", reason="fcntl")]

CHILD = Path(__file__).with_name("definitions_cache_child.py")
PROCESSES = 8
INTERVAL = 0.1
WINDOW = 2.0  # seconds of steady polling measured, once every process is ready
BODY = {
    "flags": [{"id": 1, "key": "beta", "active": True, "filters": {"groups": [{}]}}],
    "group_type_mapping": {},
    "cohorts": {},
}


class Children:
    def __init__(self, url: str, cache: Optional[Path]) -> None:
        cache_arg = str(cache) if cache else "-"
        self.procs: List[subprocess.Popen[str]] = []
        for n in range(PROCESSES):
            command = [sys.executable, str(CHILD), url, cache_arg, str(INTERVAL), f"child-{n}"]
            self.procs.append(
                subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )

    def wait_ready(self) -> List[str]:
        lines = []
        for proc in self.procs:
            assert proc.stdout is not None
            lines.append(proc.stdout.readline().strip())
        return lines

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def spawn(flag_server: Any) -> Iterator[Any]:
    started: List[Children] = []

    def start(cache: Optional[Path]) -> Children:
        children = Children(flag_server.url, cache)
        started.append(children)
        return children

    yield start
    for children in started:
        children.stop()


def count_requests_over_window(flag_server: Any, children: Children) -> int:
    ready = children.wait_ready()
    assert ready == [f"ready child-{n} beta" for n in range(PROCESSES)]
    before = len(flag_server.requests)
    time.sleep(WINDOW)  # steady state: the pollers' own intervals do the work
    return len(flag_server.requests) - before


def test_eight_processes_share_one_poller_through_the_file(flag_server, spawn, tmp_path) -> None:
    flag_server.script("GET", DEFAULT_DEFINITIONS_PATH, flag_server.reply(200, BODY))
    alone = spawn(None)
    without = count_requests_over_window(flag_server, alone)
    startup = len(flag_server.requests) - without
    alone.stop()
    flag_server.requests.clear()
    shared = spawn(tmp_path / "definitions.json")
    with_cache = count_requests_over_window(flag_server, shared)
    startup_with_cache = len(flag_server.requests) - with_cache
    polls_of_one = WINDOW / INTERVAL  # 20
    print(f"requests in {WINDOW}s with {PROCESSES} processes polling every {INTERVAL}s: "
          f"without cache {without} (+{startup} before the window), "
          f"with cache {with_cache} (+{startup_with_cache})")  # fmt: skip
    assert without >= PROCESSES * polls_of_one * 0.5  # every process polls
    assert with_cache <= polls_of_one * 1.5 + 2  # one process polls
    # From start-up on, one process only: the others waited for its first write.
    assert len({r.headers.get("x-child") for r in flag_server.requests}) == 1


def test_a_killed_polling_process_is_replaced(flag_server, spawn, tmp_path) -> None:
    flag_server.script("GET", DEFAULT_DEFINITIONS_PATH, flag_server.reply(200, BODY))
    children = spawn(tmp_path / "definitions.json")
    assert len(children.wait_ready()) == PROCESSES
    assert flag_server.wait_for_requests(3)
    leader = flag_server.requests[-1].headers["x-child"]
    children.procs[int(leader.split("-")[1])].send_signal(signal.SIGKILL)
    children.procs[int(leader.split("-")[1])].wait(10)
    seen = len(flag_server.requests)
    deadline = time.monotonic() + 20
    successor = None
    while successor is None and time.monotonic() < deadline:
        flag_server.wait_for_requests(seen + 1, timeout=1.0)
        newer = {r.headers["x-child"] for r in flag_server.requests[seen:]} - {leader}
        successor = next(iter(newer), None)
    assert successor is not None and successor != leader
    taken = len(flag_server.requests)
    assert flag_server.wait_for_requests(taken + 5)
    assert {r.headers["x-child"] for r in flag_server.requests[taken:]} == {successor}
