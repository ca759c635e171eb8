"""The capture route family: ``/batch``, ``/capture``, ``/e``, ``/i/v0/e`` (POST).

Owns turning one capture request into stored events: decode the body
(``_decoding``), validate the payload (``_ingest``), write it in one transaction
(``_store``), and answer ``{"status": 1}`` with the counts the request log keeps.
A request is stored completely or not at all: any refusal is a ``RequestError``
raised before the store is touched.

It knows nothing about sockets, CORS or the other route families.
"""

from __future__ import annotations

from typing import Collection

from ._decoding import decode_json_body
from ._ingest import parse_capture
from ._messages import Request, Response
from ._store import EventStore

__all__ = ["CAPTURE_PATHS", "capture"]

#: The capture endpoints, without their optional trailing slash.
CAPTURE_PATHS = frozenset({"/batch", "/capture", "/e", "/i/v0/e"})


def capture(request: Request, path: str, store: EventStore, tokens: Collection[str]) -> Response:
    """Answer a POST to a capture endpoint (``path`` normalised, no trailing slash)."""
    payload = decode_json_body(
        request.body,
        content_encoding=request.header("Content-Encoding"),
        content_type=request.header("Content-Type"),
        query=request.query,
    )
    parsed = parse_capture(payload, tokens)
    result = store.ingest(parsed, path=path + "/")
    return Response.json(200, {"status": 1}, events=result.received, inserted=result.inserted)
