"""Segment messages -> the analytics-node calls that send them (pure).

Owns the reading of one Segment message, in the spec's shape that Segment's exports
and raw logs write (``type``, ``messageId``, ``userId`` / ``anonymousId``,
``timestamp``, ``context``, and per type ``event`` / ``properties`` / ``traits`` /
``name`` / ``category`` / ``groupId`` / ``previousId``), as the analytics-node call
whose fields produce the PostHog event, so a Segment message and the same call made
live through the client end as the same event:

=========  ===================================================================
identify   ``identify({userId, anonymousId, traits})`` -> ``$identify``; with
           both ids, ``$anon_distinct_id`` = anonymousId (so PostHog joins the
           anonymous history to the person, as PostHog's Segment destination does)
track      ``track({userId, anonymousId, event, properties})`` -> the event
page       ``track`` of ``$pageview`` with ``page_properties``
screen     ``track`` of ``$screen`` with ``screen_properties``
group      ``group({groupId, userId, anonymousId, traits})`` -> ``$groupidentify``
           (``$group_type``: the client's ``group_type``; Segment has none)
alias      ``alias({previousId, userId})`` -> ``$create_alias`` sent as previousId,
           ``alias`` = userId (the library's alias direction)
=========  ===================================================================

Every message keeps its ``context`` (``ip`` -> ``$ip``, ``userAgent`` ->
``$raw_user_agent``, the rest under ``$context``, by ``_legacy``); ``integrations``
and Segment's bookkeeping (``sentAt``, ``receivedAt``, ``channel``, ``version``, ...)
are not sent. An empty-string ``userId`` / ``anonymousId`` counts as absent.

The event's uuid (``segment_uuid``): a ``messageId`` that is a UUID is that UUID;
any other ``messageId`` gives ``uuid5(SEGMENT_NAMESPACE, messageId)``; a message
without one gives ``uuid5(SEGMENT_NAMESPACE, "content:" + its canonical JSON)``. So
the same message always becomes the same event, and PostHog (which deduplicates by
uuid) stores it once however often it is sent. ``SEGMENT_NAMESPACE`` is
``uuid5(NAMESPACE_URL, "analytics-compat:segment:messageId")`` =
``50b4931e-799f-5117-8269-4d2011ac6ade``, fixed forever: changing it would make
every re-import a duplicate.

The timestamp (``segment_timestamp``): ``timestamp`` (Segment's clock-corrected
time), else ``originalTimestamp``, ``receivedAt``, ``sentAt``; fractions of a second
of any length are written with six digits (Python 3.9 reads only 3 or 6).

Knows nothing about clients, queues, files or HTTP: its functions take a mapping
and return plain values (``segment_message`` builds the ``Message`` with ``_legacy``).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ._events import Message
from ._legacy import legacy_alias, legacy_group, legacy_identify, legacy_track
from .errors import ValidationError

__all__ = [
    "SEGMENT_NAMESPACE",
    "SEGMENT_TYPES",
    "content_uuid",
    "legacy_fields",
    "message_uuid",
    "page_properties",
    "screen_properties",
    "segment_message",
    "segment_timestamp",
    "segment_uuid",
]

SEGMENT_NAMESPACE = uuid.UUID("50b4931e-799f-5117-8269-4d2011ac6ade")
SEGMENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")

# The analytics-node call each type becomes.
_CALL = {
    "identify": "identify",
    "track": "track",
    "page": "track",
    "screen": "track",
    "group": "group",
    "alias": "alias",
}
_TIME_FIELDS = ("timestamp", "originalTimestamp", "receivedAt", "sentAt")
_FRACTION = re.compile(r"(?<=T\d\d:\d\d:\d\d\.)(\d+)")
_CANONICAL = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_NAMESPACE_BYTES = SEGMENT_NAMESPACE.bytes
# "2021-03-24T18:12:01.123Z": three digits already, nothing to rewrite
_SEGMENT_STYLE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").fullmatch


def _name_based(text: str) -> str:
    """``str(uuid.uuid5(SEGMENT_NAMESPACE, text))``, without the UUID objects (hot path)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + text.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def message_uuid(message_id: Any) -> str:
    """The event uuid for a Segment ``messageId`` (see the module)."""
    text = str(message_id)
    if _CANONICAL.fullmatch(text):
        return text.lower()
    # what uuid.UUID(text) reads as 32 hex digits (braces, "urn:uuid:", dashes anywhere)
    digits = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(digits) == 32:
        try:
            return str(uuid.UUID(digits))
        except ValueError:
            pass
    return _name_based(text)


def content_uuid(message: Mapping[str, Any]) -> str:
    """The event uuid for a message without a ``messageId``: a digest of its content."""
    try:
        text = json.dumps(
            message, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        text = repr(message)
    return _name_based("content:" + text)


def segment_uuid(message: Mapping[str, Any]) -> str:
    """``message_uuid(messageId)``, or ``content_uuid`` when there is no messageId."""
    message_id = message.get("messageId")
    if message_id is None or message_id == "":
        return content_uuid(message)
    return message_uuid(message_id)


def segment_timestamp(message: Mapping[str, Any]) -> Any:
    """The message's time (see the module), or None if it carries none."""
    for name in _TIME_FIELDS:
        value = message.get(name)
        if value is not None and value != "":
            # the common case, Segment's own "2021-03-24T18:12:01.123Z", needs no search
            if isinstance(value, str) and not _SEGMENT_STYLE(value):
                match = _FRACTION.search(value)
                if match is not None and len(match.group(1)) not in (3, 6):
                    digits = (match.group(1) + "000000")[:6]
                    value = value[: match.start(1)] + digits + value[match.end(1) :]
            return value
    return None


def _context_page(message: Mapping[str, Any]) -> Mapping[str, Any]:
    context = message.get("context")
    page = context.get("page") if isinstance(context, Mapping) else None
    return page if isinstance(page, Mapping) else {}


def _properties(message: Mapping[str, Any]) -> Any:
    props = message.get("properties")
    if props is None:
        return {}
    # not a mapping: returned as is, so the call's validation names the field
    return dict(props) if isinstance(props, Mapping) else props


def _keep(props: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "" and key not in props:
        props[key] = value


def page_properties(message: Mapping[str, Any]) -> Any:
    """A Segment ``page``'s properties as ``$pageview``'s.

    The message's ``properties``, plus ``$current_url`` / ``$pathname`` /
    ``$referrer`` from ``properties.url`` / ``.path`` / ``.referrer``, else from
    ``context.page``'s same fields; ``name`` and ``category`` kept as properties of
    those names. What the properties already hold is never overwritten.
    """
    props = _properties(message)
    if not isinstance(props, dict):
        return props
    page = _context_page(message)
    for key, field in (("$current_url", "url"), ("$pathname", "path"), ("$referrer", "referrer")):
        _keep(props, key, props.get(field) or page.get(field))
    _keep(props, "name", message.get("name"))
    _keep(props, "category", message.get("category"))
    return props


def screen_properties(message: Mapping[str, Any]) -> Any:
    """A Segment ``screen``'s properties as ``$screen``'s: ``$screen_name`` from ``name``
    (else ``properties.name``); ``name`` and ``category`` kept, as for a page."""
    props = _properties(message)
    if not isinstance(props, dict):
        return props
    _keep(props, "$screen_name", message.get("name") or props.get("name"))
    _keep(props, "name", message.get("name"))
    _keep(props, "category", message.get("category"))
    return props


def _id(message: Mapping[str, Any], name: str) -> Any:
    value = message.get(name)
    return None if value == "" else value


def legacy_fields(message: Any, *, uuid: Optional[str] = None) -> Tuple[str, Dict[str, Any]]:
    """``(call, fields)``: the analytics-node call (``identify``, ``track``, ``group`` or
    ``alias``) and the mapping to give it, for one Segment message.

    ``uuid`` defaults to ``segment_uuid(message)``. Raises ``ValidationError`` for a
    message that is not a mapping or whose ``type`` is not one of ``SEGMENT_TYPES``;
    what is wrong inside a known type is left to the call, which names the field.
    """
    if not isinstance(message, Mapping):
        raise ValidationError(
            f"a Segment message is a JSON object, not {type(message).__name__}", field="message"
        )
    kind = message.get("type")
    call = _CALL.get(kind) if isinstance(kind, str) else None
    if call is None:
        if kind is None:
            raise ValidationError("the message has no type", field="type")
        raise ValidationError(
            f"unknown message type {str(kind)[:40]!r} (expected one of {', '.join(SEGMENT_TYPES)})",
            field="type",
        )
    fields: Dict[str, Any] = {
        "uuid": segment_uuid(message) if uuid is None else uuid,
        "timestamp": segment_timestamp(message),
    }
    if message.get("context") is not None:
        fields["context"] = message["context"]
    user, anonymous = _id(message, "userId"), _id(message, "anonymousId")
    if call == "alias":
        previous = _id(message, "previousId")
        if previous is None:  # the call would name its own field, ``from``
            raise ValidationError("an alias needs previousId", field="previousId")
        fields["previousId"] = previous
        fields["userId"] = user
        return call, fields
    fields["userId"] = user
    fields["anonymousId"] = anonymous
    if kind == "identify":
        traits = message.get("traits")
        if (
            user is not None
            and anonymous is not None
            and (traits is None or isinstance(traits, Mapping))
        ):
            traits = {**(traits or {}), "$anon_distinct_id": anonymous}
        fields["traits"] = traits
    elif kind == "group":
        fields["groupId"] = message.get("groupId")
        fields["traits"] = message.get("traits")
    elif kind == "track":
        fields["event"] = message.get("event")
        fields["properties"] = message.get("properties")
    elif kind == "page":
        fields["event"] = "$pageview"
        fields["properties"] = page_properties(message)
    else:
        fields["event"] = "$screen"
        fields["properties"] = screen_properties(message)
    return call, fields


def segment_message(message: Any, group_type: str = "company") -> Message:
    """The ``Message`` a Segment message becomes (what ``legacy_fields``' call builds).

    ``group_type`` is the ``$group_type`` of a ``group`` (the client's option).
    Raises ``ValidationError`` naming the field for a message that cannot be sent.
    """
    call, fields = legacy_fields(message)
    if call == "identify":
        return legacy_identify(fields)
    if call == "track":
        return legacy_track(fields)
    if call == "group":
        return legacy_group(fields, group_type)
    return legacy_alias(fields)
