"""Validating a decoded capture payload into events ready to store.

Owns the capture wire shapes PostHog accepts and the checks made on them before
anything is written:

- ``{"api_key", "batch": [...], "sent_at", "historical_migration"}`` (server SDKs),
- one event ``{"api_key"|"token", "event", "distinct_id", "properties", ...}``,
- a JSON list of events (posthog-js), or ``{"data": ...}`` wrapping either.

The project token comes from the body (``api_key`` / ``token``) or, failing that, from
every event (``api_key`` / ``token`` / ``properties.token``), which must then agree.
A missing or unknown token is 401, naming the accepted tokens (never the one sent);
any malformed event fails the whole request (400), as in PostHog's v0 capture,
so a request is stored completely or not at all. The token is removed from stored
properties. An event's ``timestamp`` is stored as sent (normalised to UTC), without
PostHog's ``sent_at`` clock-skew correction; with no usable timestamp (missing,
unparseable, or out of range once in UTC) it is the arrival time minus ``offset`` ms,
if that is representable, else the arrival time. It knows nothing about HTTP, SQLite or
persons.
"""

from __future__ import annotations

import contextlib
import hmac
import uuid as uuid_module
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Mapping, Optional

import attrs

from ._errors import RequestError

__all__ = [
    "CaptureRequest",
    "CapturedEvent",
    "check_token",
    "parse_capture",
    "parse_time",
    "utc_now_iso",
]


@attrs.frozen(kw_only=True)
class CapturedEvent:
    """One validated event, in the shape the store writes it."""

    uuid: str
    event: str
    distinct_id: str
    properties: dict[str, Any]
    timestamp: str
    sent_at: Optional[str]
    received_at: str


@attrs.frozen(kw_only=True)
class CaptureRequest:
    """A validated capture request: every event of it, in the order sent."""

    events: list[CapturedEvent]
    historical_migration: bool


def utc_now_iso(now: Optional[datetime] = None) -> str:
    """ISO-8601 UTC with milliseconds, the form every stored time takes."""
    moment = now or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: Any) -> Optional[datetime]:
    """A lenient ISO-8601 time in UTC (a naive one is taken as UTC), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        # 9999-12-31T23:59-05:00 parses, but is past datetime's range once in UTC
        return moment.astimezone(timezone.utc)
    except OverflowError:
        return None


def _accepted(tokens: Collection[str]) -> str:
    # Naming the accepted tokens is what unblocks a new user pointing a client at the
    # wrong one: they are dev tokens the server was started with, and project tokens
    # are public by design (every web page using PostHog ships its own). What the
    # client sent is never repeated: it may be a real key.
    return "this devserver accepts " + " or ".join(tokens) + " (serve --token adds one)"


def check_token(token: Optional[str], tokens: Collection[str]) -> str:
    """Return ``token`` if it is one of ``tokens``, else raise 401 (never echoing it)."""
    if not token:
        raise RequestError(
            401, "missing_token", f"the request has no project token; {_accepted(tokens)}"
        )
    matched = False
    for known in tokens:
        # compare every candidate so the time taken does not say which prefix matched
        matched |= hmac.compare_digest(token.encode("utf-8"), known.encode("utf-8"))
    if not matched:
        raise RequestError(
            401, "invalid_token", f"the project token is not known here; {_accepted(tokens)}"
        )
    return token


def _token_of(obj: Mapping[str, Any]) -> Optional[str]:
    for key in ("api_key", "token"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    properties = obj.get("properties")
    if isinstance(properties, Mapping):
        value = properties.get("token")
        if isinstance(value, str) and value:
            return value
    return None


def _distinct_id(raw: Mapping[str, Any], properties: Mapping[str, Any], index: int) -> str:
    for value in (raw.get("distinct_id"), raw.get("$distinct_id"), properties.get("distinct_id")):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            value = str(value)
        if isinstance(value, str) and value:
            return value
    raise RequestError(400, "missing_distinct_id", f"event {index} has no distinct_id")


def _event(
    raw: Any,
    index: int,
    *,
    sent_at: Optional[str],
    received: datetime,
) -> CapturedEvent:
    if not isinstance(raw, Mapping):
        raise RequestError(400, "invalid_event", f"event {index} is not an object")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise RequestError(400, "missing_event_name", f"event {index} has no event name")
    raw_properties = raw.get("properties")
    if raw_properties is None:
        raw_properties = {}
    if not isinstance(raw_properties, Mapping):
        raise RequestError(400, "invalid_properties", f"event {index} properties is not an object")
    properties = {k: v for k, v in raw_properties.items() if k != "token"}
    # Some SDKs send $set / $set_once beside properties rather than inside them.
    for key in ("$set", "$set_once"):
        top = raw.get(key)
        if isinstance(top, Mapping):
            inner = properties.get(key)
            properties[key] = {**top, **(inner if isinstance(inner, Mapping) else {})}
    distinct_id = _distinct_id(raw, raw_properties, index)

    raw_uuid = raw.get("uuid")
    if raw_uuid is None or raw_uuid == "":
        event_uuid = str(uuid_module.uuid4())
    else:
        try:
            event_uuid = str(uuid_module.UUID(str(raw_uuid)))
        except ValueError:
            raise RequestError(400, "invalid_uuid", f"event {index} uuid is not a UUID") from None

    moment = parse_time(raw.get("timestamp"))
    if moment is None:
        offset = raw.get("offset")
        moment = received
        if isinstance(offset, (int, float)) and not isinstance(offset, bool) and offset >= 0:
            # an offset reaching past year 1 is no usable time: keep the arrival time
            with contextlib.suppress(OverflowError):
                moment = received - timedelta(milliseconds=offset)
    event_sent_at = raw.get("sent_at") if isinstance(raw.get("sent_at"), str) else sent_at
    return CapturedEvent(
        uuid=event_uuid,
        event=name,
        distinct_id=distinct_id,
        properties=properties,
        timestamp=utc_now_iso(moment),
        sent_at=event_sent_at,
        received_at=utc_now_iso(received),
    )


def parse_capture(
    payload: Any,
    tokens: Collection[str],
    *,
    now: Optional[datetime] = None,
) -> CaptureRequest:
    """Validate a decoded capture body; raise ``RequestError`` (400/401) if unacceptable."""
    received = now or datetime.now(timezone.utc)
    body: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    if isinstance(payload, Mapping) and "data" in payload and "event" not in payload:
        inner = payload["data"]
        body = {**payload, **inner} if isinstance(inner, Mapping) else {**payload, "batch": inner}
        payload = body
    if isinstance(payload, list):
        raw_events: list[Any] = payload
    elif isinstance(payload, Mapping) and "batch" in payload:
        batch = payload["batch"]
        if not isinstance(batch, list):
            raise RequestError(400, "invalid_batch", "batch is not a list")
        raw_events = batch
    elif isinstance(payload, Mapping):
        raw_events = [payload]
    else:
        raise RequestError(400, "invalid_payload", "the body is neither an event nor a batch")
    if not raw_events:
        raise RequestError(400, "empty_batch", "the batch has no events")

    token = _token_of(body)
    if token is None:
        event_tokens = {_token_of(e) if isinstance(e, Mapping) else None for e in raw_events}
        if len(event_tokens) > 1:
            raise RequestError(400, "mixed_tokens", "the events carry different project tokens")
        token = event_tokens.pop()
    check_token(token, tokens)

    sent_at = body.get("sent_at") if isinstance(body.get("sent_at"), str) else None
    events = [
        _event(raw, index, sent_at=sent_at, received=received)
        for index, raw in enumerate(raw_events)
    ]
    return CaptureRequest(
        events=events, historical_migration=body.get("historical_migration") is True
    )
