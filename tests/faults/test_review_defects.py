"""Defects an independent review found, each pinned by the server or the race that broke it.

Every test here failed on the code before its fix: a re-entrant listener deadlocked
``sync_mode``; a forked child used the parent's ``/flags`` connection; the shutdown
deadline did not bound connecting, sending a large body or a 413 split; a v1 request
carried one uuid twice; ``KeyboardInterrupt`` in ``sync_mode`` was swallowed; exit
waited for a ``sync_mode`` send on a non-daemon thread; a fork inside ``register()``
hung the child; drops by a pipeline stage reached no ``error`` listener; a ``103``
answer was taken as final; ``Decimal("1e400")`` passed validation.
"""

from __future__ import annotations

import decimal
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from analytics_compat import (
    Client,
    EventDroppedError,
    PromiseState,
    ShutdownTimeoutError,
    ValidationError,
)
from tests.sink import Sink
from tests.v1server import V1Server

KEY = "phc_review_defects_key"
SCRIPTS = Path(__file__).parent / "scripts"
pytestmark = pytest.mark.timeout(60)


def run_script(name: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )


# -- sync_mode and the immediate calls -------------------------------------------------
def test_a_sync_mode_listener_may_send_again_and_shut_down(sink: Sink) -> None:
    client = Client(secret=KEY, host=sink.url, sync_mode=True)
    again: List[Any] = []
    closed = threading.Event()
    calls = [0]

    def on_flush(info: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:  # the first message's flush: send another from the listener
            again.append(client.track({"userId": "u", "event": "from a listener"}))
        elif calls[0] == 2:  # the second's: shut the client down from the listener
            closed.set()
            client.shutdown(1)

    client.on("flush", on_flush)
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (client.track({"userId": "u", "event": "first"}), done.set())
    )
    thread.start()
    assert done.wait(10), "the calling thread deadlocked on the dispatcher's lock"
    assert again and again[0].state is PromiseState.FLUSHED
    assert closed.wait(5)
    assert [e["event"] for e in sink.delivered()] == ["first", "from a listener"]


def test_keyboard_interrupt_in_a_sync_mode_listener_reaches_the_caller_once(sink: Sink) -> None:
    client = Client(secret=KEY, host=sink.url, sync_mode=True)
    seen: List[str] = []

    def on_flush(info: Any) -> None:
        seen.append("flush")
        raise KeyboardInterrupt

    client.on("flush", on_flush)
    client.on("error", lambda error: seen.append("error"))
    with pytest.raises(KeyboardInterrupt):
        client.track({"userId": "u", "event": "e"})
    assert seen == ["flush"]  # delivered, and not reported failed as well
    assert client.stats["delivered"] == 1 and client.stats["failed"] == 0
    client.shutdown(1)


def test_exit_cuts_a_sync_mode_send_short_on_a_non_daemon_thread() -> None:
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    held: List[socket.socket] = []
    threading.Thread(target=lambda: held.append(hung.accept()[0]), daemon=True).start()
    start = time.monotonic()
    done = run_script("exit_sync_thread.py", f"http://127.0.0.1:{hung.getsockname()[1]}")
    took = time.monotonic() - start
    for sock in (hung, *held):
        sock.close()
    assert done.returncode == 0, done.stderr
    assert "error ShutdownTimeoutError" in done.stdout, done.stdout
    assert took < 6, f"exit took {took:.1f} s with shutdown_timeout=0.5 (the retry cycle is ~10 s)"


# -- fork ---------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_asks_flags_over_its_own_connection() -> None:
    done = run_script("fork_flags_connection.py")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["child_answers"] == ["child-1", "child-2", "child-3"]
    assert report["parent_answers"] == ["parent-1", "parent-2", "parent-3"]
    assert report["shared_connection"] is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_inside_register_does_not_hang_the_child() -> None:
    done = run_script("fork_register_lock.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hung: 0 of 5" in done.stdout


# -- the shutdown deadline bounds every step --------------------------------------------
def test_shutdown_bounds_a_connect_to_a_server_that_never_accepts() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # fill the backlog: further connection attempts hang
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.2)
    client = Client(secret=KEY, host=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=8)
    try:
        promise = client.track({"userId": "u", "event": "e"})
        time.sleep(0.5)  # the worker is connecting
        start = time.monotonic()
        clean = client.shutdown(0.5)
        assert time.monotonic() - start < 1.5
        assert promise.done() and isinstance(promise.error, ShutdownTimeoutError)
        assert clean is False
    finally:
        for sock in (listener, *fillers):
            sock.close()


def test_shutdown_bounds_sending_a_body_the_server_does_not_read() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: List[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    client = Client(
        secret=KEY,
        host=f"http://127.0.0.1:{listener.getsockname()[1]}",
        gzip=False,
        timeout=8,
        flush_at=5,
        flush_policy="posthog",
    )
    try:
        blob = os.urandom(300_000).hex()
        promises = [
            client.track({"userId": "u", "event": "big", "properties": {"b": blob}})
            for _ in range(5)
        ]
        time.sleep(1.0)  # the worker is blocked sending
        start = time.monotonic()
        client.shutdown(0.5)
        assert time.monotonic() - start < 1.5
        assert all(isinstance(p.error, ShutdownTimeoutError) for p in promises)
    finally:
        listener.close()
        for sock in held:
            sock.close()


def test_shutdown_stops_splitting_a_batch_the_server_finds_too_large(sink: Sink) -> None:
    sink.delay = 0.04
    sink.respond(*[413] * 400)
    client = Client(secret=KEY, host=sink.url, flush_at=100, flush_policy="posthog", max_retries=0)
    promises = [client.track({"userId": "u", "event": f"e{i}"}) for i in range(100)]
    time.sleep(0.2)  # splitting is under way
    start = time.monotonic()
    client.shutdown(0.5)
    assert time.monotonic() - start < 1.5
    assert all(p.done() for p in promises)
    assert any(isinstance(p.error, ShutdownTimeoutError) for p in promises)
    assert len(sink.requests) < 60, "requests went on after the deadline"


# -- what one request may carry -------------------------------------------------------------
def test_two_messages_with_one_uuid_never_share_a_v1_request(v1: V1Server) -> None:
    given = "0b8f0a3e-0e9c-4a52-9d1f-6bd4f3f5e0c1"
    client = Client(secret=KEY, host=v1.url, capture_mode="v1", flush_at=5, flush_policy="posthog")
    try:
        promises = [
            client.capture("e", distinct_id="u", uuid=given if i < 2 else None) for i in range(5)
        ]
        assert client.flush(timeout=10)
        assert all(p.state is PromiseState.FLUSHED for p in promises)
        for request in v1.requests:
            uuids = [e["uuid"] for e in request.events]
            assert len(uuids) == len(set(uuids))
    finally:
        client.shutdown(2)


def test_an_informational_answer_before_the_real_one_is_skipped() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        conn, _ = listener.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(
            next(x for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")).split(
                b":"
            )[1]
        )
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    client = Client(secret=KEY, host=f"http://127.0.0.1:{listener.getsockname()[1]}", max_retries=0)
    try:
        promise = client.track({"userId": "u", "event": "e"})
        assert promise.wait(5) and promise.error is None
    finally:
        client.shutdown(1)
        listener.close()


# -- reasons reach the listeners ----------------------------------------------------------
def test_a_stage_drop_reaches_the_error_listeners_and_on_error(sink: Sink) -> None:
    heard: List[Any] = []
    items: List[Any] = []
    client = Client(
        secret=KEY,
        host=sink.url,
        before_send=lambda event: None,
        on_error=lambda error, messages: items.extend(messages),
    )
    client.on("error", heard.append)
    try:
        promise = client.capture("dropped", distinct_id="u")
        assert isinstance(promise.error, EventDroppedError)
        assert heard == [promise.error]
        assert [m["event"] for m in items] == ["dropped"]
    finally:
        client.shutdown(1)


def test_a_decimal_beyond_a_double_is_a_validation_error(sink: Sink) -> None:
    client = Client(secret=KEY, host=sink.url)
    try:
        with pytest.raises(ValidationError) as info:
            client.track(
                {"userId": "u", "event": "e", "properties": {"price": decimal.Decimal("1e400")}}
            )
        assert info.value.field == "properties.price"
        assert client.stats["queued"] == 0
    finally:
        client.shutdown(1)
