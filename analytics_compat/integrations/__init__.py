"""Web-app integrations: a context per request, and its unhandled exceptions captured.

``WSGIMiddleware`` and ``ASGIMiddleware`` wrap any WSGI or ASGI application (Flask,
Django, FastAPI, Starlette, ... or a bare one); they depend on no framework::

    from analytics_compat.integrations import ASGIMiddleware, WSGIMiddleware

    app = WSGIMiddleware(app, client)       # or ASGIMiddleware(app, client)

Each request runs in a new context (``analytics_compat.new_context``) tagged with
``$request_method``, ``$request_path``, ``$current_url`` (without the query string)
and ``$user_agent`` / ``$raw_user_agent``; the ``X-POSTHOG-DISTINCT-ID`` and
``X-POSTHOG-SESSION-ID`` headers, when present, become the context's distinct id and
session. Events captured while the request runs, on any client, get them. An
exception escaping the application is captured once as ``$exception`` (``handled:
false``, mechanism ``middleware``) on the middleware's client, then re-raised, so
the server's own error handling runs as before.
"""

from __future__ import annotations

from ._asgi import ASGIMiddleware
from ._wsgi import WSGIMiddleware

__all__ = ["ASGIMiddleware", "WSGIMiddleware"]
