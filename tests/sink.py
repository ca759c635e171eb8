"""A real HTTP server on 127.0.0.1 (port 0) that records batches, for the client tests.

Scriptable: a queue of responses (status, headers) answered in order before
falling back to 200, a per-request delay, and a ``stall`` Event that holds every
request until set. It decodes gzip and keeps every request (path, headers, body,
arrival time) so tests can assert on the wire format.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional, Tuple


class Received:
    def __init__(self, path: str, headers: Dict[str, str], body: Any, raw: bytes) -> None:
        self.path = path
        self.headers = headers
        self.body = body
        self.raw = raw
        self.at = time.monotonic()
        self.status = 200

    @property
    def batch(self) -> List[Dict[str, Any]]:
        return list(self.body.get("batch", [])) if isinstance(self.body, dict) else []


class Sink:
    def __init__(self) -> None:
        self.requests: List[Received] = []
        self.script: Deque[Tuple[int, Dict[str, str]]] = deque()
        self.delay = 0.0
        self.stall = threading.Event()
        self.stall.set()
        self.arrived = 0  # requests whose body was read, answered or not (a stall holds them)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without this, Nagle plus delayed
            # ACKs add ~40 ms to every answer on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                data = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(raw)
                try:
                    body = json.loads(data)
                except ValueError:
                    body = None
                got = Received(self.path, dict(self.headers), body, raw)
                with sink._lock:
                    sink.arrived += 1
                sink.stall.wait(30)
                if sink.delay:
                    time.sleep(sink.delay)
                with sink._lock:
                    status, headers = sink.script.popleft() if sink.script else (200, {})
                    got.status = status
                    sink.requests.append(got)
                    sink._cond.notify_all()
                payload = b'{"status": 1}' if status == 200 else b'{"error": "scripted"}'
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def respond(self, *statuses: int, headers: Optional[Dict[str, str]] = None) -> None:
        for status in statuses:
            self.script.append((status, dict(headers or {})))

    def delivered(self) -> List[Dict[str, Any]]:
        """Every event in every request the sink answered 200."""
        with self._lock:
            return [e for r in self.requests if r.status == 200 for e in r.batch]

    def wait_for(self, count: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
        """Wait until ``count`` events were delivered; returns them (fails on timeout)."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                events = [e for r in self.requests if r.status == 200 for e in r.batch]
                if len(events) >= count:
                    return events
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"only {len(events)} of {count} events arrived")
                self._cond.wait(remaining)

    def wait_requests(self, count: int, timeout: float = 10.0) -> List[Received]:
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"only {len(self.requests)} of {count} requests arrived")
                self._cond.wait(remaining)
            return list(self.requests)

    def close(self) -> None:
        self.stall.set()
        self.server.shutdown()
        self.server.server_close()
