"""What both middlewares take from a request: tags, identity headers, and the capture.

Owns the tag names (posthog-python's integrations use the same), the cleaning of
header values (control characters removed, length bounded: headers are chosen by
whoever sends the request), opening a request's context, and capturing an exception
with the middleware's mechanism, and what both middlewares are constructed with
(``Middleware``). The distinct id and session headers are analytics
attribution chosen by the client of the web app, never authentication.

Knows nothing about WSGI or ASGI.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Dict, Generic, Mapping, Optional, TypeVar

from .._client import Client
from .._context_calls import identify_context, new_context, set_context_session, tag
from .._default import default_client

__all__ = ["Middleware", "RequestInfo", "capture", "clean", "enter_request", "tags_for"]

logger = logging.getLogger("analytics_compat")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_HEADER = 1000
_MAX_PATH = 2048
ExtraProperties = Callable[[Any], Optional[Mapping[str, Any]]]
App = TypeVar("App")


class Middleware(Generic[App]):
    """What both middlewares are made with: the app, the client that captures (default:
    the module-level client) and the switches; ``extra_properties(request)`` may return
    more tags for a request (``request``: the WSGI environ or the ASGI scope)."""

    def __init__(
        self,
        app: App,
        client: Optional[Client] = None,
        *,
        capture_exceptions: bool = True,
        capture_tracing_headers: bool = True,
        extra_properties: Optional[ExtraProperties] = None,
    ) -> None:
        self.app = app
        self.client = client
        self.capture_exceptions = capture_exceptions
        self.capture_tracing_headers = capture_tracing_headers
        self.extra_properties = extra_properties

    def extra(self, request: Any) -> Optional[Mapping[str, Any]]:
        return self.extra_properties(request) if self.extra_properties else None


class RequestInfo:
    """The parts of a request the tags are made of, as text."""

    __slots__ = ("distinct_id", "host", "method", "path", "scheme", "session_id", "user_agent")

    def __init__(
        self,
        *,
        method: Any,
        path: Any,
        scheme: Any,
        host: Any,
        user_agent: Any,
        distinct_id: Any,
        session_id: Any,
    ) -> None:
        self.method = clean(method, 32)
        self.path = clean(path, _MAX_PATH)
        self.scheme = clean(scheme, 16)
        self.host = clean(host)
        self.user_agent = clean(user_agent)
        self.distinct_id = clean(distinct_id)
        self.session_id = clean(session_id)


def clean(value: Any, limit: int = _MAX_HEADER) -> Optional[str]:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or not value:
        return None
    return _CONTROL.sub("", value).strip()[:limit] or None


def tags_for(info: RequestInfo) -> Dict[str, Any]:
    tags: Dict[str, Any] = {}
    if info.method:
        tags["$request_method"] = info.method
    if info.path:
        tags["$request_path"] = info.path
    if info.scheme and info.host and info.path:
        tags["$current_url"] = f"{info.scheme}://{info.host}{info.path}"
    if info.user_agent:
        tags["$user_agent"] = info.user_agent
        tags["$raw_user_agent"] = info.user_agent
    return tags


def enter_request(info: RequestInfo, extra: Optional[Mapping[str, Any]]) -> new_context:
    """Enter the request's context and set its tags and identity; returns the context
    to leave (``__exit__``). Exceptions are captured by the middleware, with its own
    mechanism, so the context itself does not capture them."""
    block = new_context(capture_exceptions=False)
    block.__enter__()
    try:
        for key, value in {**tags_for(info), **(extra or {})}.items():
            tag(key, value)
        if info.distinct_id:
            identify_context(info.distinct_id)
        if info.session_id:
            set_context_session(info.session_id)
    except BaseException:
        block.__exit__(None, None, None)
        raise
    return block


def capture(client: Optional[Client], exception: BaseException, source: str) -> None:
    """Capture what escaped the application (never raises)."""
    target = client if client is not None else default_client()
    target._capture_exception_with(
        exception,
        {"level": "error", "source": source, "mechanism": {"type": "middleware", "handled": False}},
    )
