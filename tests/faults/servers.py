"""Fault-injecting HTTP servers on 127.0.0.1 (port 0) for the delivery fault tests.

Raw ``socketserver`` on purpose: an HTTP library would normalise the very answers these
servers exist to get wrong (a gzip header on a plain body, a broken chunk, a short body,
a status line followed by a trickle, no answer at all). Each server reads one request per
connection, records it (``Request``: method, path, headers, body, decoded events, what
was answered), answers according to its fault and closes the connection
(``Connection: close``), so no outcome depends on keep-alive timing.

``close()`` also cuts every open connection, so a client blocked on a hung or trickling
answer is released at once and a failing test cannot hang its own teardown.

The servers know nothing about analytics_compat: they speak HTTP/1.1 and JSON.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import http
import json
import re
import socket
import socketserver
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

__all__ = [
    "EchoServer",
    "FaultServer",
    "Garbage2xxServer",
    "HungServer",
    "RecordingServer",
    "RedirectServer",
    "Request",
    "TrickleServer",
    "has_lone_surrogate",
]

_MAX_HEAD = 64 * 1024
_OK_BODY = b'{"status": 1}'
_SURROGATE = re.compile("[\ud800-\udfff]")


class Request:
    """One request as the server read it, and what the server did with it."""

    def __init__(self, method: str, path: str, headers: Dict[str, str], raw: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers  # names lower-cased
        self.raw = raw  # the body as it came off the wire
        self.at = time.monotonic()
        self.status: Optional[int] = None  # the status answered, set just before sending
        data: Optional[bytes] = raw
        if headers.get("content-encoding") == "gzip":
            try:
                data = gzip.decompress(raw)
            except (OSError, EOFError):
                data = None
        self.data = data  # the body after Content-Encoding (None: not decodable)
        self.text: Optional[str] = None  # the body as strict UTF-8 (None: not UTF-8)
        self.body: Any = None  # the parsed JSON body (None: not JSON)
        if data is not None:
            try:
                self.text = data.decode("utf-8")
                self.body = json.loads(self.text)
            except ValueError:  # UnicodeDecodeError and JSONDecodeError both
                pass

    @property
    def events(self) -> List[Dict[str, Any]]:
        """The events of a ``/batch/`` body (empty for anything else)."""
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("batch"), list):
            return [e for e in body["batch"] if isinstance(e, dict)]
        return []

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path} -> {self.status} ({len(self.raw)} bytes)>"


def has_lone_surrogate(value: Any) -> bool:
    """True if a decoded JSON value holds an unpaired UTF-16 surrogate anywhere.

    ``json.loads`` joins a valid escaped pair into one code point, so any surrogate
    left in a decoded string was alone in the JSON text: what serde_json refuses.
    """
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(item) for item in value)
    return False


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class FaultServer:
    """The recording base: subclasses decide the answer in ``answer``."""

    def __init__(self) -> None:
        self.requests: List[Request] = []
        self.closing = threading.Event()  # set by close(): every held answer gives up
        self._cond = threading.Condition()
        self._connections: Set[socket.socket] = set()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server._handle(self.request)

        self._tcp = _TCPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._tcp.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- what tests read ------------------------------------------------------------
    def stored(self) -> List[Dict[str, Any]]:
        """Every event of every request this server answered with a 2xx."""
        with self._cond:
            answered = [r for r in self.requests if r.status and 200 <= r.status < 300]
            return [e for r in answered for e in r.events]

    def wait_for(self, predicate: Callable[[List[Request]], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(requests)`` holds; False if it did not within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(list(self.requests)), timeout)

    def wait_requests(self, count: int, timeout: float = 5.0) -> List[Request]:
        """Wait for ``count`` requests to have arrived (fails the test if they did not)."""
        if not self.wait_for(lambda requests: len(requests) >= count, timeout):
            raise AssertionError(f"only {len(self.requests)} of {count} requests arrived")
        with self._cond:
            return list(self.requests)

    def close(self) -> None:
        self.closing.set()
        self._tcp.shutdown()
        self._tcp.server_close()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already gone
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving --------------------------------------------------------------------
    def _handle(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(10.0)  # a client that stops mid-request frees this thread
        with self._cond:
            self._connections.add(conn)
        try:
            request = _read_request(conn)
            if request is None:
                return
            with self._cond:
                index = len(self.requests)
                self.requests.append(request)
                self._cond.notify_all()
            self.answer(conn, request, index)
        except OSError:  # the client went away, or close() cut the connection
            pass
        finally:
            with self._cond:
                self._connections.discard(conn)
                self._cond.notify_all()

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        raise NotImplementedError

    def _mark(self, request: Request, status: int) -> None:
        with self._cond:
            request.status = status
            self._cond.notify_all()

    def reply(
        self,
        conn: socket.socket,
        request: Request,
        status: int,
        body: bytes = _OK_BODY,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        """A complete, well-formed answer."""
        fields = {"Content-Type": "application/json", **(headers or {})}
        fields["Content-Length"] = str(len(body))
        self._mark(request, status)  # before sending: the client may act on it at once
        conn.sendall(head(status, fields) + body)


def head(status: int, headers: Dict[str, str]) -> bytes:
    """A status line and header block (``Connection: close`` always)."""
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _read_request(conn: socket.socket) -> Optional[Request]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
        if len(buffer) > _MAX_HEAD:
            return None
    head_bytes, rest = buffer.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = _read_chunked(conn, rest)
    else:
        length = int(headers.get("content-length", "0"))
        raw = rest
        while len(raw) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            raw += chunk
    return Request(method, path, headers, raw)


def _read_chunked(conn: socket.socket, buffer: bytes) -> bytes:
    body = b""
    while True:
        while b"\r\n" not in buffer:
            buffer += _recv(conn)
        size_line, buffer = buffer.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(buffer) < size + 2:
            buffer += _recv(conn)
        if size == 0:
            return body
        body += buffer[:size]
        buffer = buffer[size + 2 :]


def _recv(conn: socket.socket) -> bytes:
    chunk = conn.recv(65536)
    if not chunk:
        raise ConnectionError("the client closed the connection mid-request")
    return chunk


# -- the servers ----------------------------------------------------------------------
class RecordingServer(FaultServer):
    """A normal capture endpoint: 200 ``{"status": 1}`` unless told otherwise.

    ``script``: statuses answered to the first requests, in order (then 200).
    ``reject_lone_surrogates``: answer 400 to a body that is not strict UTF-8 JSON or
    holds an unpaired surrogate anywhere, as PostHog's ingestion (serde_json) does.
    """

    def __init__(self, *, script: Tuple[int, ...] = (), reject_lone_surrogates: bool = False):
        self.script: Deque[int] = collections.deque(script)
        self.reject_lone_surrogates = reject_lone_surrogates
        super().__init__()

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        if self.reject_lone_surrogates and (
            request.body is None or has_lone_surrogate(request.body)
        ):
            body = b'{"type": "validation_error", "code": "invalid_payload"}'
            self.reply(conn, request, 400, body)
            return
        with self._cond:
            status = self.script.popleft() if self.script else 200
        self.reply(conn, request, status, _OK_BODY if status == 200 else b'{"error": "scripted"}')


class RedirectServer(FaultServer):
    """Answers ``status`` with ``Location: {url}{target}`` to every path but ``target``;
    ``target`` answers 200 to anything (a GET included), so following it "works"."""

    def __init__(self, status: int, *, target: str = "/moved/batch/") -> None:
        self.status = status
        self.target = target
        super().__init__()
        self.location = self.url + target

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        if request.path == self.target:
            self.reply(conn, request, 200)
        else:
            self.reply(conn, request, self.status, b"", {"Location": self.location})

    def at_target(self) -> List[Request]:
        with self._cond:
            return [r for r in self.requests if r.path == self.target]


class Garbage2xxServer(FaultServer):
    """A 2xx whose body is broken. ``kind``:

    - ``"bad_gzip"``: ``Content-Encoding: gzip`` on a plain JSON body;
    - ``"bad_chunked"``: ``Transfer-Encoding: chunked`` and a chunk size that is not hex;
    - ``"short_body"``: ``Content-Length: 1000`` and 13 bytes, then the connection closes.
    """

    KINDS = ("bad_gzip", "bad_chunked", "short_body")

    def __init__(self, kind: str, *, status: int = 200) -> None:
        if kind not in self.KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.status = status
        super().__init__()

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        fields = {"Content-Type": "application/json"}
        if self.kind == "bad_gzip":
            fields["Content-Encoding"] = "gzip"
            fields["Content-Length"] = str(len(_OK_BODY))
            payload = _OK_BODY
        elif self.kind == "bad_chunked":
            fields["Transfer-Encoding"] = "chunked"
            payload = b"zz-not-hex\r\n" + _OK_BODY + b"\r\n0\r\n\r\n"
        else:
            fields["Content-Length"] = "1000"
            payload = _OK_BODY
        self._mark(request, self.status)
        conn.sendall(head(self.status, fields) + payload)
        conn.shutdown(socket.SHUT_WR)


class TrickleServer(FaultServer):
    """Sends the status line, then one byte every ``interval`` s for ``duration`` s.

    ``where="headers"``: the bytes are an endless header line, so the header block never
    ends. ``where="body"``: the headers are complete (``Content-Length: 1000000``) and the
    body trickles. ``trickle_first``: only the first N requests trickle (None: all);
    later ones get a normal 200.
    """

    def __init__(
        self,
        *,
        where: str = "headers",
        status: int = 200,
        interval: float = 0.2,
        duration: float = 30.0,
        trickle_first: Optional[int] = None,
    ) -> None:
        if where not in ("headers", "body"):
            raise ValueError(where)
        self.where = where
        self.status = status
        self.interval = interval
        self.duration = duration
        self.trickle_first = trickle_first
        self.bytes_trickled = 0
        super().__init__()

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        if self.trickle_first is not None and index >= self.trickle_first:
            self.reply(conn, request, 200)
            return
        if self.where == "headers":
            start = f"HTTP/1.1 {self.status} {_reason(self.status)}\r\nX-Trickle: ".encode()
        else:
            start = head(self.status, {"Content-Type": "text/plain", "Content-Length": "1000000"})
        self._mark(request, self.status)
        conn.sendall(start)
        end = time.monotonic() + self.duration
        while time.monotonic() < end and not self.closing.wait(self.interval):
            conn.sendall(b"a")
            with self._cond:
                self.bytes_trickled += 1


class HungServer(FaultServer):
    """Reads each request whole, records it, and never answers (until ``close()``)."""

    def __init__(self, *, hold: float = 60.0) -> None:
        self.hold = hold
        super().__init__()

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        self.closing.wait(self.hold)

    def held(self) -> int:
        """Requests read and still unanswered (their connection still open)."""
        with self._cond:
            return len(self._connections)


class EchoServer(FaultServer):
    """Answers ``status`` with a body of ``prefix(index)`` filler bytes and then the
    request body (decoded), as servers that quote the payload in an error do."""

    def __init__(self, *, status: int = 400, prefix: Callable[[int], int] = lambda i: 0):
        self.status = status
        self.prefix = prefix
        super().__init__()

    def answer(self, conn: socket.socket, request: Request, index: int) -> None:
        echoed = request.data if request.data is not None else request.raw
        body = b"x" * self.prefix(index) + echoed
        self.reply(conn, request, self.status, body, {"Content-Type": "text/plain; charset=utf-8"})
