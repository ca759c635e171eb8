"""The socket layer: a ``ThreadingHTTPServer`` and its request handler.

Owns reading requests: framing checked by ``_framing`` for every method before
anything past the headers is read (a refusal closes the connection), a body on a
method without one (anything but POST, PUT and PATCH) refused rather than left to be
parsed as the next request, the body limit
(``Content-Length`` over ``MAX_BODY_BYTES`` is answered 413 unread), the ``Host`` and
same-origin checks and CORS headers of ``_security`` per route, 404/405/OPTIONS,
writing responses, keep-alive, access logging without query strings
(a project token may travel in one), and tracking open connections so that
``stop()`` can close them and return promptly.

It knows nothing about events, persons or flags: everything else is ``App.handle``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from ._app import App, Route, route_for
from ._decoding import MAX_BODY_BYTES
from ._errors import RequestError
from ._framing import check_framing
from ._messages import Request, Response
from ._security import Access, check_same_origin, cors_headers

__all__ = ["DevHTTPServer"]

logger = logging.getLogger("analytics_compat.devserver")

#: An oversize body up to this size is read and discarded so the client sees the 413
#: (instead of a reset connection); anything larger is answered and the connection shut.
_DRAIN_LIMIT = 4 * MAX_BODY_BYTES
_IDLE_TIMEOUT_S = 30.0
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class DevHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections can all be closed on shutdown."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="devserver-connection",
            daemon=True,
        )
        with self._conn_lock:
            self._conns.add(request)
            self._conn_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.discard(request)
                self._conn_threads.discard(threading.current_thread())

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut every open connection down and wait for their threads to finish."""
        with self._conn_lock:
            conns = list(self._conns)
            threads = list(self._conn_threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("devserver: internal error while answering a request")


class _Handler(BaseHTTPRequestHandler):
    server: DevHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "analytics-compat-devserver"
    timeout = _IDLE_TIMEOUT_S
    # headers and body go out in separate writes: without this, Nagle + delayed ACK
    # add ~40 ms to every keep-alive response
    disable_nagle_algorithm = True
    # the checked headers of the request being answered (empty until framing passed)
    _headers: dict[str, str] = {}
    # the route being answered (None: unknown path, or not known yet)
    _route_of: Optional[Route] = None

    # BaseHTTPRequestHandler writes every request line to stderr, query string included.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_POST

    def _dispatch(self) -> None:
        method = self.command
        split = urlsplit(self.path)
        path = split.path or "/"
        app = self.server.app
        self._headers = {}
        self._route_of = None
        try:
            app.run_hooks(method, path)
            response = self._route(method, path, split.query)
        except OSError:
            # the client went away or stalled mid-body: nobody to answer
            self.close_connection = True
            return
        except Exception:
            logger.exception("devserver: internal error answering %s %s", method, path)
            self.close_connection = True
            if self._route_of is None:
                response = Response.json(500, {"type": "server_error", "detail": "internal error"})
            else:
                error = RequestError(500, "internal_error", "internal error")
                response = Response.error(self._route_of.errors(error))
        gzip = self._headers.get("content-encoding", "").lower() in ("gzip", "x-gzip")
        # recorded before writing, so a client that has its answer also sees the record
        app.record(method, path, response, gzip)
        if response.events is not None:
            logger.info(
                "%s %s -> %d (%d events, %d new)",
                method,
                path,
                response.status,
                response.events,
                response.inserted or 0,
            )
        else:
            logger.info("%s %s -> %d", method, path, response.status)
        self._write(response, head_only=method == "HEAD")

    def _refuse(self, error: RequestError) -> Response:
        """Answer ``error`` and close: the rest of the connection cannot be trusted."""
        self.close_connection = True
        return Response.error(error)

    def _route(self, method: str, path: str, query: str) -> Response:
        try:
            framing = check_framing(self.headers)
        except RequestError as error:
            return self._refuse(error)
        self._headers = framing.headers
        try:
            self.server.app.host_policy.check(
                framing.headers.get("host"), http_11=self.request_version != "HTTP/1.0"
            )
        except RequestError as error:
            return self._refuse(error)
        route = route_for(path)
        if route is None:
            self._skip_body(framing.length)
            return Response.json(404, {"type": "not_found", "detail": "no such endpoint"})
        if route.access is Access.SAME_ORIGIN:
            try:
                check_same_origin(framing.headers)
            except RequestError as error:
                return self._refuse(error)
        self._route_of = route
        allowed = route.methods
        if method == "OPTIONS":
            self._skip_body(framing.length)
            methods = ", ".join((*allowed, "OPTIONS"))
            headers = [("Allow", methods)]
            if route.access is Access.BROWSER_SDK:
                headers.append(("Access-Control-Allow-Methods", methods))
            return Response(status=204, headers=tuple(headers))
        if method not in allowed:
            self._skip_body(framing.length)
            return Response.json(
                405,
                {"type": "method_not_allowed", "detail": f"use {' or '.join(allowed)}"},
                headers=(("Allow", ", ".join((*allowed, "OPTIONS"))),),
            )
        if method not in _WITH_BODY:
            if framing.length:
                # never read as the next request, never silently skipped either
                return self._refuse(
                    RequestError(400, "unexpected_body", f"a {method} request has no body")
                )
            body = b""
        else:
            try:
                body = self._read_body(framing.length)
            except RequestError as error:
                return Response.error(route.errors(error))
        request = Request(
            method=method,
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers=framing.headers,
            body=body,
        )
        return self.server.app.handle(request)

    def _read_body(self, length: Optional[int]) -> bytes:
        if length is None:
            self.close_connection = True
            raise RequestError(411, "length_required", "send a Content-Length")
        if length > MAX_BODY_BYTES:
            self._skip_body(length)
            raise RequestError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise RequestError(400, "truncated_body", "the body is shorter than Content-Length")
        return body

    def _skip_body(self, length: Optional[int]) -> None:
        """Read a well-framed body nobody wants, so the connection stays in step."""
        if not length:
            return
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _write(self, response: Response, *, head_only: bool) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            access = None if self._route_of is None else self._route_of.access
            for name, value in cors_headers(access):
                self.send_header(name, value)
            for name, value in response.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if response.body and not head_only and response.status != 304:
                self.wfile.write(response.body)
            self.wfile.flush()
        except (ConnectionError, socket.timeout):
            self.close_connection = True
