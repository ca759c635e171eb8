"""The ASGI middleware: each HTTP request in its own context, its unhandled exceptions captured.

Owns ``ASGIMiddleware``. Only ``http`` scopes are instrumented: ``lifespan``,
``websocket`` and any other scope type reach the application untouched (same scope,
same ``receive`` and ``send``). For a request the whole application call, however
long it streams, runs in the request's context (the running task's ``contextvars``
context, restored when the call ends; tasks the application starts inherit it). An
exception escaping the application, before or after the response started, is
captured, then re-raised to the server. ``receive`` and ``send`` are passed through
unwrapped, so nothing is added per message of a streamed body. A failure of the
middleware itself is logged and the request goes on without it.

Knows nothing of any framework.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Mapping, MutableMapping

from ._request import Middleware, RequestInfo, capture, enter_request

__all__ = ["ASGIMiddleware"]

logger = logging.getLogger("analytics_compat")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_SOURCE = "asgi.middleware"


class ASGIMiddleware(Middleware[ASGIApp]):
    """``ASGIMiddleware(app, client=None, *, capture_exceptions=True, ...)``.

    ``client`` captures the exceptions (default: the module-level client).
    ``capture_tracing_headers=False`` ignores the ``X-POSTHOG-*`` headers;
    ``extra_properties(scope)`` may return more tags for the request.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        try:
            block = enter_request(self._info(scope), self.extra(scope))
        except Exception:
            logger.exception("internal error in ASGIMiddleware; skipped")
            return await self.app(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if self.capture_exceptions:
                try:
                    capture(self.client, exc, _SOURCE)
                except Exception:  # capture never raises; this guards the guard
                    logger.exception("internal error capturing an exception")
            raise
        finally:
            block.__exit__(None, None, None)

    def _info(self, scope: Mapping[str, Any]) -> RequestInfo:
        headers = _headers(scope.get("headers"))
        server = scope.get("server")
        host: Any = headers.get(b"host")
        if host is None and isinstance(server, (list, tuple)) and len(server) == 2:
            host = f"{server[0]}:{server[1]}"
        traced = self.capture_tracing_headers
        return RequestInfo(
            method=scope.get("method"),
            path=scope.get("path"),  # servers include the mount point (root_path) in it
            scheme=scope.get("scheme"),
            host=host,
            user_agent=headers.get(b"user-agent"),
            distinct_id=headers.get(b"x-posthog-distinct-id") if traced else None,
            session_id=headers.get(b"x-posthog-session-id") if traced else None,
        )


def _headers(raw: Any) -> dict[bytes, bytes]:
    """The first value of each header, by lower-case name (ASGI sends bytes pairs)."""
    out: dict[bytes, bytes] = {}
    if isinstance(raw, (list, tuple)):
        for item in raw:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                name, value = item
                if isinstance(name, bytes) and isinstance(value, bytes):
                    out.setdefault(name.lower(), value)
    return out
