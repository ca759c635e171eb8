"""The WSGI middleware: each request in its own context, its unhandled exceptions captured.

Owns ``WSGIMiddleware``. A WSGI response body may be produced lazily, while the
server iterates it after the application returned, so the request's context lives in
a ``contextvars.Context`` of its own: the application call, each ``next()`` of a
lazy body and its ``close()`` all run in it, and the server thread's own context is
never changed. A body that is already a list or tuple, or the server's
``wsgi.file_wrapper``, is returned as it is (nothing of the application runs while
it is sent, and a server may use its length or send the file directly); any other
body is wrapped in an iterator that keeps PEP 3333's ``close()`` contract. An
exception from the application (called, iterated or closed) is captured, then
re-raised to the server. A failure of the middleware itself is logged and the
request goes on without it.

Knows nothing of any framework.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from ._request import Middleware, RequestInfo, capture, enter_request

__all__ = ["WSGIMiddleware"]

logger = logging.getLogger("analytics_compat")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_SOURCE = "wsgi.middleware"


class WSGIMiddleware(Middleware[WSGIApp]):
    """``WSGIMiddleware(app, client=None, *, capture_exceptions=True, ...)``.

    ``client`` captures the exceptions (default: the module-level client).
    ``capture_tracing_headers=False`` ignores the ``X-POSTHOG-*`` headers;
    ``extra_properties(environ)`` may return more tags for the request.
    """

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        ctx = contextvars.copy_context()
        try:
            ctx.run(self._enter, environ)
        except Exception:
            logger.exception("internal error in WSGIMiddleware; skipped")
            return self.app(environ, start_response)
        try:
            body = ctx.run(self.app, environ, start_response)
        except Exception as exc:
            self._capture(ctx, exc)
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(body, (list, tuple)) or (
            isinstance(wrapper, type) and isinstance(body, wrapper)
        ):
            return body
        return _Body(body, ctx, self)

    def _enter(self, environ: Mapping[str, Any]) -> None:
        headers = self.capture_tracing_headers
        path = _text(environ.get("SCRIPT_NAME", "")) + _text(environ.get("PATH_INFO", ""))
        info = RequestInfo(
            method=environ.get("REQUEST_METHOD"),
            path=path or "/",
            scheme=environ.get("wsgi.url_scheme"),
            host=environ.get("HTTP_HOST") or _server(environ),
            user_agent=environ.get("HTTP_USER_AGENT"),
            distinct_id=environ.get("HTTP_X_POSTHOG_DISTINCT_ID") if headers else None,
            session_id=environ.get("HTTP_X_POSTHOG_SESSION_ID") if headers else None,
        )
        enter_request(info, self.extra(environ))  # left when ``ctx`` is dropped with the request

    def _capture(self, ctx: contextvars.Context, exc: BaseException) -> None:
        if self.capture_exceptions:
            try:
                ctx.run(capture, self.client, exc, _SOURCE)
            except Exception:  # capture never raises; this guards the guard
                logger.exception("internal error capturing a WSGI exception")


class _Body:
    """A lazy response body, iterated and closed in the request's context."""

    __slots__ = ("_body", "_ctx", "_iterator", "_middleware")

    def __init__(self, body: Iterable[bytes], ctx: contextvars.Context, mw: WSGIMiddleware):
        self._body = body
        self._ctx = ctx
        self._middleware = mw
        self._iterator: Optional[Iterator[bytes]] = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            if self._iterator is None:
                self._iterator = self._ctx.run(iter, self._body)
            return self._ctx.run(next, self._iterator)
        except StopIteration:
            raise
        except Exception as exc:
            self._middleware._capture(self._ctx, exc)
            raise

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is None:
            return
        try:
            self._ctx.run(close)
        except Exception as exc:
            self._middleware._capture(self._ctx, exc)
            raise


def _text(value: Any) -> str:
    """A WSGI path is bytes carried as latin-1 text (PEP 3333); most are UTF-8."""
    if not isinstance(value, str):
        return ""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


def _server(environ: Mapping[str, Any]) -> Optional[str]:
    name, port = environ.get("SERVER_NAME"), environ.get("SERVER_PORT")
    if not isinstance(name, str):
        return None
    default = {"http": "80", "https": "443"}.get(str(environ.get("wsgi.url_scheme")))
    return name if port in (None, "", default) else f"{name}:{port}"
