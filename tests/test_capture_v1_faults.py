"""Issue 9's loss and hang defects, run again with capture v1 on the same fault servers.

v1 reads the body of every answer (its per-event results), so the faults that touch
bodies matter more here than in v0: a 2xx whose body is broken or trickles, an error
body that quotes the key. Redirects are still never followed, and ``timeout`` still
bounds a whole attempt. Times asserted are ceilings only a hang breaks.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator, List

import pytest

import analytics_compat
from analytics_compat import (
    HTTPStatusError,
    MessagePromise,
    RetriesExhaustedError,
    ShutdownTimeoutError,
    TransportError,
)
from tests.faults.servers import (
    FaultServer,
    Garbage2xxServer,
    HungServer,
    RedirectServer,
    Request,
    TrickleServer,
    head,
)

pytestmark = pytest.mark.timeout(30)

KEY = "phc_probe_0123456789abcdefghijklmnop"
PATH = "/i/v1/analytics/events"
FAST = {"retry_backoff": 0.01, "max_retry_backoff": 0.05, "timeout": 2.0}


class Servers:
    def __init__(self) -> None:
        self.servers: List[FaultServer] = []
        self.clients: List[analytics_compat.Client] = []

    def serve(self, server: Any) -> Any:
        self.servers.append(server)
        return server

    def client(self, server: FaultServer, **options: Any) -> analytics_compat.Client:
        merged = {"secret": KEY, "host": server.url, "capture_mode": "v1", **FAST, **options}
        client = analytics_compat.Client(merged)
        self.clients.append(client)
        return client


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.delenv("POSTHOG_CAPTURE_COMPRESSION", raising=False)
    lab = Servers()
    try:
        yield lab
    finally:
        for server in lab.servers:
            server.close()
        for client in lab.clients:
            client.shutdown(1.0)


def track(client: analytics_compat.Client, name: str) -> MessagePromise:
    return client.track({"userId": "fault-user", "event": name})


def cause(error: Any) -> Any:
    while isinstance(error, RetriesExhaustedError):
        error = error.last_error
    return error


class ErrorBodyServer(FaultServer):
    """A v1 error answer whose ``error_description`` quotes ``quote(index)``."""

    def __init__(self, status: int, quote: Any) -> None:
        self.status = status
        self.quote = quote
        super().__init__()

    def answer(self, conn: Any, request: Request, index: int) -> None:
        text = f"token {self.quote(index)} refused"
        body = json.dumps({"error": "invalid_api_token", "error_description": text})
        self.reply(conn, request, self.status, body.encode())


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_fails_at_once_and_is_not_followed(lab: Servers, status: int) -> None:
    server = lab.serve(RedirectServer(status, target="/moved" + PATH))
    client = lab.client(server, flushAt=1, max_retries=3)
    promise = track(client, "redirected")
    assert promise.wait(5), "the message never settled"
    error = promise.error
    assert isinstance(error, HTTPStatusError) and error.status_code == status, repr(error)
    assert error.retryable is False and server.location in str(error)
    assert [(r.method, r.path) for r in server.requests] == [("POST", PATH)]
    assert server.at_target() == []


@pytest.mark.parametrize("kind", Garbage2xxServer.KINDS)
def test_a_2xx_with_a_broken_body_is_delivered_once(lab: Servers, kind: str) -> None:
    server = lab.serve(Garbage2xxServer(kind))
    client = lab.client(server, flushAt=1, max_retries=3)
    promise = track(client, "garbage 2xx")
    assert promise.wait(5), "the message never settled"
    assert promise.error is None, repr(promise.error)
    assert len(server.requests) == 1, f"sent {len(server.requests)} times"


@pytest.mark.parametrize(("where", "status"), [("headers", 200), ("body", 503), ("body", 200)])
def test_a_trickling_answer_is_bounded_by_timeout(lab: Servers, where: str, status: int) -> None:
    """One byte every 200 ms for 30 s, ``timeout=0.5``, no retries: the first message
    settles within 3 s and the next one, answered normally, is delivered."""
    server = lab.serve(TrickleServer(where=where, status=status, duration=30.0, trickle_first=1))
    client = lab.client(server, timeout=0.5, max_retries=0, flushAt=1)
    start = time.monotonic()
    first, second = track(client, "first"), track(client, "second")
    assert first.wait(3.0), f"pending after {time.monotonic() - start:.1f} s"
    if (where, status) == ("body", 200):
        assert first.error is None, "a 2xx whose results never came counts as delivered"
    else:
        assert isinstance(cause(first.error), (TransportError, HTTPStatusError)), first.error
    assert second.wait(3.0) and second.error is None, repr(second.error)
    assert [[e["event"] for e in r.events] for r in server.requests] == [["first"], ["second"]]


def test_shutdown_with_a_hung_server_settles_every_message_by_the_deadline(
    lab: Servers,
) -> None:
    server = lab.serve(HungServer())
    client = lab.client(server, flushAt=1, timeout=10.0, max_retries=3)
    promises = [track(client, f"m{i}") for i in range(5)]
    server.wait_requests(1)
    start = time.monotonic()
    assert client.shutdown(1.0) is False
    assert time.monotonic() - start < 2.0
    assert all(isinstance(p.error, ShutdownTimeoutError) for p in promises), [
        repr(p.error) for p in promises
    ]
    assert len(server.requests) == 1


def test_an_error_description_never_shows_the_key_or_a_prefix_of_it(lab: Servers) -> None:
    server = lab.serve(ErrorBodyServer(401, lambda index: KEY[: 5 + index % (len(KEY) - 4)]))
    client = lab.client(server, flushAt=1, max_retries=0)
    promises = [track(client, f"m{i}") for i in range(len(KEY) - 4)]
    assert all(p.wait(10) for p in promises)
    for promise in promises:
        text = str(promise.error)
        assert "token [redacted] refused" in text, text
        assert KEY[:5] not in text


class SplitAnswerServer(FaultServer):
    """Answers with ``Connection: close`` and the head and the body in two writes 50 ms
    apart, as many servers and proxies do (so the body is not already buffered with the
    head). The body comes from ``body(request)``."""

    def __init__(self, status: int, body: Callable[[Request], bytes]) -> None:
        self.status = status
        self.body = body
        super().__init__()

    def answer(self, conn: Any, request: Request, index: int) -> None:
        body = self.body(request)
        self._mark(request, self.status)
        fields = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        conn.sendall(head(self.status, fields))
        time.sleep(0.05)
        conn.sendall(body)


def drop_the_first(request: Request) -> bytes:
    events = request.events
    results = {e["uuid"]: {"result": "ok"} for e in events}
    results[events[0]["uuid"]] = {"result": "drop", "details": "billing_limit_exceeded"}
    return json.dumps({"results": results}).encode()


def test_results_on_an_answer_that_closes_the_connection_are_read(lab: Servers) -> None:
    """Before the fix the socket was closed with the head, the results were lost and
    every event counted as delivered, its drop unseen."""
    server = lab.serve(SplitAnswerServer(200, drop_the_first))
    client = lab.client(server, flushAt=2, flush_policy="posthog")
    first, second = track(client, "a"), track(client, "b")
    assert first.wait(5) and second.wait(5)
    assert second.error is None
    assert getattr(first.error, "details", None) == "billing_limit_exceeded", repr(first.error)
    third = track(client, "c")  # a new connection after the server closed the last one
    fourth = track(client, "d")
    assert third.wait(5) and fourth.wait(5)
    assert getattr(third.error, "details", None) == "billing_limit_exceeded", repr(third.error)
    assert len(server.requests) == 2


def test_v0_error_detail_on_an_answer_that_closes_the_connection_is_read(lab: Servers) -> None:
    """The same defect in v0: the detail of such an error answer was empty."""
    server = lab.serve(SplitAnswerServer(400, lambda request: b'{"detail": "bad payload"}'))
    client = lab.client(server, capture_mode="v0", flushAt=1)
    promise = track(client, "a")
    assert promise.wait(5)
    assert str(promise.error).endswith(
        '/batch/ answered HTTP 400 (the server said: {"detail": "bad payload"})'
    )
