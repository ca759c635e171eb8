"""The loopback sink every benchmarked library sends to (run in its own process).

``python -m benchmarks.sink [--defs FILE]`` listens on two ports of 127.0.0.1
(both port 0) and prints one JSON line ``{"port": N, "stall_port": M}`` once ready.

Live port (HTTP/1.1, keep-alive, asyncio, one process, so it never takes the GIL
of the measured library):

- ``POST /batch/``, ``/batch``, ``/v1/batch``, ``/i/v0/e/``, ``/e/``, ``/capture/``:
  the raw body (gzip or not) is kept as is and ``200 {"status":1}`` is answered at
  once. ``POST /i/v1/analytics/events`` (PostHog's capture v1) likewise, answered
  ``200 {"results":{}}`` (no entry for an event means it was accepted). Bodies are
  decoded only when ``/__stats`` is asked, so decoding never competes with a
  measurement.
- ``GET /api/feature_flag/local_evaluation/`` and ``GET /flags/definitions``:
  the definitions file given with ``--defs`` (PostHog local-evaluation JSON).
- ``POST /flags/`` and ``/decide/``: an empty answer; counted, so a benchmark can
  show that flag evaluation stayed local.
- ``GET /__stats``: events, distinct uuids (``uuid``, or Segment's ``messageId``),
  duplicates, events without an id, counts (and distinct ids) per event name, requests per path, and
  bytes received. ``GET /__stats?reset=1`` also forgets everything.

Stall port: accepts connections and reads requests but never answers (a server
that hangs), for the memory and latency scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
import zlib
from typing import Any, Dict, List, Optional, Tuple

_OK = b'{"status":1}'
_EVENT_PATHS = frozenset({"/batch/", "/batch", "/v1/batch", "/i/v0/e/", "/e/", "/capture/"})
_V1_PATHS = frozenset({"/i/v1/analytics/events", "/i/v1/analytics/events/"})
_DEFS_PATHS = frozenset(
    {
        "/api/feature_flag/local_evaluation/",
        "/api/feature_flag/local_evaluation",
        "/flags/definitions",
    }
)
_REMOTE_FLAG_PATHS = frozenset({"/flags/", "/flags", "/decide/", "/decide"})


def _response(status: int, body: bytes, reason: str = "OK", extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


_OK_RESPONSE = _response(200, _OK)
_V1_OK_RESPONSE = _response(200, b'{"results":{}}')


class State:
    def __init__(self, defs: bytes) -> None:
        self.defs = defs
        self.defs_response = _response(200, defs)
        self.reset()

    def reset(self) -> None:
        self.bodies: List[Tuple[bytes, Optional[str]]] = []
        self.paths: collections.Counter[str] = collections.Counter()
        self.bytes_in = 0
        self.first_at: Optional[float] = None
        self.last_at: Optional[float] = None
        self.stalled_requests = 0

    def stats(self) -> Dict[str, Any]:
        seen: set[str] = set()
        events = duplicates = missing = undecodable = 0
        names: collections.Counter[str] = collections.Counter()
        distinct_names: collections.Counter[str] = collections.Counter()
        for body, encoding in self.bodies:
            try:
                if encoding in ("gzip", "deflate") or body[:2] == b"\x1f\x8b":
                    body = zlib.decompress(body, 47)
                payload = json.loads(body)
            except (ValueError, zlib.error):
                undecodable += 1
                continue
            if isinstance(payload, dict):
                batch = payload.get("batch")
                if batch is None:
                    batch = [payload] if "event" in payload else []
            elif isinstance(payload, list):
                batch = payload
            else:
                batch = []
            for event in batch:
                if not isinstance(event, dict):
                    continue
                events += 1
                name = str(event.get("event", event.get("type", "?")))
                names[name] += 1
                ident = event.get("uuid") or event.get("messageId")
                if not ident:
                    missing += 1
                elif ident in seen:
                    duplicates += 1
                else:
                    seen.add(ident)
                    distinct_names[name] += 1
        return {
            "events": events,
            "distinct_ids": len(seen),
            "duplicates": duplicates,
            "missing_ids": missing,
            "undecodable_bodies": undecodable,
            "batches": len(self.bodies),
            "event_names": dict(names),
            "distinct_by_name": dict(distinct_names),
            "paths": dict(self.paths),
            "bytes_in": self.bytes_in,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "stalled_requests": self.stalled_requests,
        }


class HTTP(asyncio.Protocol):
    """A minimal HTTP/1.1 server protocol: Content-Length and chunked bodies, keep-alive."""

    def __init__(self, state: State, stall: bool) -> None:
        self.state = state
        self.stall = stall
        self.buf = bytearray()
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self._one():
            pass

    def _one(self) -> bool:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        method, target, _version = ([*head[0].split(" "), "", ""])[:3]
        headers: Dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            pos = start
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return False
                size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                if len(buf) < line_end + 2 + size + 2:
                    return False
                body += buf[line_end + 2 : line_end + 2 + size]
                pos = line_end + 2 + size + 2
                if size == 0:
                    # no trailers expected from the benchmarked clients
                    break
            consumed = pos
            body_bytes = bytes(body)
        else:
            length = int(headers.get("content-length") or 0)
            if len(buf) < start + length:
                return False
            body_bytes = bytes(buf[start : start + length])
            consumed = start + length
        del buf[:consumed]
        self._handle(method, target, headers, body_bytes)
        return True

    def _handle(self, method: str, target: str, headers: Dict[str, str], body: bytes) -> None:
        state = self.state
        assert self.transport is not None
        if self.stall:
            state.stalled_requests += 1
            return  # never answer
        path, _, query = target.partition("?")
        state.paths[path] += 1
        if (path in _EVENT_PATHS or path in _V1_PATHS) and method == "POST":
            now = time.monotonic()
            if state.first_at is None:
                state.first_at = now
            state.last_at = now
            state.bytes_in += len(body)
            state.bodies.append((body, headers.get("content-encoding")))
            out = _OK_RESPONSE if path in _EVENT_PATHS else _V1_OK_RESPONSE
        elif path in _DEFS_PATHS:
            out = state.defs_response
        elif path in _REMOTE_FLAG_PATHS:
            out = _response(
                200,
                b'{"flags":{},"featureFlags":{},"featureFlagPayloads":{},"errorsWhileComputingFlags":false}',
            )
        elif path == "/__stats":
            stats = state.stats()
            if "reset=1" in query:
                state.reset()
            out = _response(200, json.dumps(stats).encode())
        else:
            out = _response(404, b'{"error":"not found"}', "Not Found")
        self.transport.write(out)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()


async def _main(defs: bytes) -> None:
    loop = asyncio.get_running_loop()
    state = State(defs)
    live = await loop.create_server(lambda: HTTP(state, False), "127.0.0.1", 0, backlog=1024)
    stall = await loop.create_server(lambda: HTTP(state, True), "127.0.0.1", 0, backlog=1024)
    port = live.sockets[0].getsockname()[1]
    stall_port = stall.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port, "stall_port": stall_port}) + "\n")
    sys.stdout.flush()
    # Stop when the parent closes our stdin (or dies), so the sink never outlives the run.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    live.close()
    stall.close()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--defs", help="flag definitions JSON file to serve")
    args = parser.parse_args(argv)
    defs = b'{"flags":[],"group_type_mapping":{},"cohorts":{}}'
    if args.defs:
        with open(args.defs, "rb") as fh:
            defs = fh.read()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(defs))


if __name__ == "__main__":
    main()
