"""Segment messages as exports write them -> the analytics-node calls that send them (pure).

Owns the reading of one Segment message, in the spec's shape that Segment's exports
and raw logs write (``type``, ``messageId``, ``userId`` / ``anonymousId``,
``timestamp``, ``context``, ``integrations``, and per type ``event`` / ``properties``
/ ``traits`` / ``name`` / ``category`` / ``groupId`` / ``previousId``), as the call of
the client's Segment shapes whose fields produce the PostHog event. The mapping
itself is not here: it is ``_legacy``'s and ``_segment``'s, the same one the live
calls use, so a message imported from an export and the same call made live
(``identify``, ``track``, ``page``, ``screen``, ``group``, ``alias``) are one event,
uuid included:

=========  ===================================================================
identify   ``identify({userId, anonymousId, traits})`` -> ``$identify``; with
           both ids (different), ``$anon_distinct_id`` = anonymousId
track      ``track({userId, anonymousId, event, properties})`` -> the event
page       ``page({userId, anonymousId, name, category, properties})`` ->
           ``$pageview`` (``$current_url`` from ``properties.url``, else
           ``context.page.url``; ``url`` kept; see ``_segment``)
screen     ``screen({...the same})`` -> ``$screen`` with ``$screen_name``
group      ``group({groupId, userId, anonymousId, traits})`` -> ``$groupidentify``
           (``$group_type``: the client's ``group_type``; Segment has none)
alias      ``alias({previousId, userId})`` -> ``$create_alias`` sent as previousId,
           ``alias`` = userId (the library's alias direction)
=========  ===================================================================

Every message keeps its ``context`` (``ip`` -> ``$ip``, ``userAgent`` ->
``$raw_user_agent``, the rest under ``$context``) and a non-empty ``integrations``
(``$integrations``), as the live calls do; Segment's bookkeeping (``sentAt``,
``receivedAt``, ``channel``, ``version``, ...) is not sent. What an export may hold
and a live call would refuse is read leniently: an empty-string ``userId`` /
``anonymousId`` counts as absent, and so does an empty ``messageId``.

The event's uuid (``segment_uuid``): ``_segment.message_uuid(messageId)`` (the
messageId itself when it is a UUID, else ``uuid5(MESSAGE_ID_NAMESPACE, messageId)``,
the live calls' rule); a message without one gives ``uuid5(MESSAGE_ID_NAMESPACE,
"content:" + its canonical JSON)``. So the same message always becomes the same
event, and PostHog (which deduplicates by uuid) stores it once however often it is
sent or imported.

The timestamp (``segment_timestamp``): ``timestamp`` (Segment's clock-corrected
time), else ``originalTimestamp``, ``receivedAt``, ``sentAt``; fractions of a second
of any length are written with six digits (Python 3.9 reads only 3 or 6).

Knows nothing about clients, queues, files or HTTP: its functions take a mapping
and return plain values (``segment_message`` builds the ``Message`` with ``_legacy``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ._events import Message
from ._legacy import legacy_alias, legacy_group, legacy_identify, legacy_page, legacy_track
from ._segment import message_uuid, name_uuid
from .errors import ValidationError

__all__ = [
    "SEGMENT_TYPES",
    "content_uuid",
    "legacy_fields",
    "segment_message",
    "segment_timestamp",
    "segment_uuid",
]

SEGMENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")

_TIME_FIELDS = ("timestamp", "originalTimestamp", "receivedAt", "sentAt")
_FRACTION = re.compile(r"(?<=T\d\d:\d\d:\d\d\.)(\d+)")
# "2021-03-24T18:12:01.123Z": three digits already, nothing to rewrite
_SEGMENT_STYLE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").fullmatch


def content_uuid(message: Mapping[str, Any]) -> str:
    """The event uuid for a message without a ``messageId``: a digest of its content."""
    try:
        text = json.dumps(
            message, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        text = repr(message)
    return name_uuid("content:" + text)


def segment_uuid(message: Mapping[str, Any]) -> str:
    """``message_uuid(messageId)``, or ``content_uuid`` when there is no messageId.

    Raises ``ValidationError`` (field ``messageId``) for a messageId that is neither
    a string nor an int, as the live calls do."""
    message_id = message.get("messageId")
    made = None if message_id == "" else message_uuid(message_id)
    return content_uuid(message) if made is None else made


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


def _id(message: Mapping[str, Any], name: str) -> Any:
    value = message.get(name)
    return None if value == "" else value


def legacy_fields(message: Any, *, uuid: Optional[str] = None) -> Tuple[str, Dict[str, Any]]:
    """``(call, fields)``: the call (the message's ``type``: ``identify``, ``track``,
    ``page``, ``screen``, ``group`` or ``alias``) and the mapping to give the client's
    call of that name, for one Segment message.

    ``uuid`` defaults to ``segment_uuid(message)``. Raises ``ValidationError`` for a
    message that is not a mapping or whose ``type`` is not one of ``SEGMENT_TYPES``;
    what is wrong inside a known type is left to the call, which names the field.
    """
    if not isinstance(message, Mapping):
        raise ValidationError(
            f"a Segment message is a JSON object, not {type(message).__name__}", field="message"
        )
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in SEGMENT_TYPES:
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
    for name in ("context", "integrations"):
        if message.get(name) is not None:
            fields[name] = message[name]
    user = _id(message, "userId")
    if kind == "alias":
        previous = _id(message, "previousId")
        if previous is None:  # the call would name its own field, ``from``
            raise ValidationError("an alias needs previousId", field="previousId")
        fields["previousId"] = previous
        fields["userId"] = user
        return kind, fields
    fields["userId"] = user
    fields["anonymousId"] = _id(message, "anonymousId")
    if kind == "identify":
        fields["traits"] = message.get("traits")
    elif kind == "group":
        fields["groupId"] = message.get("groupId")
        fields["traits"] = message.get("traits")
    elif kind == "track":
        fields["event"] = message.get("event")
        fields["properties"] = message.get("properties")
    else:  # page, screen
        fields["name"] = message.get("name")
        fields["category"] = message.get("category")
        fields["properties"] = message.get("properties")
    return kind, fields


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
    if call in ("page", "screen"):
        return legacy_page(fields, screen=call == "screen")
    if call == "group":
        return legacy_group(fields, group_type)
    return legacy_alias(fields)
