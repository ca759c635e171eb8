"""The socket side of a capture request: a connection whose every step obeys a clock.

Owns ``AttemptClock`` (when the attempt under way must end: its own timeout, or the
shutdown deadline if that is nearer, read at every step), ``timed_socket`` (what
``http.client`` is given instead of its socket, so each read and write gets only
what is left, and a blocked read wakes to see a deadline set meanwhile),
``dropped`` (a kept-alive connection the server closed), the TLS context (the CA
bundle ``requests`` would trust) and the proxy for a URL (explicit, else from the
environment as ``requests`` reads it, ``NO_PROXY`` included).

Knows nothing about HTTP messages, protocols or what is sent.
"""

from __future__ import annotations

import base64
import errno
import http.client
import io
import os
import select
import socket
import ssl
import time
import urllib.parse
from typing import Any, Mapping, Optional, Union

from ._outcome import Deadline

__all__ = [
    "AttemptClock",
    "ProxyRoute",
    "dropped",
    "open_connection",
    "proxy_for",
    "timed_socket",
    "tls_context",
]

MIN_ATTEMPT = 0.05  # even past the shutdown deadline an attempt gets this long
ProxyRoute = tuple[str, int, dict[str, str]]  # host, port, headers for the proxy


class AttemptClock:
    """The end of the attempt under way; every socket operation gets what is left.

    The shutdown ``Deadline`` may be set while the attempt runs: it is read at every
    step, so an attempt begun before shutdown still ends by the shutdown's deadline
    (though never sooner than ``MIN_ATTEMPT`` after it began).
    """

    __slots__ = ("deadline", "end", "floor")

    def __init__(self) -> None:
        self.end = self.floor = 0.0
        self.deadline: Optional[Deadline] = None

    def start(self, timeout: float, deadline: Deadline) -> None:
        now = time.monotonic()
        self.end = now + timeout
        self.floor = now + MIN_ATTEMPT
        self.deadline = deadline

    def left(self) -> float:
        end = self.end
        at = self.deadline.at if self.deadline is not None else None
        if at is not None and at < end:
            end = max(at, self.floor)
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the attempt's time limit passed")
        return remaining


_SLICE = 0.25  # a blocked read wakes this often to see whether shutdown moved the end


class _Reader(io.RawIOBase):
    """The response side of a socket, each read bounded by the attempt's clock."""

    def __init__(self, owner: _TimedSocket) -> None:
        self._owner = owner
        self._sock = owner.sock
        self._clock = owner.clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            self._sock.settimeout(min(self._clock.left(), _SLICE))
            try:
                return self._sock.recv_into(buffer)
            except socket.timeout:
                continue  # left() raises once the attempt's time is up

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.reader_closed()


class _TimedSocket:
    """What ``http.client`` sees as its socket: writes and reads obey the clock.

    Like ``socket.makefile``, a reader keeps the socket open: ``http.client`` closes
    the connection as soon as it has the head of an answer that ends with the
    connection (``Connection: close``) and reads the body afterwards from the reader.
    """

    def __init__(self, sock: socket.socket, clock: AttemptClock) -> None:
        self.sock = sock
        self.clock = clock
        self._readers = 0
        self._closing = False

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # in slices, so a deadline set meanwhile (shutdown) is seen
            self.sock.settimeout(min(self.clock.left(), _SLICE))
            try:
                sent = self.sock.send(view)
            except socket.timeout:
                continue  # left() raises once the attempt's time is up
            view = view[sent:]

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self._closing = True
        if self._readers <= 0:
            self.sock.close()


def timed_socket(sock: socket.socket, clock: AttemptClock) -> Any:
    """What to give ``http.client`` as the connection's socket."""
    return _TimedSocket(sock, clock)


def _wait(sock: socket.socket, writable: bool, timeout: float) -> bool:
    if hasattr(select, "poll"):  # no FD_SETSIZE limit
        poller = select.poll()
        poller.register(sock, select.POLLOUT if writable else select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    ready = (
        select.select([], [sock], [], timeout)[1]
        if writable
        else select.select([sock], [], [], timeout)[0]
    )
    return bool(ready)


def _connect(host: str, port: int, clock: AttemptClock) -> socket.socket:
    """A TCP connection made in slices of the clock (a deadline set meanwhile is seen).
    Name resolution itself is the resolver's and is not bounded here."""
    error: Optional[OSError] = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            code = sock.connect_ex(address)
            while code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EAGAIN):
                if _wait(sock, True, min(clock.left(), _SLICE)):
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            sock.setblocking(True)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


def _handshake(sock: ssl.SSLSocket, clock: AttemptClock) -> None:
    while True:  # in slices, as everything else
        sock.settimeout(min(clock.left(), _SLICE))
        try:
            sock.do_handshake()
            return
        except socket.timeout:
            continue


class _Response(http.client.HTTPResponse):
    """An answer, past any informational ``1xx`` (``103 Early Hints``) before it."""

    def _read_status(self) -> Any:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 101 < status < 200:
                return version, status, reason  # http.client itself skips 100
            while self.fp.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # the informational answer's headers


class _Connection(http.client.HTTPConnection):
    clock: AttemptClock
    response_class = _Response

    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, self.clock)
        if self._tunnel_host:  # type: ignore[attr-defined]
            self.sock.settimeout(self.clock.left())
            self._tunnel()  # type: ignore[attr-defined]


class _TLSConnection(http.client.HTTPSConnection):
    clock: AttemptClock
    response_class = _Response

    def connect(self) -> None:
        sock = _connect(self.host, self.port, self.clock)
        if self._tunnel_host:  # type: ignore[attr-defined]
            sock.settimeout(self.clock.left())
            self.sock = sock
            self._tunnel()  # type: ignore[attr-defined]
        name = self._tunnel_host or self.host  # type: ignore[attr-defined]
        tls = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=name, do_handshake_on_connect=False
        )
        _handshake(tls, self.clock)
        self.sock = tls


def open_connection(
    scheme: str, host: str, port: int, clock: AttemptClock, tunnel: Optional[ProxyRoute]
) -> http.client.HTTPConnection:
    """A connection to ``host:port`` (a proxy's, when ``tunnel`` names where to go
    through it), connected, with a socket whose every step obeys ``clock``."""
    conn: Union[_Connection, _TLSConnection]
    if scheme == "https":
        conn = _TLSConnection(host, port, context=tls_context())
        if tunnel is not None:
            conn.set_tunnel(tunnel[0], tunnel[1], headers=tunnel[2])
    else:
        conn = _Connection(host, port)
    conn.clock = clock
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sock = timed_socket(conn.sock, clock)
    conn.auto_open = 0  # reconnect only through a new open_connection: sockets stay timed
    return conn


def dropped(conn: http.client.HTTPConnection) -> bool:
    """A kept-alive connection the server closed (or wrote to unasked) cannot be reused."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_TLS: Optional[ssl.SSLContext] = None


def tls_context() -> ssl.SSLContext:
    """One TLS context per process, trusting what ``requests`` would trust."""
    global _TLS
    if _TLS is None:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if not bundle:
            try:
                import certifi  # installed with requests

                bundle = certifi.where()
            except ImportError:  # pragma: no cover - requests depends on certifi
                bundle = None
        _TLS = ssl.create_default_context(cafile=bundle)
    return _TLS


def proxy_for(url: str, proxies: Optional[Mapping[str, str]]) -> Optional[ProxyRoute]:
    """The proxy for ``url`` (host, port, CONNECT headers): explicit, else the environment."""
    if proxies is None:
        from requests.utils import get_environ_proxies  # honours NO_PROXY as requests does

        proxies = get_environ_proxies(url)
    scheme = urllib.parse.urlsplit(url).scheme
    chosen = proxies.get(scheme) or proxies.get("all")
    if not chosen:
        return None
    parts = urllib.parse.urlsplit(chosen if "://" in chosen else f"http://{chosen}")
    headers: dict[str, str] = {}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {token}"
    return parts.hostname or "", parts.port or 8080, headers
