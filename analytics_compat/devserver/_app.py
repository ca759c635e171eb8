"""Routing and answering the devserver's endpoints, independent of the socket layer.

Owns the URL map (which path answers which methods), the capture, inspection and page
endpoints, and the in-memory log of requests. A route gets a parsed ``Request`` whose
body has already been read within the limits, and returns a ``Response``; it never
touches sockets. Flag endpoints are delegated to ``_flags``.

Routes (a trailing slash is optional everywhere):

==========================================  =========  =====================================
path                                        methods    answer
==========================================  =========  =====================================
/batch  /capture  /e  /i/v0/e               POST       ingest; ``{"status": 1}``
/flags  /decide                             POST       evaluate flags for a distinct id
/flags/definitions                          GET        local-evaluation definitions (Bearer)
/api/feature_flag/local_evaluation          GET        same as /flags/definitions
/api/events                                 GET        stored events as JSON, newest first
/                                           GET        the live events page
/_health                                    GET        ``{"status": "ok"}``
==========================================  =========  =====================================

Every known path also answers ``OPTIONS`` (CORS preflight, for posthog-js on another
origin). An unknown path is 404, a known path with another method 405.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any, Callable, Collection, Mapping, Optional

import attrs

from . import _flags
from ._decoding import decode_json_body
from ._errors import RequestError
from ._ingest import parse_capture
from ._page import PAGE_CSP, PAGE_HTML
from ._store import EventStore

__all__ = ["App", "Request", "RequestRecord", "Response", "methods_for"]

CAPTURE_PATHS = frozenset({"/batch", "/capture", "/e", "/i/v0/e"})
_GET = ("GET",)
_POST = ("POST",)
_ROUTES: dict[str, tuple[str, ...]] = {
    **{path: _POST for path in CAPTURE_PATHS},
    "/flags": _POST,
    "/decide": _POST,
    "/flags/definitions": _GET,
    "/api/feature_flag/local_evaluation": _GET,
    "/api/events": _GET,
    "/": _GET,
    "/_health": _GET,
}
_DEFAULT_EVENTS_LIMIT = 100
_MAX_EVENTS_LIMIT = 1000
_LOG_SIZE = 10_000


def normalize_path(path: str) -> str:
    """``/batch/`` and ``/batch`` are one route."""
    return path.rstrip("/") or "/"


def methods_for(path: str) -> Optional[tuple[str, ...]]:
    """The methods a path answers (besides OPTIONS), or None for an unknown path."""
    return _ROUTES.get(normalize_path(path))


@attrs.frozen(kw_only=True)
class Request:
    """One HTTP request as the routes see it; ``path`` has no query string."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """A header value by case-insensitive name."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def param(self, name: str) -> Optional[str]:
        """The last value of a query parameter."""
        values = self.query.get(name)
        return values[-1] if values else None


@attrs.frozen(kw_only=True)
class Response:
    """What a route answers; ``events``/``inserted`` are filled by capture routes."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    events: Optional[int] = None
    inserted: Optional[int] = None

    @classmethod
    def json(
        cls, status: int, value: Any, *, headers: tuple[tuple[str, str], ...] = (), **kw: Any
    ) -> Response:
        """A JSON response."""
        return cls(
            status=status,
            body=json.dumps(value, separators=(",", ":")).encode("utf-8"),
            headers=headers,
            **kw,
        )

    @classmethod
    def error(cls, error: RequestError) -> Response:
        """The JSON answer to a refused request."""
        headers: tuple[tuple[str, str], ...] = ()
        if error.status == 401:
            headers = (("WWW-Authenticate", 'Bearer realm="analytics-compat devserver"'),)
        return cls.json(error.status, error.body(), headers=headers)


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One answered request, as kept in ``DevServer.requests_log`` (no query, no body)."""

    method: str
    path: str
    status: int
    events: Optional[int] = None
    inserted: Optional[int] = None
    gzip: bool = False


def _int_param(request: Request, name: str) -> Optional[int]:
    raw = request.param(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise RequestError(400, "invalid_parameter", f"{name} must be an integer") from None


class App:
    """Answers requests against one store, token set and flag definitions source."""

    def __init__(
        self,
        store: EventStore,
        tokens: Collection[str],
        flags: _flags.FlagsEndpoint,
    ) -> None:
        self.store = store
        self.tokens = tuple(tokens)
        self.flags = flags
        self._log: collections.deque[RequestRecord] = collections.deque(maxlen=_LOG_SIZE)
        self._log_lock = threading.Lock()
        self._hooks: list[Callable[[str, str], None]] = []

    # -- observation -----------------------------------------------------------------

    def add_hook(self, hook: Callable[[str, str], None]) -> None:
        """Call ``hook(method, path)`` before each request is answered."""
        self._hooks.append(hook)

    def run_hooks(self, method: str, path: str) -> None:
        """Run the hooks (the handler calls this before reading the body)."""
        for hook in list(self._hooks):
            hook(method, path)

    def record(self, request_method: str, path: str, response: Response, gzip: bool) -> None:
        """Keep a record of an answered request."""
        entry = RequestRecord(
            method=request_method,
            path=path,
            status=response.status,
            events=response.events,
            inserted=response.inserted,
            gzip=gzip,
        )
        with self._log_lock:
            self._log.append(entry)

    def requests_log(self) -> list[RequestRecord]:
        """Every answered request, oldest first (the last 10,000)."""
        with self._log_lock:
            return list(self._log)

    # -- routing ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer a request whose method and path were already checked."""
        path = normalize_path(request.path)
        try:
            if path in CAPTURE_PATHS:
                return self._capture(request, path)
            if path in ("/flags", "/decide"):
                return self.flags.evaluate(request, self.store, self.tokens, path)
            if path in ("/flags/definitions", "/api/feature_flag/local_evaluation"):
                return self.flags.definitions(request, self.tokens)
            if path == "/api/events":
                return self._events(request)
            if path == "/_health":
                return Response.json(200, {"status": "ok"})
            return Response(
                status=200,
                body=PAGE_HTML.encode("utf-8"),
                content_type="text/html; charset=utf-8",
                headers=(("Content-Security-Policy", PAGE_CSP),),
            )
        except RequestError as error:
            return Response.error(error)

    def _capture(self, request: Request, path: str) -> Response:
        payload = decode_json_body(
            request.body,
            content_encoding=request.header("Content-Encoding"),
            content_type=request.header("Content-Type"),
            query=request.query,
        )
        capture = parse_capture(payload, self.tokens)
        result = self.store.ingest(capture, path=path + "/")
        return Response.json(200, {"status": 1}, events=result.received, inserted=result.inserted)

    def _events(self, request: Request) -> Response:
        limit = _int_param(request, "limit")
        limit = _DEFAULT_EVENTS_LIMIT if limit is None else max(0, min(limit, _MAX_EVENTS_LIMIT))
        order = (request.param("order") or "desc").lower()
        if order not in ("asc", "desc"):
            raise RequestError(400, "invalid_parameter", "order must be asc or desc")
        events = self.store.events(
            request.param("event") or None,
            request.param("distinct_id") or None,
            after=_int_param(request, "after"),
            limit=limit,
            newest_first=order == "desc",
        )
        return Response.json(200, events)
