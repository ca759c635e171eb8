"""The inspection route family: ``GET /api/events`` and ``GET /_health``.

Owns the read API's query parameters (``event``, ``distinct_id``, ``after``, ``limit``,
``order``) and their validation: a malformed one is a 400 naming it, never a 500.
Events come out newest first by default; ``order=asc`` with ``after=<seq>`` is the
cursor form that misses nothing however fast events arrive.

It knows nothing about sockets, CORS, capture or flags.
"""

from __future__ import annotations

import re
from typing import Optional

from ._errors import RequestError
from ._messages import Request, Response
from ._store import EventStore

__all__ = ["DEFAULT_EVENTS_LIMIT", "MAX_EVENTS_LIMIT", "events", "health"]

DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_LIMIT = 1000


# What SQLite's INTEGER holds; int() alone would also take "+5", "1_0" and " 7 ".
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_SQLITE_MIN, _SQLITE_MAX = -(2**63), 2**63 - 1


def _int_param(request: Request, name: str) -> Optional[int]:
    raw = request.param(name)
    if raw is None or raw == "":
        return None
    value = int(raw) if _INTEGER.fullmatch(raw) else None
    if value is None or not _SQLITE_MIN <= value <= _SQLITE_MAX:
        raise RequestError(
            400, "invalid_parameter", f"{name} must be an integer between -2^63 and 2^63-1"
        )
    return value


def events(request: Request, store: EventStore) -> Response:
    """Answer ``GET /api/events``: stored events as a JSON list."""
    limit = _int_param(request, "limit")
    limit = DEFAULT_EVENTS_LIMIT if limit is None else max(0, min(limit, MAX_EVENTS_LIMIT))
    order = (request.param("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise RequestError(400, "invalid_parameter", "order must be asc or desc")
    found = store.events(
        request.param("event") or None,
        request.param("distinct_id") or None,
        after=_int_param(request, "after"),
        limit=limit,
        newest_first=order == "desc",
    )
    return Response.json(200, found)


def health() -> Response:
    """Answer ``GET /_health``."""
    return Response.json(200, {"status": "ok"})
