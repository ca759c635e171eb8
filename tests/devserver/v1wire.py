"""Capture v1 requests written byte for byte (``rawhttp``), so a test can send exactly the
header or body a client library would fix, drop or refuse to send."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Dict, List, Optional

from . import rawhttp
from .conftest import TOKEN

PATH = "/i/v1/analytics/events"


def now_iso(offset: dt.timedelta = dt.timedelta(0)) -> str:
    return (dt.datetime.now(dt.timezone.utc) + offset).isoformat()


def event(**fields: Any) -> Dict[str, Any]:
    """A valid v1 event; ``fields`` replace (or, with the value ``...``, remove) its keys."""
    base: Dict[str, Any] = {
        "event": "signed_up",
        "uuid": str(uuid.uuid4()),
        "distinct_id": "user-1",
        "timestamp": now_iso(),
        "options": {},
        "properties": {"plan": "pro"},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def envelope(events: List[Dict[str, Any]], **fields: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"created_at": now_iso(), "batch": events, **fields}
    return {k: v for k, v in body.items() if v is not ...}


def headers(**overrides: Optional[str]) -> Dict[str, str]:
    """The six required headers and Bearer auth; ``name=None`` leaves one out.

    Keyword names use ``_`` for ``-`` (``PostHog_Attempt="2"``).
    """
    base: Dict[str, Optional[str]] = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "User-Agent": "v1-test/1.0",
        "PostHog-Sdk-Info": "v1-test/1.0",
        "PostHog-Attempt": "1",
        "PostHog-Request-Id": str(uuid.uuid4()),
        "PostHog-Request-Timestamp": now_iso(),
    }
    for name, value in overrides.items():
        base[name.replace("_", "-")] = value
    return {k: v for k, v in base.items() if v is not None}


def post(
    port: int,
    body: Any,
    head: Optional[Dict[str, str]] = None,
    *,
    path: str = PATH,
) -> rawhttp.RawResponse:
    """POST ``body`` (bytes as they are, anything else as JSON) on a fresh connection."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = dict(headers() if head is None else head)
    sent["Content-Length"] = str(len(data))
    request = rawhttp.request("POST", path, port, headers=list(sent.items()), body=data)
    answered = rawhttp.exchange(port, request, expect=1)
    assert answered.responses, "no answer"
    return answered.responses[0]
