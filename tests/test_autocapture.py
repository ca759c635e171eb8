"""Exception autocapture: ``sys.excepthook`` and ``threading.excepthook``, chained, once.

The uncaught exceptions are raised in real subprocesses (an uncaught exception in a
thread of the test process would be pytest's business); their events are read at a
real HTTP server. Installing and removing the hooks is checked in process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from typing import Any, Callable, Dict, List

from analytics_compat import Client
from analytics_compat._excepthooks import installed
from tests.sink import Sink
from tests.test_lifecycle import ROOT, SCRIPTS, script_env


def run_autocapture(sink: Sink, mode: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "autocapture.py"), sink.url, mode],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
        cwd=str(ROOT),
    )
    assert "analytics-compat" not in proc.stderr, proc.stderr  # nothing of ours went wrong
    return proc


def exceptions(sink: Sink) -> List[Dict[str, Any]]:
    return [e for e in sink.delivered() if e["event"] == "$exception"]


def test_uncaught_exceptions_in_a_worker_thread_and_the_main_thread_are_captured_once(
    sink: Sink,
) -> None:
    proc = run_autocapture(sink, "plain")
    assert proc.returncode == 1, proc.stderr  # what Python exits with for an uncaught exception
    # The hooks that were there before are called, once each, and Python still reports.
    assert proc.stderr.count("PREVIOUS-SYS-HOOK") == 1, proc.stderr
    assert proc.stderr.count("PREVIOUS-THREAD-HOOK") == 1, proc.stderr
    assert "RuntimeError: from the main thread" in proc.stderr
    assert "ValueError: from the worker thread" in proc.stderr
    events = exceptions(sink)
    by_type = {e["properties"]["$exception_list"][0]["type"]: e for e in events}
    assert sorted(by_type) == ["RuntimeError", "ValueError"] and len(events) == 2
    main, worker = by_type["RuntimeError"]["properties"], by_type["ValueError"]["properties"]
    assert main["$exception_level"] == "fatal"
    assert main["$exception_source"] == "python.sys_excepthook"
    assert worker["$exception_level"] == "error"
    assert worker["$exception_source"] == "python.threading_excepthook"
    for props in (main, worker):
        assert props["$exception_list"][0]["mechanism"]["type"] == "onuncaughtexception"
        assert props["$exception_list"][0]["mechanism"]["handled"] is False
        assert props["$process_person_profile"] is False  # no distinct id anywhere
    frames = worker["$exception_list"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "worker_raises" and frames[-1]["in_app"] is True


def test_an_exception_captured_by_a_context_is_not_captured_again_by_the_hook(
    sink: Sink,
) -> None:
    proc = run_autocapture(sink, "context")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("PREVIOUS-SYS-HOOK") == 1
    events = exceptions(sink)
    types = Counter(e["properties"]["$exception_list"][0]["type"] for e in events)
    assert types == {"RuntimeError": 1, "ValueError": 1}, types
    (main,) = [e for e in events if e["properties"]["$exception_list"][0]["type"] == "RuntimeError"]
    assert main["properties"]["where"] == "main"  # captured inside the context, with its tags
    assert main["properties"]["$exception_list"][0]["mechanism"]["handled"] is True


def test_system_exit_keeps_its_status_and_is_not_an_error(sink: Sink) -> None:
    proc = run_autocapture(sink, "exit")
    assert proc.returncode == 3, proc.stderr
    assert "PREVIOUS-THREAD-HOOK" in proc.stderr  # still handed on, as Python would
    assert exceptions(sink) == []


def test_every_autocapturing_client_gets_the_exception(sink: Sink) -> None:
    proc = run_autocapture(sink, "two")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("PREVIOUS-SYS-HOOK") == 1
    main = [
        e
        for e in exceptions(sink)
        if e["properties"]["$exception_list"][0]["type"] == "RuntimeError"
    ]
    assert len(main) == 2
    keys = {r.body["api_key"] for r in sink.requests if any(e in main for e in r.batch)}
    assert keys == {"phc_autocapture", "phc_second"}


def test_hooks_are_installed_once_and_removed_when_the_last_client_shuts_down(
    make_client: Callable[..., Client],
) -> None:
    before_sys, before_thread = sys.excepthook, threading.excepthook
    first = make_client(enable_exception_autocapture=True)
    hooked_sys = sys.excepthook
    second = make_client(enable_exception_autocapture=True)
    assert sys.excepthook is hooked_sys  # installed once, not wrapped twice
    assert installed() == {"sys": True, "thread": True, "receivers": True}
    assert first.enable_exception_autocapture and second.enable_exception_autocapture
    first.shutdown(2)
    assert installed()["sys"] is True
    second.shutdown(2)
    assert sys.excepthook is before_sys and threading.excepthook is before_thread
    assert installed() == {"sys": False, "thread": False, "receivers": False}


def test_a_hook_installed_on_top_of_ours_is_never_cut_out(
    make_client: Callable[..., Client],
) -> None:
    original = sys.excepthook
    client = make_client(enable_exception_autocapture=True)
    ours = sys.excepthook
    seen: List[str] = []

    def theirs(*args: Any) -> None:
        seen.append("theirs")
        ours(*args)

    sys.excepthook = theirs
    try:
        client.shutdown(2)
        assert sys.excepthook is theirs  # left in place: it chains to ours
        again = make_client(enable_exception_autocapture=True)
        assert sys.excepthook is theirs  # ours is still in the chain: not installed twice
        again.shutdown(2)
    finally:
        sys.excepthook = ours  # "they" uninstall, handing back to ours: the last client out
        make_client(enable_exception_autocapture=True).shutdown(2)  # restores the original
    assert sys.excepthook is original
