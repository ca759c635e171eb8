"""A TCP proxy on 127.0.0.1 (port 0) that forwards HTTP/1.1 requests to a backend and
loses the answers to the first ``lose`` of them: the backend has acted on the request,
the client sees its connection close unanswered, as when a network drops a reply.
That makes a client retry a request the server already stored.

It reads each message by its ``Content-Length`` (the devserver always sends one) and
records the headers of every request it forwarded. It knows nothing about what the
requests mean.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Dict, List, Optional, Tuple


def _read_message(sock: socket.socket, buffer: bytes) -> Tuple[Optional[bytes], bytes]:
    """One message (head and body) from ``sock``, and what was read beyond it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def _headers(message: bytes) -> Dict[str, str]:
    lines = message.partition(b"\r\n\r\n")[0].decode("iso-8859-1").split("\r\n")[1:]
    pairs = [line.split(":", 1) for line in lines if ":" in line]
    return {name.strip().lower(): value.strip() for name, value in pairs}


class LosingProxy:
    def __init__(self, backend_port: int, lose: int = 1) -> None:
        self._backend = ("127.0.0.1", backend_port)
        self._to_lose = lose
        self._lock = threading.Lock()
        self.requests: List[Dict[str, str]] = []  # headers of every forwarded request
        self.lost = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, socket.create_connection(self._backend, timeout=30) as upstream:
            buffer = b""
            while True:
                request, buffer = _read_message(conn, buffer)
                if request is None:
                    return
                upstream.sendall(request)
                response, _ = _read_message(upstream, b"")
                with self._lock:
                    self.requests.append(_headers(request))
                    lose = self.lost < self._to_lose
                    self.lost += lose
                if response is None or lose:
                    return  # the answer is lost: the client's connection just closes
                conn.sendall(response)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
