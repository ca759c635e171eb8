"""The devserver's router: which path answers which methods, and the request log.

Owns the URL map, dispatching a checked ``Request`` to its route family (capture v0
and v1, flags, the app API, inspection, page), turning a ``RequestError`` into its
JSON answer (worded by the route family: ``Route.errors``), the request hooks and the
in-memory log of answered requests. It never touches sockets and holds no endpoint
logic of its own.

Routes (a trailing slash is optional everywhere; ``{p}`` is ``@current`` or ``1``):

============================================  ==============  ===================================
path                                          methods         answer
============================================  ==============  ===================================
/batch  /capture  /e  /i/v0/e                 POST            ingest; ``{"status": 1}``
/i/v1/analytics/events                        POST            capture v1; a result per event
/flags  /decide                               POST            evaluate flags for a distinct id
/flags/definitions                            GET             local-evaluation definitions
/api/feature_flag/local_evaluation            GET             same as /flags/definitions
/api/projects/{p}/feature_flags               GET, POST       list / create flags (Bearer)
/api/projects/{p}/feature_flags/{id}          GET, PATCH, PUT read / change a flag (Bearer)
/api/projects/{p}/annotations                 GET, POST       list / create annotations
/api/projects/{p}/annotations/{id}            GET             read an annotation
/api/events                                   GET             stored events, newest first
/                                             GET             the live events page
/_health                                      GET             ``{"status": "ok"}``
============================================  ==============  ===================================

Every known path also answers ``OPTIONS`` (a CORS preflight: granted for the browser
SDK endpoints only). An unknown path is 404, a known path with another method 405.
Which origins may use a route is its ``Access`` (see ``_security``): capture (v0 and
v1), ``/flags`` and ``/decide`` are ``BROWSER_SDK``, everything else ``SAME_ORIGIN``.
"""

from __future__ import annotations

import collections
import threading
from typing import Callable, Collection, Optional

import attrs

from . import _capture, _inspect, _page
from ._app_api import API_PREFIX, AppApi, api_methods
from ._capture import CAPTURE_PATHS
from ._capture_v1 import V1_PATH, as_v1, capture_v1
from ._errors import RequestError
from ._flags import FlagsEndpoint
from ._messages import Request, RequestRecord, Response
from ._security import Access, HostPolicy
from ._store import EventStore

__all__ = ["App", "Route", "normalize_path", "route_for"]


def _as_is(error: RequestError) -> RequestError:
    return error


@attrs.frozen
class Route:
    """The methods a path answers (besides OPTIONS), who may call it from a browser, and
    how its family words a refusal (``errors``: v1 capture has its own error body)."""

    methods: tuple[str, ...]
    access: Access
    errors: Callable[[RequestError], RequestError] = _as_is


_SDK_POST = Route(("POST",), Access.BROWSER_SDK)
_READ = Route(("GET",), Access.SAME_ORIGIN)
_ROUTES: dict[str, Route] = {
    **{path: _SDK_POST for path in CAPTURE_PATHS},
    V1_PATH: Route(("POST",), Access.BROWSER_SDK, as_v1),
    "/flags": _SDK_POST,
    "/decide": _SDK_POST,
    "/flags/definitions": _READ,
    "/api/feature_flag/local_evaluation": _READ,
    "/api/events": _READ,
    "/": _READ,
    "/_health": _READ,
}
_LOG_SIZE = 10_000


def normalize_path(path: str) -> str:
    """``/batch/`` and ``/batch`` are one route."""
    return path.rstrip("/") or "/"


def route_for(path: str) -> Optional[Route]:
    """The route of a path, or None for an unknown path."""
    path = normalize_path(path)
    route = _ROUTES.get(path)
    if route is None and path.startswith(API_PREFIX):
        methods = api_methods(path)
        route = None if methods is None else Route(methods, Access.SAME_ORIGIN)
    return route


class App:
    """Answers requests against one store, token set and flag definitions source."""

    def __init__(
        self,
        store: EventStore,
        tokens: Collection[str],
        flags: FlagsEndpoint,
        host_policy: HostPolicy,
    ) -> None:
        self.store = store
        self.tokens = tuple(tokens)
        self.flags = flags
        self.host_policy = host_policy
        self.api = AppApi(store, flags)
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
                return _capture.capture(request, path, self.store, self.tokens)
            if path == V1_PATH:
                return capture_v1(request, self.store, self.tokens)
            if path.startswith(API_PREFIX):
                return self.api.handle(request, path)
            if path in ("/flags", "/decide"):
                return self.flags.evaluate(request, self.store, self.tokens, path)
            if path in ("/flags/definitions", "/api/feature_flag/local_evaluation"):
                return self.flags.definitions(request, self.tokens)
            if path == "/api/events":
                return _inspect.events(request, self.store)
            if path == "/_health":
                return _inspect.health()
            return _page.page(request, self.store, self.tokens)
        except RequestError as error:
            return Response.error(error)
