"""The page route family: ``GET /``, the live events page.

Owns answering the page request: the document from ``_page_assets`` with its
Content-Security-Policy. It knows nothing about sockets, CORS, capture or flags.
"""

from __future__ import annotations

from ._messages import Request, Response
from ._page_assets import PAGE_CSP, PAGE_HTML
from ._store import EventStore

__all__ = ["page"]


def page(request: Request, store: EventStore) -> Response:
    """Answer ``GET /``."""
    return Response(
        status=200,
        body=PAGE_HTML.encode("utf-8"),
        content_type="text/html; charset=utf-8",
        headers=(("Content-Security-Policy", PAGE_CSP),),
    )
