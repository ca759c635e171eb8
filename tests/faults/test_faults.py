"""Issue 9, "silent loss, duplicates and hangs": one test per defect, against real servers.

Each defect test talks to a fault-injecting server of ``tests.faults.servers`` through
the public API only (``Client``, its options, promises, ``on('error')``, ``flush``,
``shutdown``, ``stats``), so it holds whatever the delivery internals become; each
failed on the code before the fix (it was written, and checked, as a strict xfail).
The ``test_control_*`` tests prove each server really misbehaves
the way its defect needs (and that the boundaries of a fix hold), so a broken server
cannot make a defect test pass.

Times asserted here are ceilings that only a hang breaks ("settled within 3 s with
``timeout=0.5``"), never speed. Every wait is bounded, and the module has a hard
per-test timeout, so a regression fails instead of freezing the suite.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type, TypeVar

import pytest

import analytics_compat
from analytics_compat import (
    DeliveryError,
    HTTPStatusError,
    MessagePromise,
    RetriesExhaustedError,
    ShutdownTimeoutError,
    TransportError,
    ValidationError,
)
from tests.faults.servers import (
    EchoServer,
    FaultServer,
    Garbage2xxServer,
    HungServer,
    RecordingServer,
    RedirectServer,
    TrickleServer,
)

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
KEY = "phc_probe_0123456789abcdefghijklmnop"
FAST = {"retry_backoff": 0.01, "max_retry_backoff": 0.05, "timeout": 2.0}
HOLD = {"flushAt": 100, "flush_policy": "posthog", "flushAfter": 60_000, "timerInterval": 60_000}

S = TypeVar("S", bound=FaultServer)


class Lab:
    """Servers and clients of one test. Teardown closes the servers first (cutting held
    connections, so no worker stays blocked), then shuts the clients down."""

    def __init__(self) -> None:
        self.servers: List[FaultServer] = []
        self.clients: List[analytics_compat.Client] = []

    def serve(self, server: S) -> S:
        self.servers.append(server)
        return server

    def client(self, server: FaultServer, **options: Any) -> analytics_compat.Client:
        client = analytics_compat.Client({"secret": KEY, "host": server.url, **FAST, **options})
        self.clients.append(client)
        return client

    def close(self) -> None:
        for server in self.servers:
            server.close()
        for client in self.clients:
            client.shutdown(1.0)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


def track(client: analytics_compat.Client, name: str, **props: Any) -> MessagePromise:
    return client.track({"userId": "fault-user", "event": name, "properties": props})


def root_cause(error: Optional[DeliveryError]) -> Optional[DeliveryError]:
    """The error behind a RetriesExhaustedError (``max_retries=0`` may still wrap it)."""
    while isinstance(error, RetriesExhaustedError):
        error = error.last_error
    return error


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def raw_exchange(
    server: FaultServer, request: bytes, *, read_for: float = 2.0
) -> Tuple[bytes, List[float]]:
    """Send raw bytes, read the answer until EOF or ``read_for`` s; returns the bytes
    and the arrival time of each recv (to see a trickle)."""
    got = b""
    arrivals: List[float] = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(request)
        end = time.monotonic() + read_for
        while (left := end - time.monotonic()) > 0:
            conn.settimeout(left)
            try:
                chunk = conn.recv(65536)
            except (socket.timeout, ConnectionError):
                break
            if not chunk:
                break
            got += chunk
            arrivals.append(time.monotonic())
    return got, arrivals


def post_bytes(path: str, body: bytes, **headers: str) -> bytes:
    fields = {"Host": "127.0.0.1", "Content-Length": str(len(body)), **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body


# -- defect 1: redirects ---------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_fails_the_batch_at_once_and_is_not_followed(lab: Lab, status: int) -> None:
    """A 3xx to POST /batch/ fails the batch with an HTTPStatusError naming the status and
    the Location, without a retry and without any request to the Location."""
    server = lab.serve(RedirectServer(status))
    client = lab.client(server, flushAt=1, max_retries=3)
    errors: List[Any] = []
    client.on("error", errors.append)
    promise = track(client, "redirected")
    assert promise.wait(5), "the message never settled"
    error = promise.error
    seen = [(r.method, r.path) for r in server.requests]
    assert isinstance(error, HTTPStatusError), f"{error!r}; the server saw {seen}"
    assert error.status_code == status
    assert error.retryable is False
    assert str(status) in str(error) and server.location in str(error), str(error)
    assert seen == [("POST", "/batch/")], "the redirect was followed or the batch retried"
    assert server.at_target() == []
    assert any(e is error for e in errors), errors
    assert client.stats["delivered"] == 0 and client.stats["failed"] == 1


# -- defect 2: a 2xx with a body that cannot be read -----------------------------------------
@pytest.mark.parametrize("kind", Garbage2xxServer.KINDS)
def test_a_2xx_is_delivered_once_whatever_its_body(lab: Lab, kind: str) -> None:
    """bad gzip, bad chunked encoding or a short body on a 200: delivered, sent once."""
    server = lab.serve(Garbage2xxServer(kind))
    client = lab.client(server, flushAt=1, max_retries=3)
    errors: List[Any] = []
    client.on("error", errors.append)
    flushed = threading.Event()
    promise = track(client, "garbage 2xx")
    promise.on("flush", flushed.set)
    assert promise.wait(5), "the message never settled"
    assert promise.error is None, f"{promise.error!r} after {len(server.requests)} requests"
    assert flushed.wait(1), "the promise's flush listener was not called"
    assert len(server.requests) == 1, f"the batch was sent {len(server.requests)} times"
    assert client.stats["delivered"] == 1 and client.stats["failed"] == 0
    assert errors == []


# -- defect 3: timeout bounds an attempt, not a read -----------------------------------------
@pytest.mark.parametrize(("where", "status"), [("headers", 200), ("body", 503)])
def test_a_trickling_answer_fails_within_timeout_and_frees_the_worker(
    lab: Lab, where: str, status: int
) -> None:
    """Status line then one byte every 200 ms for 30 s, ``timeout=0.5``, no retries: the
    message fails within 3 s, and the next message (answered normally) is delivered."""
    server = lab.serve(TrickleServer(where=where, status=status, duration=30.0, trickle_first=1))
    client = lab.client(server, timeout=0.5, max_retries=0, flushAt=1)
    start = time.monotonic()
    first = track(client, "first")
    second = track(client, "second")
    settled = first.wait(3.0)
    elapsed = time.monotonic() - start
    assert settled, f"pending after {elapsed:.1f} s; {server.bytes_trickled} bytes trickled"
    cause = root_cause(first.error)
    if where == "headers":  # no complete answer ever came
        assert isinstance(cause, TransportError), repr(first.error)
    else:
        assert isinstance(cause, (TransportError, HTTPStatusError)), repr(first.error)
    assert second.wait(3.0), "the worker was still held after the first message failed"
    assert second.error is None, repr(second.error)
    assert [[e["event"] for e in r.events] for r in server.requests] == [["first"], ["second"]]


def test_a_trickling_2xx_body_does_not_hold_the_worker(lab: Lab) -> None:
    """A 200 whose body trickles: the message settles (delivered, per defect 2, or failed)
    within 3 s with ``timeout=0.5``, and the next message is delivered."""
    server = lab.serve(TrickleServer(where="body", status=200, duration=30.0, trickle_first=1))
    client = lab.client(server, timeout=0.5, max_retries=0, flushAt=1)
    first = track(client, "first")
    second = track(client, "second")
    assert first.wait(3.0), f"pending; {server.bytes_trickled} bytes trickled"
    assert second.wait(3.0) and second.error is None, repr(second.error)
    assert len(server.requests) == 2


# -- defect 4: shutdown and exit with a hung server ------------------------------------------
def test_shutdown_with_a_hung_server_settles_every_message_by_the_deadline(lab: Lab) -> None:
    """One message in flight (hung), four queued: ``shutdown(1)`` returns within 2 s and
    every one of them has failed with ShutdownTimeoutError, its listener called."""
    server = lab.serve(HungServer())
    client = lab.client(server, flushAt=1, timeout=10.0, max_retries=3)
    outcomes: List[Tuple[int, Any]] = []
    promises = []
    for i in range(5):
        promise = track(client, f"m{i}")
        promise.on("flush", lambda i=i: outcomes.append((i, None)))
        promise.on("error", lambda error, i=i: outcomes.append((i, error)))
        promises.append(promise)
    server.wait_requests(1)  # the first message is in flight, held by the server
    start = time.monotonic()
    clean = client.shutdown(1.0)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0, f"shutdown(1.0) took {elapsed:.1f} s"
    pending = [i for i, p in enumerate(promises) if not p.done()]
    assert pending == [], f"still pending after shutdown returned: {pending}"
    assert all(isinstance(p.error, ShutdownTimeoutError) for p in promises), [
        repr(p.error) for p in promises
    ]
    assert wait_until(lambda: len(outcomes) >= 5, 1.0), outcomes
    assert sorted(i for i, _ in outcomes) == [0, 1, 2, 3, 4]
    assert clean is False
    assert len(server.requests) == 1, "an attempt was started after the deadline"


def script_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONWARNINGS", None)
    return env


def test_exit_with_a_hung_server_reports_every_message_within_shutdown_timeout(
    lab: Lab,
) -> None:
    """Exit test: 1,000 events tracked against a hung server, main returns without
    shutdown(), ``shutdown_timeout=1``. The process is gone within shutdown_timeout +
    1 s of main returning (+0.5 s for interpreter teardown on a loaded box), and every
    one of the 1,000 promises reported ``error`` ShutdownTimeoutError, none twice."""
    server = lab.serve(HungServer())
    shutdown_timeout, count = 1.0, 1000
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "exit_hung.py"), server.url, str(count), "1"],
        capture_output=True,
        text=True,
        timeout=20,  # before the test's own 30 s: run() kills the child on timeout
        env=script_env(),
        cwd=str(ROOT),
    )
    exited = time.time()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    returned = [float(line.split()[1]) for line in proc.stdout.splitlines() if "returning" in line]
    assert len(returned) == 1, proc.stdout[-2000:]
    took = exited - returned[0]
    assert took < shutdown_timeout + 1.0 + 0.5, f"the process took {took:.1f} s to exit"
    reported: Dict[int, List[str]] = {}
    for line in proc.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "error":
            n, reason = rest.split()
            reported.setdefault(int(n), []).append(reason)
        elif kind == "flush":
            reported.setdefault(int(rest), []).append("flush")
    missing = sorted(set(range(count)) - set(reported))
    assert missing == [], f"{len(missing)} of {count} never reported: {missing[:10]}"
    assert all(len(r) == 1 for r in reported.values()), "a promise settled twice"
    reasons = {r[0] for r in reported.values()}
    assert reasons == {"ShutdownTimeoutError"}, reasons


# -- defect 5: the shutdown deadline covers the flag poller ----------------------------------
def test_shutdown_deadline_covers_the_flag_poller_with_a_hung_server(lab: Lab) -> None:
    """A personal API key, definitions and capture requests both hung: shutdown(0.5)
    returns within 1.5 s."""
    server = lab.serve(HungServer())
    client = lab.client(
        server, personal_api_key="phx_probe_personal_0123456789", timeout=5.0, flushAt=1
    )
    assert server.wait_for(lambda rs: any(r.method == "GET" for r in rs)), server.requests
    track(client, "in flight")
    assert server.wait_for(lambda rs: any(r.method == "POST" for r in rs)), server.requests
    start = time.monotonic()
    client.shutdown(0.5)
    elapsed = time.monotonic() - start
    assert elapsed < 1.5, f"shutdown(0.5) took {elapsed:.2f} s"


# -- defect 6: BaseException in a listener ---------------------------------------------------
RAISERS = [
    ("client_flush", SystemExit),
    ("client_error", SystemExit),
    ("promise_flush", SystemExit),
    ("promise_error", SystemExit),
    ("flush_callback", SystemExit),
    ("client_flush", KeyboardInterrupt),
    ("promise_flush", GeneratorExit),
]


def _listener_scenario(
    lab: Lab, place: str, exc: Type[BaseException]
) -> Tuple[analytics_compat.Client, RecordingServer, List[MessagePromise], threading.Event]:
    """Two messages in one batch with a raising listener on its path (the batch fails
    with 400 for the ``*_error`` places), then whatever the first flush gives."""
    server = lab.serve(RecordingServer(script=(400,) if place.endswith("_error") else ()))
    client = lab.client(server, max_retries=0, **HOLD)
    raised = threading.Event()

    def boom(*args: Any) -> None:
        raised.set()
        raise exc("raised by a user's listener")

    first = track(client, "first")  # held (HOLD) until flush: listeners attach in time
    if place == "client_flush":
        client.on("flush", boom)
    elif place == "client_error":
        client.on("error", boom)
    elif place == "promise_flush":
        first.on("flush", boom)
    elif place == "promise_error":
        first.on("error", boom)
    second = track(client, "second")
    if place == "flush_callback":
        client.flush(boom)
        assert raised.wait(5), "the flush callback was never called"
    else:
        assert client.flush(timeout=2.0).settled, (
            "the batch with the raising listener never settled"
        )
        assert raised.is_set()
    pending = [name for name, p in (("first", first), ("second", second)) if not p.done()]
    assert pending == [], f"the batch's flush completed with {pending} still pending"
    return client, server, [first, second], raised


@pytest.mark.parametrize(("place", "exc"), RAISERS, ids=[f"{p}-{e.__name__}" for p, e in RAISERS])
def test_a_listener_raising_base_exception_does_not_kill_the_worker(
    lab: Lab, caplog: pytest.LogCaptureFixture, place: str, exc: Type[BaseException]
) -> None:
    """The raising listener's batch settles, a later message is delivered, flush returns
    True, and the exception is logged, not propagated."""
    client, server, (first, second), _ = _listener_scenario(lab, place, exc)
    third = track(client, "third")
    assert client.flush(timeout=2.0), "a message tracked after the listener raised never settled"
    assert third.error is None, repr(third.error)
    assert first.done() and second.done()
    if place.endswith("_error"):
        assert isinstance(first.error, HTTPStatusError), repr(first.error)
        assert isinstance(second.error, HTTPStatusError), repr(second.error)
        assert [e["event"] for e in server.stored()] == ["third"]
    else:
        assert first.error is None and second.error is None
        assert [e["event"] for e in server.stored()] == ["first", "second", "third"]
    logged = [
        r
        for r in caplog.records
        if (r.exc_info and r.exc_info[0] is exc) or exc.__name__ in r.getMessage()
    ]
    assert logged, f"the {exc.__name__} was not logged"


def test_control_a_listener_raising_an_exception_is_contained(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    """The harness of defect 6 with a plain Exception, which is contained today."""
    client, server, (first, second), _ = _listener_scenario(lab, "promise_flush", ValueError)
    third = track(client, "third")
    assert client.flush(timeout=5.0)
    assert [p.error for p in (first, second, third)] == [None, None, None]
    assert [e["event"] for e in server.stored()] == ["first", "second", "third"]
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


# -- defect 7: lone surrogates ---------------------------------------------------------------
ODD = "ok\ud800"
FIXED = "ok\ufffd"
SURROGATE_CASES: Dict[str, Tuple[Dict[str, Any], Callable[[Dict[str, Any]], Any], Any]] = {
    "property_key": ({"properties": {ODD: 1}}, lambda e: e["properties"].get(FIXED), 1),
    "property_value": ({"properties": {"v": ODD}}, lambda e: e["properties"].get("v"), FIXED),
    "nested_value": (
        {"properties": {"v": {"list": [ODD]}}},
        lambda e: e["properties"]["v"]["list"],
        [FIXED],
    ),
    "event_name": ({"event": ODD}, lambda e: e["event"], FIXED),
    "distinct_id": ({"userId": ODD}, lambda e: e["distinct_id"], FIXED),
}


@pytest.mark.parametrize("case", list(SURROGATE_CASES))
def test_a_lone_surrogate_is_replaced_and_never_fails_its_neighbours(lab: Lab, case: str) -> None:
    """Between two good events, to a server that refuses lone surrogates as serde_json
    does: all three are delivered, the odd one with U+FFFD in place of the surrogate."""
    fields, read, expected = SURROGATE_CASES[case]
    server = lab.serve(RecordingServer(reject_lone_surrogates=True))
    client = lab.client(server, max_retries=0, **HOLD)
    before = track(client, "before")
    odd = client.track({"userId": "fault-user", "event": "odd", **fields})
    after = track(client, "after")
    assert client.flush(timeout=5)
    assert before.error is None and after.error is None, repr(before.error)
    assert odd.error is None, repr(odd.error)
    stored = server.stored()
    assert len(stored) == 3, [r.status for r in server.requests]
    assert stored[0]["event"] == "before" and stored[2]["event"] == "after"
    assert read(stored[1]) == expected, stored[1]


def test_control_recording_server_rejects_lone_surrogates_like_serde_json(lab: Lab) -> None:
    server = lab.serve(RecordingServer(reject_lone_surrogates=True))

    def status(body: bytes) -> bytes:
        got, _ = raw_exchange(server, post_bytes("/batch/", body))
        return got.split(b"\r\n", 1)[0]

    assert status(b'{"batch": [{"event": "ok\\ud83d\\ude00"}]}') == b"HTTP/1.1 200 OK"
    assert status(b'{"batch": [{"event": "ok\\ud800"}]}') == b"HTTP/1.1 400 Bad Request"
    assert status(b'{"batch": [{"ok\\udc00": 1}]}') == b"HTTP/1.1 400 Bad Request"
    assert status(b'{"batch": [{"event": "ok\xed\xa0\x80"}]}') == b"HTTP/1.1 400 Bad Request"
    assert [e["event"] for e in server.stored()] == ["ok\U0001f600"]


# -- defect 8: integers JSON cannot carry to PostHog -----------------------------------------
BIG_INTS: Dict[str, Tuple[Callable[[analytics_compat.Client], Any], str]] = {
    "track_property_10e5000": (
        lambda c: c.track({"userId": "u", "event": "e", "properties": {"n": 10**5000}}),
        "properties.n",
    ),
    "track_property_10e400": (
        lambda c: c.track({"userId": "u", "event": "e", "properties": {"n": 10**400}}),
        "properties.n",
    ),
    "track_property_minus_10e400": (
        lambda c: c.track({"userId": "u", "event": "e", "properties": {"n": -(10**400)}}),
        "properties.n",
    ),
    "track_userId_10e5000": (lambda c: c.track({"userId": 10**5000, "event": "e"}), "userId"),
    "capture_distinct_id_10e5000": (lambda c: c.capture(10**5000, "e"), "distinct_id"),
    "capture_property_10e400": (lambda c: c.capture("u", "e", {"n": 10**400}), "properties.n"),
}


@pytest.mark.parametrize("case", list(BIG_INTS))
def test_an_integer_json_cannot_carry_is_a_validation_error_at_call_time(
    lab: Lab, case: str
) -> None:
    call, field = BIG_INTS[case]
    server = lab.serve(RecordingServer())
    client = lab.client(server, flushAt=1)
    with pytest.raises(ValidationError) as caught:
        call(client)
    assert caught.value.field == field
    assert client.stats["queued"] == 0
    assert client.flush(timeout=5)
    assert server.requests == []


def test_control_large_integers_posthog_reads_are_accepted(lab: Lab) -> None:
    """The boundary of defect 8's fix: i64 and u64 range integers are sent as they are."""
    server = lab.serve(RecordingServer())
    client = lab.client(server, **HOLD)
    props = {"max": 2**63, "min": -(2**63), "e18": 10**18}
    first = client.track({"userId": 10**18, "event": "big ints", "properties": props})
    second = client.capture(10**18, "big ints", props)
    assert client.flush(timeout=5)
    assert first.error is None and second.error is None
    stored = server.stored()
    assert len(stored) == 2
    for event in stored:
        assert event["distinct_id"] == str(10**18)
        assert {k: event["properties"][k] for k in props} == props


# -- defect 9: an error answer that echoes the request body ----------------------------------
def leaks(text: str) -> List[str]:
    """Fragments of KEY found in ``text``.

    "phc_" alone is the public, generic prefix of every project key, so the shortest
    fragment checked is 8 characters: ``KEY[:8]`` finds every prefix of 8 or more (each
    contains it), and every other 8-character window of KEY finds a partial key shown
    without its start (a "...mnop"-style mask of 4 characters stays allowed).
    """
    return [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text]


def test_an_echoed_error_body_never_shows_the_key_or_a_prefix_of_it(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    """400 answers quoting the request body after 0, 20, 40, ... 1180 filler bytes, so the
    key straddles any cut a redaction might make: no error text, repr or log record of
    any logger at DEBUG holds 8 or more characters of the key."""
    caplog.set_level(logging.DEBUG)
    server = lab.serve(EchoServer(status=400, prefix=lambda index: 20 * index))
    client = lab.client(server, gzip=False, flushAt=1, max_retries=0)
    reported: List[Any] = []
    client.on("error", reported.append)
    promises = [track(client, f"echo {i}") for i in range(60)]
    assert all(p.wait(10) for p in promises), "not every message settled"
    echoed = server.requests[0].text
    assert echoed is not None and KEY in echoed, "the client did not send the key in the body"
    for promise in promises:
        error = promise.error
        assert isinstance(error, HTTPStatusError) and error.status_code == 400, repr(error)
        for text in (str(error), repr(error), repr(error.args)):
            assert leaks(text) == [], text
    assert len(reported) == 60
    for error in reported:
        assert leaks(str(error)) == [] and leaks(repr(error)) == [], str(error)
    for record in caplog.records:
        assert leaks(record.getMessage()) == [], (record.name, record.getMessage())
    assert leaks(caplog.text) == []


# -- controls: each server really does what its defect needs ---------------------------------
@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_control_recording_server_stores_a_normal_batch(lab: Lab, compress: bool) -> None:
    server = lab.serve(RecordingServer())
    client = lab.client(server, gzip=compress, **HOLD)
    promises = [track(client, f"e{i}", n=i) for i in range(3)]
    assert client.flush(timeout=5)
    assert [p.error for p in promises] == [None, None, None]
    (request,) = server.requests
    assert (request.method, request.path, request.status) == ("POST", "/batch/", 200)
    assert request.headers.get("content-encoding") == ("gzip" if compress else None)
    assert request.body["api_key"] == KEY
    assert [(e["event"], e["properties"]["n"]) for e in server.stored()] == [
        ("e0", 0),
        ("e1", 1),
        ("e2", 2),
    ]
    assert client.stats["delivered"] == 3


def test_control_recording_server_plays_its_script(lab: Lab) -> None:
    server = lab.serve(RecordingServer(script=(400,)))
    client = lab.client(server, flushAt=1, max_retries=0)
    failed = track(client, "failed")
    assert failed.wait(5) and isinstance(failed.error, HTTPStatusError)
    delivered = track(client, "delivered")
    assert delivered.wait(5) and delivered.error is None
    assert [r.status for r in server.requests] == [400, 200]
    assert [e["event"] for e in server.stored()] == ["delivered"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_control_redirect_server_redirects_to_a_target_that_answers_get(
    lab: Lab, status: int
) -> None:
    server = lab.serve(RedirectServer(status))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", "/batch/", body=b'{"batch": []}')
    first = conn.getresponse()
    first.read()
    assert first.status == status and first.getheader("Location") == server.location
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", server.target)
    second = conn.getresponse()
    assert second.status == 200 and second.read() == b'{"status": 1}'
    conn.close()
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/batch/"),
        ("GET", server.target),
    ]


@pytest.mark.parametrize("kind", Garbage2xxServer.KINDS)
def test_control_garbage_2xx_server_sends_a_broken_body(lab: Lab, kind: str) -> None:
    server = lab.serve(Garbage2xxServer(kind))
    got, _ = raw_exchange(server, post_bytes("/batch/", b'{"batch": []}'))
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    headers = head.lower()
    if kind == "bad_gzip":
        assert b"content-encoding: gzip" in headers
        with pytest.raises(OSError):
            gzip.decompress(body)
    elif kind == "bad_chunked":
        assert b"transfer-encoding: chunked" in headers
        with pytest.raises(ValueError):
            int(body.split(b"\r\n", 1)[0], 16)
    else:
        assert b"content-length: 1000" in headers
        assert len(body) < 1000 and json.loads(body) == {"status": 1}
    assert server.requests[0].status == 200


@pytest.mark.parametrize("where", ["headers", "body"])
def test_control_trickle_server_trickles(lab: Lab, where: str) -> None:
    server = lab.serve(TrickleServer(where=where, status=200, duration=30.0))
    got, arrivals = raw_exchange(server, post_bytes("/batch/", b"{}"), read_for=1.2)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n"), got
    if where == "headers":
        assert b"\r\n\r\n" not in got, "the header block ended"
        trickled = got.split(b"X-Trickle: ", 1)[1]
    else:
        trickled = got.split(b"\r\n\r\n", 1)[1]
        assert b"content-length: 1000000" in got.lower()
    # ~6 bytes in 1.2 s, spread out; not the whole answer at once. (Gaps between recvs
    # are not asserted: a reader delayed on a loaded box sees two bytes close together.)
    assert 2 <= len(trickled) <= 10, trickled
    assert arrivals[-1] - arrivals[0] >= 0.3, arrivals


def test_control_trickle_server_answers_normally_after_trickle_first(lab: Lab) -> None:
    server = lab.serve(TrickleServer(where="headers", trickle_first=1))
    client = lab.client(server, flushAt=1, max_retries=0)
    raw_exchange(server, post_bytes("/batch/", b"{}"), read_for=0.3)  # takes the trickle
    promise = track(client, "after the trickle")
    assert promise.wait(5) and promise.error is None
    assert [e["event"] for e in server.stored()] == ["after the trickle"]


def test_control_hung_server_reads_and_never_answers(lab: Lab) -> None:
    server = lab.serve(HungServer())
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(post_bytes("/batch/", b'{"batch": [{"event": "held"}]}'))
        (request,) = server.wait_requests(1)
        assert request.events == [{"event": "held"}] and request.status is None
        conn.settimeout(1.0)
        with pytest.raises(socket.timeout):
            conn.recv(1)
        server.close()
        conn.settimeout(5.0)
        with contextlib.suppress(ConnectionResetError):  # a reset is a cut too
            assert conn.recv(1) == b"", "close() did not cut the held connection"


def test_control_echo_server_echoes_the_body_after_the_prefix(lab: Lab) -> None:
    server = lab.serve(EchoServer(status=400, prefix=lambda index: 7 + index))
    body = json.dumps({"api_key": KEY, "batch": []}).encode()
    for index in range(2):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("POST", "/batch/", body=body)
        response = conn.getresponse()
        assert response.status == 400
        assert response.read() == b"x" * (7 + index) + body
        conn.close()
