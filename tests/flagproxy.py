"""A real HTTP proxy on 127.0.0.1 (port 0) in front of a dev server, for the flag API tests.

Forwards every request (definitions, ``/flags``, event batches) to the dev server and
keeps the JSON body of each ``/flags`` request, so a test can read exactly what the
client asked for. ``flags_mode`` turns the ``/flags`` answer into a fault the way a
real PostHog can produce one: ``"quota"`` (200 with ``quotaLimited``), ``"errors"``
(200, no flags, ``errorsWhileComputingFlags``), ``"500"``, or ``"drop"`` (the
connection closes without an answer). Nothing patches ``requests``.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import requests

_HOP = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


class FlagProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.flags_mode = "forward"
        self.flag_bodies: List[Dict[str, Any]] = []
        self.paths: List[str] = []
        self._lock = threading.Lock()
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with proxy._lock:
                    proxy.paths.append(path)
                if self.command == "POST" and path.rstrip("/") == "/flags":
                    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
                    with proxy._lock:
                        proxy.flag_bodies.append(json.loads(data))
                    mode = proxy.flags_mode
                    if mode == "drop":
                        self.close_connection = True
                        return
                    if mode == "500":
                        return self._answer(500, b'{"detail": "scripted"}', {})
                    if mode in ("quota", "errors"):
                        body = {"flags": {}, "quotaLimited": ["feature_flags"],
                                "errorsWhileComputingFlags": False}  # fmt: skip
                        if mode == "errors":
                            body = {"flags": {}, "errorsWhileComputingFlags": True}
                        return self._answer(200, json.dumps(body).encode(), {})
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                answer = proxy._session.request(
                    self.command, proxy.upstream + self.path, data=raw, headers=headers,
                    timeout=10,
                )  # fmt: skip
                keep = {k: v for k, v in answer.headers.items() if k.lower() == "etag"}
                self._answer(answer.status_code, answer.content, keep)

            def _answer(self, status: int, body: bytes, headers: Dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            do_GET = _handle
            do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def flag_requests(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self.flag_bodies)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
        self._session.close()
