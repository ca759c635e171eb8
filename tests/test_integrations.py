"""The WSGI and ASGI middlewares under real servers: wsgiref and uvicorn on 127.0.0.1.

Each app has an endpoint that raises, one that streams (and captures an event while
it streams), and one that fails mid-stream. The events are read at a real HTTP
server (``Sink``): an exception arrives with the request's tags and the identity from
its ``X-POSTHOG-*`` headers; the server's own error handling still answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from analytics_compat import Client, get_tags
from analytics_compat.integrations import ASGIMiddleware, WSGIMiddleware
from tests.sink import Sink

HEADERS = {"X-PostHog-Distinct-Id": "header-user", "x-posthog-SESSION-id": "header-session"}


def exceptions(sink: Sink, count: int) -> List[Dict[str, Any]]:
    sink.wait_for(count)
    return [e for e in sink.delivered() if e["event"] == "$exception"]


def assert_request_exception(event: Dict[str, Any], path: str, message: str, source: str) -> None:
    props = event["properties"]
    assert event["distinct_id"] == "header-user"
    assert props["$session_id"] == "header-session"
    assert props["$request_method"] == "GET" and props["$request_path"] == path
    assert props["$current_url"].endswith(path) and "?" not in props["$current_url"]
    assert props["$exception_source"] == source
    (entry,) = props["$exception_list"]
    assert entry["value"] == message
    assert entry["mechanism"]["type"] == "middleware" and entry["mechanism"]["handled"] is False


# -- WSGI under wsgiref ---------------------------------------------------------------------
class Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(WSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a broken connection after a failed stream is expected here


class Closing:
    """A lazy WSGI body that records its close() (PEP 3333: the server must call it)."""

    def __init__(self, chunks: Iterator[bytes], closed: List[str]) -> None:
        self._chunks = chunks
        self._closed = closed

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._closed.append("closed")


@pytest.fixture
def wsgi_app(make_client: Callable[..., Client]) -> Iterator[Dict[str, Any]]:
    client = make_client(flushAt=1)
    closed: List[str] = []

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ["PATH_INFO"]
        if path == "/boom":
            raise RuntimeError("wsgi boom")
        start_response("200 OK", [("Content-Type", "text/plain")])
        if path == "/list":
            return [b"as a list"]

        def stream() -> Iterator[bytes]:
            yield b"one,"
            client.capture("streamer", "while streaming")  # runs as the server iterates
            yield b"two,"
            if path == "/stream-fail":
                raise ValueError("wsgi failed mid-stream")
            yield b"three"

        return Closing(stream(), closed)

    server = make_server(
        "127.0.0.1", 0, WSGIMiddleware(app, client), server_class=QuietServer, handler_class=Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "closed": closed}
    server.shutdown()
    server.server_close()


def test_wsgi_an_unhandled_exception_is_captured_with_the_requests_tags_then_re_raised(
    wsgi_app: Dict[str, Any], sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    answer = requests.get(wsgi_app["url"] + "/boom?token=secret", headers=HEADERS, timeout=10)
    assert answer.status_code == 500  # wsgiref's own error handling answered
    (event,) = exceptions(sink, 1)
    assert_request_exception(event, "/boom", "wsgi boom", "wsgi.middleware")
    assert "secret" not in str(event["properties"])  # the query string is left out


def test_wsgi_streaming_runs_in_the_requests_context_and_closes_the_body(
    wsgi_app: Dict[str, Any], sink: Sink
) -> None:
    answer = requests.get(wsgi_app["url"] + "/stream", headers=HEADERS, timeout=10)
    assert answer.status_code == 200 and answer.content == b"one,two,three"
    (event,) = sink.wait_for(1)
    assert event["event"] == "while streaming"
    assert event["properties"]["$request_path"] == "/stream"
    assert event["properties"]["$session_id"] == "header-session"
    deadline = time.monotonic() + 10
    while not wsgi_app["closed"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wsgi_app["closed"] == ["closed"]
    assert get_tags() == {}  # nothing leaked into this thread


def test_wsgi_an_exception_mid_stream_is_captured(wsgi_app: Dict[str, Any], sink: Sink) -> None:
    try:
        body = requests.get(wsgi_app["url"] + "/stream-fail", headers=HEADERS, timeout=10).content
    except requests.RequestException:
        body = None
    assert body in (None, b"one,two,")  # cut short: the server saw the exception
    events = exceptions(sink, 2)
    assert len(events) == 1
    assert_request_exception(events[0], "/stream-fail", "wsgi failed mid-stream", "wsgi.middleware")


def test_wsgi_a_finished_body_is_returned_as_it_is() -> None:
    body = [b"ready"]
    middleware = WSGIMiddleware(lambda environ, start: body, Client({"secret": "x", "send": False}))
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}
    assert middleware(environ, lambda *a: None) is body  # its length still tells the server


# -- ASGI under uvicorn ---------------------------------------------------------------------
@pytest.fixture
def asgi_app(make_client: Callable[..., Client]) -> Iterator[Dict[str, Any]]:
    uvicorn = pytest.importorskip("uvicorn")
    client = make_client(flushAt=1)
    lifespan: List[Any] = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                lifespan.append((message["type"], get_tags()))
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("asgi boom")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for chunk in (b"one,", b"two,"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0.01)
        client.capture("streamer", "while streaming")
        if path == "/stream-fail":
            raise ValueError("asgi failed mid-stream")
        await send({"type": "http.response.body", "body": b"three", "more_body": False})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        ASGIMiddleware(app, client), lifespan="on", log_level="critical", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    yield {"url": f"http://127.0.0.1:{sock.getsockname()[1]}", "lifespan": lifespan}
    server.should_exit = True
    thread.join(20)
    sock.close()


def test_asgi_an_unhandled_exception_is_captured_with_the_requests_tags_then_re_raised(
    asgi_app: Dict[str, Any], sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL + 1, logger="uvicorn.error")
    answer = requests.get(asgi_app["url"] + "/boom?token=secret", headers=HEADERS, timeout=10)
    assert answer.status_code == 500  # uvicorn's own error handling answered
    (event,) = exceptions(sink, 1)
    assert_request_exception(event, "/boom", "asgi boom", "asgi.middleware")
    assert "secret" not in str(event["properties"])


def test_asgi_streaming_runs_in_the_requests_context(asgi_app: Dict[str, Any], sink: Sink) -> None:
    answer = requests.get(asgi_app["url"] + "/stream", headers=HEADERS, timeout=10)
    assert answer.status_code == 200 and answer.content == b"one,two,three"
    (event,) = sink.wait_for(1)
    assert event["event"] == "while streaming"
    assert event["properties"]["$request_path"] == "/stream"
    assert event["properties"]["$session_id"] == "header-session"
    # Lifespan messages reached the app untouched, outside any request's context.
    assert asgi_app["lifespan"] == [("lifespan.startup", {})]


def test_asgi_an_exception_mid_stream_is_captured(asgi_app: Dict[str, Any], sink: Sink) -> None:
    with pytest.raises(requests.RequestException):  # uvicorn cuts the chunked body short
        requests.get(asgi_app["url"] + "/stream-fail", headers=HEADERS, timeout=10)
    events = exceptions(sink, 2)
    assert len(events) == 1
    assert_request_exception(events[0], "/stream-fail", "asgi failed mid-stream", "asgi.middleware")


def test_asgi_websocket_and_lifespan_scopes_pass_through_untouched() -> None:
    calls: List[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send, get_tags()))

    async def receive() -> Dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        pass

    middleware = ASGIMiddleware(app, Client({"secret": "x", "send": False}))
    for kind in ("websocket", "lifespan", "custom"):
        scope = {"type": kind, "path": "/ws", "headers": [(b"x-posthog-distinct-id", b"u")]}
        asyncio.run(middleware(scope, receive, send))
        assert calls[-1] == (scope, receive, send, {})
        assert calls[-1][0] is scope
