"""A PostHog-like capture v1 endpoint on 127.0.0.1 (port 0), scriptable, for the v1 tests.

It checks what PostHog's ``rust/capture/src/v1`` checks (the path, the required
headers and their formats, Bearer auth, the content type and encoding, the batch
envelope, each event's types, duplicate uuids) and answers a bad request as PostHog
does: a 4xx with ``{"error", "error_description", "error_uri"}``. Its ``options``
check is the strict one (a wrong JSON type refuses the whole batch), so a client
that sends one cannot pass a test by luck.

A good request gets a 200 with ``results`` keyed by event uuid. Per event *name*,
``plan`` scripts the results of its successive appearances (``("retry",
"not_persisted")``, ``("drop", "billing_limit_exceeded")``, ``("warning", ...)``,
any unknown code, or ``(None, None)``: leave the uuid out of the map); an event
without a plan is ``ok``. A 200 with a ``retry`` in it carries ``Retry-After``
(``retry_after``; PostHog sends ``1``, the default here is ``0`` to keep tests fast).
``replies`` scripts whole answers (status, headers, body) for the next good
requests, before any per-event result.

The server knows nothing about analytics_compat: it speaks HTTP/1.1 and JSON.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional, Tuple

PATHS = ("/i/v1/analytics/events", "/i/v1/analytics/events/")
REQUIRED = (
    "posthog-sdk-info",
    "posthog-attempt",
    "posthog-request-id",
    "posthog-request-timestamp",
    "content-type",
    "user-agent",
)
ENCODINGS = ("gzip", "deflate", "br", "zstd")
BOOL_OPTIONS = ("cookieless_mode", "disable_skew_correction", "process_person_profile")
Answer = Tuple[int, Dict[str, str], Optional[bytes]]


class Refused(Exception):
    def __init__(self, status: int, tag: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.tag = tag


class Got:
    """One request as the server read it, and what it answered."""

    def __init__(self, path: str, headers: Dict[str, str], raw: bytes) -> None:
        self.path = path
        self.headers = headers  # names lower-cased
        self.raw = raw
        self.at = time.monotonic()
        self.data: Optional[bytes] = None  # after Content-Encoding
        self.body: Any = None
        self.status = 0
        self.error: Optional[str] = None  # the error tag of a refusal
        self.results: Dict[str, Dict[str, str]] = {}
        self.answer = b""  # the body answered

    @property
    def events(self) -> List[Dict[str, Any]]:
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("batch"), list):
            return [e for e in body["batch"] if isinstance(e, dict)]
        return []

    @property
    def names(self) -> List[str]:
        return [e.get("event", "") for e in self.events]

    def __repr__(self) -> str:
        return f"<Got {self.path} {self.names} -> {self.status} {self.error or ''}>"


def rfc3339(value: Any) -> bool:
    """A timestamp with a date, a time and an offset (naive ones are refused)."""
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return dt.datetime.fromisoformat(text).utcoffset() is not None
    except ValueError:
        return False


def decode(raw: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":  # zlib-wrapped (0x78...) or raw, as PostHog accepts both
        return zlib.decompress(raw) if raw[:1] == b"\x78" else zlib.decompress(raw, -15)
    if encoding == "":
        return raw
    raise Refused(415, "unsupported_encoding", f"{encoding} is not decoded here")


class V1Server:
    def __init__(self) -> None:
        self.requests: List[Got] = []
        self.plan: Dict[str, Deque[Tuple[Optional[str], Optional[str]]]] = {}
        self.replies: Deque[Answer] = collections.deque()
        self.retry_after = "0"
        self.escape_codes = False  # write result codes with JSON escapes (same strings)
        self.stored: List[Dict[str, Any]] = []  # events answered ok or warning
        self._cond = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                got = Got(self.path, headers, raw)
                status, fields, payload = server._answer(got)
                got.status = status
                got.answer = payload
                with server._cond:
                    server.requests.append(got)
                    server._cond.notify_all()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **fields}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- scripting ------------------------------------------------------------------
    def results_for(self, name: str, *results: Tuple[Optional[str], Optional[str]]) -> None:
        self.plan.setdefault(name, collections.deque()).extend(results)

    def reply(self, status: int, headers: Optional[Dict[str, str]] = None, body: Any = None):
        """Script a whole answer; ``body`` may be bytes, a JSON value, or None (an error
        body in PostHog's shape for a non-2xx, ``{"results": {}}`` for a 2xx)."""
        if body is None:
            body = {"results": {}} if 200 <= status < 300 else error_body("scripted", "scripted")
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.replies.append((status, dict(headers or {}), data))

    # -- what tests read ------------------------------------------------------------
    def wait_requests(self, count: int, timeout: float = 10.0) -> List[Got]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"only {len(self.requests)} of {count} requests: {self}")
            return list(self.requests)

    def refusals(self) -> List[Got]:
        with self._cond:
            return [r for r in self.requests if r.error is not None]

    def __repr__(self) -> str:
        return f"<V1Server {self.requests}>"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answering ------------------------------------------------------------------
    def _answer(self, got: Got) -> Answer:
        try:
            self._check(got)
        except Refused as refused:
            got.error = refused.tag
            return refused.status, {}, json.dumps(error_body(refused.tag, str(refused))).encode()
        with self._cond:
            if self.replies:
                return self.replies.popleft()
            results: Dict[str, Dict[str, str]] = {}
            retry = False
            for event in got.events:
                plan = self.plan.get(event["event"])
                code, details = plan.popleft() if plan else ("ok", None)
                refused = event_drop(event)
                if refused is not None:
                    code, details = "drop", refused
                if code is None:
                    self.stored.append(event)  # stored, but left out of the answer
                    continue
                entry = {"result": code}
                if details is not None:
                    entry["details"] = details
                results[event["uuid"]] = entry
                retry = retry or code == "retry"
                if code not in ("drop", "retry"):
                    self.stored.append(event)
            got.results = results
        fields = {"Retry-After": self.retry_after} if retry else {}
        payload = json.dumps({"results": results}).encode()
        if self.escape_codes:
            for code in (b"drop", b"retry", b"warning"):
                escaped = b"\\u%04x" % code[0] + code[1:]
                payload = payload.replace(b'"' + code + b'"', b'"' + escaped + b'"')
        return 200, fields, payload

    def _check(self, got: Got) -> None:
        """PostHog's v1 request checks, in its order (``rust/capture/src/v1``)."""
        if got.path not in PATHS:
            raise Refused(404, "not_found", got.path)
        h = got.headers
        auth = h.get("authorization")
        if auth is None:
            raise Refused(401, "invalid_api_token", "missing Authorization")
        if not auth.lower().startswith("bearer "):
            raise Refused(400, "invalid_header_value", "Authorization must be Bearer")
        if not auth[7:].strip().startswith("phc_"):
            raise Refused(401, "invalid_api_token", "not a project token")
        missing = [name for name in REQUIRED if not h.get(name)]
        if missing:
            raise Refused(400, "missing_required_headers", ", ".join(missing))
        if h["content-type"].split(";")[0].strip().lower() != "application/json":
            raise Refused(415, "unsupported_content_type", h["content-type"])
        lib, _, version = h["posthog-sdk-info"].rpartition("/")
        if not (lib.strip() and version.strip()) or len(h["posthog-sdk-info"]) > 200:
            raise Refused(400, "invalid_header_value", "PostHog-Sdk-Info")  # (PostHog: a metric)
        if not h["posthog-attempt"].isdigit() or int(h["posthog-attempt"]) < 1:
            raise Refused(400, "invalid_header_value", "PostHog-Attempt")
        try:
            uuid.UUID(h["posthog-request-id"])
        except ValueError:
            raise Refused(400, "invalid_header_value", "PostHog-Request-Id") from None
        if not rfc3339(h["posthog-request-timestamp"]):
            raise Refused(400, "invalid_header_value", "PostHog-Request-Timestamp")
        encoding = h.get("content-encoding", "").strip().lower()
        if encoding and encoding not in ENCODINGS:
            raise Refused(415, "unsupported_encoding", encoding)
        try:
            got.data = decode(got.raw, encoding)
        except (OSError, EOFError, zlib.error):
            raise Refused(400, "request_decoding_error", encoding) from None
        try:
            got.body = json.loads(got.data.decode("utf-8"))
        except ValueError:
            raise Refused(400, "request_parsing_error", "not UTF-8 JSON") from None
        self._check_batch(got.body)

    def _check_batch(self, body: Any) -> None:
        def parse_error(text: str) -> Refused:
            return Refused(400, "request_parsing_error", text)

        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise parse_error("batch")
        if not isinstance(body.get("created_at"), str):
            raise parse_error("created_at")
        if not rfc3339(body["created_at"]):
            raise Refused(400, "invalid_batch", "created_at")
        if not isinstance(body.get("historical_migration", False), bool):
            raise parse_error("historical_migration")
        if not body["batch"]:
            raise Refused(400, "empty_batch", "batch")
        seen = set()
        for event in body["batch"]:
            if not isinstance(event, dict):
                raise parse_error("event")
            for field in ("event", "uuid", "distinct_id", "timestamp"):
                if not isinstance(event.get(field), str):
                    raise parse_error(field)
            for field in ("session_id", "window_id"):
                if event.get(field) is not None and not isinstance(event[field], str):
                    raise parse_error(field)
            options = event.get("options", {})
            if not isinstance(options, dict):
                raise parse_error("options")
            for key in BOOL_OPTIONS:
                if options.get(key) is not None and not isinstance(options[key], bool):
                    raise parse_error(f"options.{key}")
            tour = options.get("product_tour_id")
            if tour is not None and not isinstance(tour, str):
                raise parse_error("options.product_tour_id")
            if not event["uuid"].strip():
                raise Refused(400, "missing_event_uuid", "uuid")
            try:
                key = str(uuid.UUID(event["uuid"]))
            except ValueError:
                raise Refused(400, "invalid_event_uuid", event["uuid"]) from None
            if key in seen:
                raise Refused(400, "duplicate_event_uuid", key)
            seen.add(key)


def event_drop(event: Dict[str, Any]) -> Optional[str]:
    """PostHog's per-event refusals: the event is dropped, its neighbours stored."""
    if not event["event"]:
        return "missing_event_name"
    if len(event["event"].encode()) > 200:
        return "event_name_too_long"
    if not event["distinct_id"].strip():
        return "missing_distinct_id"
    if len(event["distinct_id"].encode()) > 200:
        return "distinct_id_too_large"
    if not rfc3339(event["timestamp"]):
        return "invalid_event_timestamp"
    if not isinstance(event.get("properties", {}), dict):
        return "malformed_event_properties"
    return None


def error_body(tag: str, text: str) -> Dict[str, str]:
    return {"error": tag, "error_description": text, "error_uri": "https://posthog.com/docs/api"}
