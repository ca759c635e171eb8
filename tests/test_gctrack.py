"""A message waiting in a deep queue is out of CPython's cyclic collector (issue 9).

Tracked, each queued message is walked by every collection and, once it has outlived
two, promoted until the interpreter runs a full collection over the whole heap inside
some caller's ``track()`` (35-45 ms every ~50,000 calls of a flood, measured). These
tests hold the queue with the triggers (a real server on 127.0.0.1 behind it) and
check what the collector sees: messages behind ``UNTRACK_DEPTH`` others are not
tracked and still delivered exactly once; a failed message is tracked again, so a
cycle through its error is freed; a forked child hands its copies back.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref
from typing import Any, Callable, List

import pytest

import analytics_compat
from analytics_compat._gctrack import UNTRACK_DEPTH, retrack, untracker
from tests.sink import Sink

HELD = {"flushAt": 100_000, "flushInterval": 3_600_000, "maxQueueSize": 10_000}
CPYTHON = sys.implementation.name == "cpython"
pytestmark = pytest.mark.skipif(not CPYTHON, reason="untracking is CPython's C API")


def _track_many(client: analytics_compat.Client, count: int) -> List[Any]:
    return [
        client.track({"userId": f"u{i}", "event": "deep", "properties": {"i": i}})
        for i in range(count)
    ]


def test_messages_behind_a_deep_queue_are_untracked_and_delivered_once(
    make_client: Callable[..., analytics_compat.Client], sink: Sink
) -> None:
    client = make_client(HELD)
    gc.collect()
    before = len(gc.get_objects())
    promises = _track_many(client, 2_000)
    tracked = [gc.is_tracked(p) for p in promises]
    assert all(tracked[:UNTRACK_DEPTH])
    assert not any(tracked[UNTRACK_DEPTH:])
    # What the collector walks grew by the first hundred, not by two thousand.
    gc.collect()
    assert len(gc.get_objects()) - before < UNTRACK_DEPTH + 200
    assert client.flush(timeout=20)
    sent = [e["properties"]["i"] for e in sink.delivered()]
    assert sorted(sent) == list(range(2_000))
    assert all(p.state.value == "flushed" for p in promises)


def test_a_failed_message_is_tracked_again_and_a_cycle_through_its_error_is_freed(
    make_client: Callable[..., analytics_compat.Client], sink: Sink
) -> None:
    sink.respond(400)  # not retried: every message of the batch fails
    client = make_client(HELD)
    client.on("error", lambda *_: None)  # heard: not logged (a log record would keep it)
    promises = _track_many(client, UNTRACK_DEPTH + 50)
    last = promises[-1]
    assert not gc.is_tracked(last)
    errors: List[Any] = []

    held = [last]

    def keep(error: Any) -> None:  # error -> promise -> error: a cycle
        error.promise = held[0]
        errors.append(weakref.ref(error))

    last.on("error", keep)
    client.flush(timeout=20)
    assert last.state.value == "failed"
    assert all(gc.is_tracked(p) for p in promises)
    assert errors
    client.track({"userId": "u", "event": "after"})  # the batcher keeps a batch's tail
    assert client.flush(timeout=20)  # for flushes: now this one's, not the failed one's
    held.clear()
    del promises, last, keep
    gc.collect()
    assert errors[0]() is None, "an untracked promise kept its error's cycle alive"


def test_retrack_is_a_no_op_on_a_tracked_object_and_untrack_then_retrack_round_trips() -> None:
    class Box:
        pass

    box = Box()
    retrack(box)  # tracked already: CPython would abort on tracking it twice
    assert gc.is_tracked(box)
    untracker()(box)
    assert not gc.is_tracked(box)
    retrack(box)
    retrack(box)
    assert gc.is_tracked(box)


def test_a_forked_child_gives_the_parents_queued_copies_back_to_the_collector(
    sink: Sink,
) -> None:
    if not hasattr(__import__("os"), "fork"):
        pytest.skip("needs fork")
    script = textwrap.dedent(
        f"""
        import gc, os, sys
        import analytics_compat
        client = analytics_compat.Client({{"secret": "phc_fork", "host": {sink.url!r},
            "flushAt": 100000, "flushInterval": 3600000}})
        held = [client.track({{"userId": "u", "event": "e"}}) for _ in range(500)]
        assert not gc.is_tracked(held[-1])
        pid = os.fork()
        if pid == 0:
            os._exit(0 if all(gc.is_tracked(p) for p in held) else 3)
        _, status = os.waitpid(pid, 0)
        assert not gc.is_tracked(held[-1])  # the parent still sends them
        client.shutdown(10)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
