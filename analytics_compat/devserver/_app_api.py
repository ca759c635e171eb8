"""The app API route family: PostHog's REST API for feature flags and annotations.

Owns ``/api/projects/{p}/feature_flags/`` (GET list, POST create), ``.../{id}/`` (GET,
PATCH, PUT), ``/api/projects/{p}/annotations/`` (GET list, POST create) and
``.../{id}/`` (GET), as PostHog's app answers them:

- auth: a personal API key as ``Authorization: Bearer`` (``--personal-api-key``, or
  any non-empty key when the server has none), else 401, before anything else;
- the project ``{p}``: ``@current`` or ``1``, the devserver's one project; any other
  is 404, and so is an unknown or deleted id;
- lists are paginated like PostHog's (``?limit=`` default 100, ``?offset=``; a bad
  value means the default, as Django REST framework reads it): ``{"count", "next",
  "previous", "results"}`` with absolute ``next`` / ``previous`` URLs, newest first.
  Flags can be filtered with ``?search=`` (key or name) and ``?active=true|false``,
  annotations with ``?search=`` (content). Deleted flags are never listed;
- create answers 201 with the record; PATCH changes the fields given, PUT the same
  but needs ``key``; ``{"deleted": true}`` is the delete (PostHog forbids DELETE on
  flags: 405 here too). Inputs are checked by ``_flag_input``.

Flags made or changed here are stored (``_catalog``) and handed to the flags
endpoint as an overlay at once, so ``/flags/definitions`` (new ETag) and ``/flags``
use them on the next request. The flags of a ``--flags`` file are listed too; one
changed here is copied over (the file itself is never written). Annotations:
``content`` (at most 400 characters), ``date_marker`` (an ISO date-time; a naive one
is UTC), ``scope`` (``dashboard_item`` by default, as PostHog's model says,
``project``, ``organization`` or ``recording``), ``dashboard_item``, ``dashboard_id``.

It knows nothing about sockets, CORS, capture or how flags are evaluated.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional
from urllib.parse import unquote, urlencode

from . import _catalog
from ._decoding import decode_json_body
from ._errors import RequestError
from ._flag_input import TEAM_ID, changed_flag, definition, new_flag, view
from ._flags import FlagsEndpoint
from ._ingest import parse_time
from ._messages import Request, Response
from ._store import EventStore

__all__ = ["API_PREFIX", "AppApi", "api_methods"]

API_PREFIX = "/api/projects/"
_PATH = re.compile(r"/api/projects/([^/]+)/(feature_flags|annotations)(?:/([^/]+))?")
_METHODS = {
    ("feature_flags", False): ("GET", "POST"),
    ("feature_flags", True): ("GET", "PATCH", "PUT"),
    ("annotations", False): ("GET", "POST"),
    ("annotations", True): ("GET",),
}
_DEFAULT_LIMIT = 100
_MAX_LIMIT = 1000
_SCOPES = ("dashboard_item", "project", "organization", "recording")
_MAX_CONTENT = 400
_ID = re.compile(r"[0-9]{1,18}")


def api_methods(path: str) -> Optional[tuple[str, ...]]:
    """The methods an app API path answers, or None if it is not one (``path`` normalised)."""
    match = _PATH.fullmatch(path)
    return None if match is None else _METHODS[(match.group(2), match.group(3) is not None)]


def _not_found() -> RequestError:
    return RequestError(404, "not_found", "Not found.")


def _drf_time(moment: Optional[datetime] = None) -> str:
    """A time as Django REST framework writes one: ISO-8601, UTC, ``Z``."""
    value = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat() + "Z"


def _page_params(request: Request) -> tuple[int, int]:
    def read(name: str, default: int) -> int:
        raw = request.param(name) or ""
        return int(raw) if _ID.fullmatch(raw) else default

    limit = read("limit", _DEFAULT_LIMIT) or _DEFAULT_LIMIT
    return min(limit, _MAX_LIMIT), read("offset", 0)


def _page(request: Request, count: int, results: list[Any], limit: int, offset: int) -> Response:
    def link(at: int) -> str:
        query = {k: v[-1] for k, v in request.query.items() if k not in ("limit", "offset")}
        query.update(limit=str(limit), offset=str(at))
        host = request.header("Host") or "127.0.0.1"
        return f"http://{host}{request.path}?{urlencode(query)}"

    return Response.json(
        200,
        {
            "count": count,
            "next": link(offset + limit) if offset + limit < count else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "results": results,
        },
    )


def _body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    value = decode_json_body(request.body, content_encoding=request.header("Content-Encoding"))
    if not isinstance(value, dict):
        raise RequestError(400, "parse_error", "the body must be a JSON object")
    return value


class AppApi:
    """Answers the app API against one store and flags endpoint."""

    def __init__(self, store: EventStore, flags: FlagsEndpoint) -> None:
        self._store = store
        self._flags = flags
        self._lock = threading.Lock()
        self._records = {r["id"]: r for r in store.transaction(_catalog.read_flags)}
        if self._records:
            flags.set_overlay([definition(r) for r in self._records.values()])

    def handle(self, request: Request, path: str) -> Response:
        """Answer a request to an app API path (``path`` normalised)."""
        match = _PATH.fullmatch(path)
        if match is None:
            raise _not_found()
        self._flags.check_personal_key(request)
        if unquote(match.group(1)) not in ("@current", str(TEAM_ID)):
            raise _not_found()
        resource, item = match.group(2), match.group(3)
        if item is not None and not _ID.fullmatch(item):
            raise _not_found()
        item_id = None if item is None else int(item)
        if resource == "annotations":
            return self._annotations(request, item_id)
        with self._lock:  # one reader or writer of the flags at a time
            if item_id is None:
                if request.method == "GET":
                    return self._list_flags(request)
                return self._create(request)
            if request.method == "GET":
                return Response.json(200, view(self._find(item_id)))
            return self._change(request, item_id)

    # -- flags -----------------------------------------------------------------------

    def _all(self) -> list[dict[str, Any]]:
        """Every flag not deleted, as records (the file's too), newest first."""
        flags = [f for f in self._flags.base_flags() if isinstance(f.get("key"), str)]
        flags += [r for r in self._records.values() if not r.get("deleted")]
        return sorted(flags, key=lambda f: f.get("id") or 0, reverse=True)

    def _find(self, flag_id: int) -> dict[str, Any]:
        for flag in self._all():
            if flag.get("id") == flag_id:
                return flag
        raise _not_found()

    def _list_flags(self, request: Request) -> Response:
        flags = self._all()
        search = (request.param("search") or "").casefold()
        if search:
            flags = [
                f for f in flags if search in f"{f.get('key')}\n{f.get('name') or ''}".casefold()
            ]
        active = (request.param("active") or "").lower()
        if active in ("true", "false"):
            flags = [f for f in flags if bool(f.get("active")) is (active == "true")]
        limit, offset = _page_params(request)
        page = [view(f) for f in flags[offset : offset + limit]]
        return _page(request, len(flags), page, limit, offset)

    def _save(self, record: dict[str, Any]) -> None:
        self._store.transaction(lambda conn: _catalog.save_flag(conn, record))
        self._records[record["id"]] = record
        self._flags.set_overlay([definition(r) for r in self._records.values()])

    def _create(self, request: Request) -> Response:
        flags = self._all()
        ids = [f["id"] for f in flags if isinstance(f.get("id"), int)]
        ids += list(self._records)  # a deleted flag keeps its id
        record = new_flag(
            _body(request),
            flag_id=max(ids, default=0) + 1,
            now=_drf_time(),
            taken_keys={f["key"] for f in flags},
        )
        self._save(record)
        return Response.json(201, view(record))

    def _change(self, request: Request, flag_id: int) -> Response:
        current = self._find(flag_id)
        record = changed_flag(
            {"tags": [], "version": 1, "deleted": False, **current},
            _body(request),
            now=_drf_time(),
            taken_keys={f["key"] for f in self._all()},
            full=request.method == "PUT",
        )
        self._save(record)
        return Response.json(200, view(record))

    # -- annotations -----------------------------------------------------------------

    def _annotations(self, request: Request, item_id: Optional[int]) -> Response:
        if item_id is not None:
            found = self._store.transaction(lambda conn: _catalog.read_annotation(conn, item_id))
            if found is None:
                raise _not_found()
            return Response.json(200, found)
        if request.method == "POST":
            record, sort_key = _annotation(_body(request))
            stored = self._store.transaction(
                lambda conn: _catalog.add_annotation(conn, record, sort_key)
            )
            return Response.json(201, stored)
        limit, offset = _page_params(request)
        search = request.param("search")
        count, page = self._store.transaction(
            lambda conn: _catalog.list_annotations(conn, search=search, limit=limit, offset=offset)
        )
        return _page(request, count, page, limit, offset)


def _optional(body: Mapping[str, Any], field: str, check: Callable[[Any], bool]) -> Any:
    value = body.get(field)
    if value is not None and not check(value):
        raise RequestError(400, "invalid_input", f"{field} has the wrong type", attr=field)
    return value


def _annotation(body: Mapping[str, Any]) -> tuple[dict[str, Any], Optional[str]]:
    """A new annotation's record from ``body``, and its date marker as a sort key."""
    content = _optional(body, "content", lambda v: isinstance(v, str))
    if content is not None and len(content) > _MAX_CONTENT:
        raise RequestError(
            400, "max_length", f"content has more than {_MAX_CONTENT} characters", attr="content"
        )
    marker = None
    if body.get("date_marker") is not None:
        marker = parse_time(body["date_marker"])
        if marker is None:
            raise RequestError(
                400, "invalid", "date_marker must be an ISO 8601 date-time", attr="date_marker"
            )
    scope = body.get("scope", "dashboard_item")
    if scope not in _SCOPES:
        raise RequestError(
            400, "invalid_choice", f"scope must be one of {', '.join(_SCOPES)}", attr="scope"
        )

    def is_id(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    now = _drf_time()
    record = {
        "content": content,
        "date_marker": None if marker is None else _drf_time(marker),
        "creation_type": "USR",
        "dashboard_item": _optional(body, "dashboard_item", is_id),
        "dashboard_id": _optional(body, "dashboard_id", is_id),
        "created_by": None,
        "created_at": now,
        "updated_at": now,
        "deleted": False,
        "scope": scope,
    }
    return record, None if marker is None else marker.isoformat(timespec="microseconds")
