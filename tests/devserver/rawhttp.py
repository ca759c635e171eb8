"""Raw HTTP/1.1 over a socket, for requests a client library would normalise or refuse."""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Optional

import attrs


@attrs.frozen
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.frozen
class Exchange:
    responses: list[RawResponse]
    closed: bool  # the server closed the connection after its last answer


def _parse(buffer: bytes) -> tuple[Optional[RawResponse], bytes]:
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None, buffer
    lines = buffer[:head_end].decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    pairs = [(h[0], h[1]) for h in headers if len(h) == 2]
    length = next((int(v) for k, v in pairs if k.lower() == "content-length"), 0)
    start = head_end + 4
    if len(buffer) < start + length:
        return None, buffer
    return RawResponse(status, pairs, buffer[start : start + length]), buffer[start + length :]


def exchange(
    port: int,
    data: bytes,
    *,
    expect: Optional[int] = None,
    idle_s: float = 5.0,
    total_s: float = 30.0,
) -> Exchange:
    """Send ``data`` on one connection; collect every answer until the server closes it,
    ``expect`` answers have come (then the connection may stay open), or it stays
    silent for ``idle_s`` seconds."""
    responses: list[RawResponse] = []
    buffer = b""
    closed = False
    deadline = time.monotonic() + total_s
    with socket.create_connection(("127.0.0.1", port), timeout=idle_s) as sock:
        sock.sendall(data)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buffer += chunk
            while True:
                response, buffer = _parse(buffer)
                if response is None:
                    break
                responses.append(response)
            if expect is not None and len(responses) >= expect:
                break
    return Exchange(responses, closed)


def request(
    method: str,
    target: str,
    port: int,
    *,
    headers: Optional[list[tuple[str, str]]] = None,
    body: bytes = b"",
    host: Optional[str] = None,
) -> bytes:
    """The bytes of one request; ``Host`` defaults to 127.0.0.1:<port>."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + body
