"""What routes take and give: ``Request``, ``Response`` and the ``RequestRecord`` log entry.

A leaf module: every route family (capture, flags, inspection, page), the router and
the socket layer share these types, and it imports nothing else from the devserver
but ``RequestError``. It knows nothing about sockets, storage, tokens or flags.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import attrs

from ._errors import RequestError

__all__ = ["Request", "RequestRecord", "Response"]


@attrs.frozen(kw_only=True)
class Request:
    """One HTTP request as the routes see it; ``path`` has no query string.

    ``headers`` maps lower-cased names to values; the socket layer has already refused
    a request that repeats one of them with a different value.
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

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
        headers = error.headers()
        if error.status == 401:
            headers += (("WWW-Authenticate", 'Bearer realm="analytics-compat devserver"'),)
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
