"""Segment's spec as PostHog reads it: message ids, page and screen, segment-python's calls.

Owns three pure translations, shared by the Segment call shapes (``_legacy``, the
client) and the historical import:

- ``message_uuid``: a Segment ``messageId`` -> the event's ``uuid``. A messageId that
  is a UUID is that UUID; any other is the name-based ``uuid5(MESSAGE_ID_NAMESPACE,
  messageId)``, so the same message sent twice is one event (PostHog and the dev
  server keep one event per uuid) and a re-run import duplicates nothing;
- ``page_properties`` / ``screen_properties``: Segment's ``page`` and ``screen`` ->
  the properties of PostHog's ``$pageview`` / ``$screen``: ``$current_url`` /
  ``$pathname`` / ``$referrer`` from ``properties.url`` / ``.path`` / ``.referrer``,
  else from ``context.page``'s same fields (a ``$current_url`` the properties already
  hold is kept; ``url``, ``path`` and ``referrer`` stay as given, so nothing the user
  sent is lost); a screen's ``name`` -> ``$screen_name``; ``name`` (a page's) and
  ``category`` kept as properties. A live ``page()`` call and an imported ``page``
  message with the same fields are the same event;
- ``segment_fields``: segment-analytics-python's positional arguments, in its order
  (``track(user_id, event, properties, context, timestamp, anonymous_id,
  integrations, message_id)`` and the rest, ``POSITIONAL``) -> analytics-node's field
  names, which ``_legacy`` reads. Keywords are ``_legacy.normalize``'s business.

``MESSAGE_ID_NAMESPACE`` is the one namespace of the package: the import command
(``_segment_export``) derives its uuids here too, so an event sent live with a
messageId and later imported from Segment's export with the same one is stored once.

Knows nothing about clients, queues or HTTP; imports nothing of the package but the
error classes and the JSON-safe check.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ._jsonsafe import not_a_name
from .errors import ValidationError

__all__ = [
    "MESSAGE_ID_NAMESPACE",
    "POSITIONAL",
    "is_positional_id",
    "message_uuid",
    "name_uuid",
    "page_properties",
    "screen_properties",
    "segment_fields",
]

# uuid5(NAMESPACE_URL, "https://segment.com/docs/connections/spec/common/#messageid"):
# fixed forever, or re-sent messages would stop matching the events they made.
MESSAGE_ID_NAMESPACE = uuid.UUID("ae07bd7c-32c3-58d5-802e-6973d5c93a91")
_NAMESPACE_BYTES = MESSAGE_ID_NAMESPACE.bytes
_CANONICAL = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
).fullmatch

_COMMON = ("context", "timestamp", "anonymous_id", "integrations", "message_id")
_VIEW = ("user_id", "category", "name", "properties", *_COMMON)
# segment-analytics-python 2.x's parameters, in its order (after ``self``).
POSITIONAL: Dict[str, Tuple[str, ...]] = {
    "identify": ("user_id", "traits", *_COMMON),
    "track": ("user_id", "event", "properties", *_COMMON),
    "page": _VIEW,
    "screen": _VIEW,
    "group": ("user_id", "group_id", "traits", *_COMMON),
    "alias": ("previous_id", "user_id", "context", "timestamp", "integrations", "message_id"),
}
_CAMEL = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "group_id": "groupId",
    "message_id": "messageId",
    "previous_id": "previousId",
}


def name_uuid(text: str) -> str:
    """``str(uuid.uuid5(MESSAGE_ID_NAMESPACE, text))`` without the UUID objects: the
    import derives one per line, and this is a quarter of uuid5's cost."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + text.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def message_uuid(message_id: Any, field: str = "messageId") -> Optional[str]:
    """The event uuid for a Segment messageId (None: none given); see the module."""
    if message_id is None:
        return None
    if isinstance(message_id, uuid.UUID):
        return str(message_id)
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)  # segment-python sends str(message_id)
    if not isinstance(message_id, str) or not message_id:
        raise not_a_name(message_id, field, ints=True)
    if _CANONICAL(message_id):
        return message_id.lower()
    # uuid.UUID reads 32 hex digits once "urn:", "uuid:", braces and dashes are gone;
    # anything else would only raise, and a raise costs more than the uuid5 itself
    digits = message_id.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(digits) == 32:
        try:
            return str(uuid.UUID(message_id))
        except ValueError:
            pass
    return name_uuid(message_id)


def _optional_text(value: Any, field: str) -> Optional[str]:
    if isinstance(value, str):
        return value if value else None
    if value is None:
        return None
    raise ValidationError(f"{field} must be a string, not {type(value).__name__}", field=field)


def _name_and_category(props: Dict[str, Any], name: Any, category: Any) -> Optional[str]:
    text = _optional_text(category, "category")
    if text is not None:
        props.setdefault("category", text)  # the spec: "added to the properties object"
    return _optional_text(name, "name")


def page_properties(
    props: Dict[str, Any], name: Any, category: Any, context: Optional[Mapping[str, Any]]
) -> Dict[str, Any]:
    """A ``$pageview``'s properties from a page's (a JSON-safe copy, changed in place)."""
    page = context.get("page") if isinstance(context, Mapping) else None
    for key, prop in (("url", "$current_url"), ("path", "$pathname"), ("referrer", "$referrer")):
        if prop in props:
            continue  # given as PostHog names it: the caller's own choice
        # the page's own properties win over the context's (its copy, often stale)
        value = props.get(key)
        if not isinstance(value, str) or not value:
            value = page.get(key) if isinstance(page, Mapping) else None
        if isinstance(value, str) and value:
            props[prop] = value
    name = _name_and_category(props, name, category)
    if name is not None:
        props.setdefault("name", name)
    return props


def screen_properties(props: Dict[str, Any], name: Any, category: Any) -> Dict[str, Any]:
    """A ``$screen``'s properties from a screen's (a JSON-safe copy, changed in place)."""
    name = _name_and_category(props, name, category)
    if name is not None:
        props.setdefault("$screen_name", name)
    return props


def is_positional_id(value: Any) -> bool:
    """Does a call's first argument start segment-python's positional form (an id)?"""
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def segment_fields(call: str, first: Any, rest: Tuple[Any, ...]) -> Dict[str, Any]:
    """segment-python's positional arguments as analytics-node's fields (None: not given)."""
    order = POSITIONAL[call]
    given = (first, *rest)
    if len(given) > len(order):
        raise ValidationError(
            f"{call}() takes at most {len(order)} positional arguments, in segment-python's "
            f"order ({', '.join(order)}); it was given {len(given)}",
            field=order[-1],
        )
    if first is not None and not is_positional_id(first):
        raise ValidationError(
            f"{call}() takes a message mapping (analytics-node), or segment-python's "
            f"({', '.join(order[:3])}, ...) with {order[0]} a string or an int, not "
            f"{type(first).__name__}",
            field=order[0],
        )
    return {_CAMEL.get(name, name): value for name, value in zip(order, given) if value is not None}
