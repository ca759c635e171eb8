"""The PostHog core: build events from PostHog-style calls.

Owns the shape of a PostHog event (``event``, ``distinct_id``, ``properties``,
``timestamp``, ``uuid``) as a ``Message``, and the split of work between threads:
the caller's thread only validates and snapshots (``build_*`` returns a
``Message``); the worker thread assigns the uuid and formats the timestamp
(``_wire.iso_timestamp``) when the protocol encodes the event, exactly once, so a retried event
is byte-for-byte the same event.

Knows nothing about queues, triggers, HTTP, wire protocols or the legacy
analytics-node names.
"""

from __future__ import annotations

import datetime as _dt
import random
import time
import uuid as _uuid
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from ._jsonsafe import check_int, iso_utc, json_safe_mapping, not_a_name
from ._lifecycle import ForkPhase, after_fork_in_child
from ._promise import MessagePromise, PromiseState
from ._promise import lock as _promise_lock
from ._wire import iso_timestamp
from .errors import ValidationError

__all__ = [
    "Message",
    "assign_uuids",
    "build_alias",
    "build_capture",
    "build_group_identify",
    "build_set",
    "check_distinct_id",
    "check_uuid",
    "new_uuid",
    "parse_timestamp",
    "person_properties",
    "wire_distinct_id",
]

# Event uuids need uniqueness, not secrecy; a seeded PRNG is several times cheaper than
# os.urandom per event. Re-seeded after fork so children never repeat the parent's.
_rng = random.Random()
after_fork_in_child(_rng.seed, ForkPhase.STATE)


class Message(MessagePromise):
    """One queued event, and the promise returned for it (one object, not two).

    Built on the caller's thread; encoded on the worker's, by the client's protocol,
    which keeps the bytes in ``encoded`` so every attempt sends the same event.
    ``uuid`` is made on first use: when the caller reads it (so it is known as soon as
    the call returns) or when the worker encodes the event, whichever comes first; a
    lock makes both see the same one, and a call that never asks pays nothing.
    """

    __slots__ = (
        "distinct_id",
        "encoded",
        "enqueued_at",
        "event",
        "properties",
        "seq",
        "timestamp",
    )

    def __init__(
        self,
        event: str,
        distinct_id: Optional[str],
        properties: dict[str, Any],
        timestamp: Union[float, str],
        uuid: Optional[str],
    ) -> None:
        # MessagePromise.__init__, inlined: this runs once per call on the hot path.
        self._state = PromiseState.PENDING
        self._error = None
        self._listeners = None
        self._event = None
        self._uuid = uuid
        self.event = event
        # None only from a call whose distinct id is optional (``capture_exception``):
        # the pipeline's context stage fills it in, or the personless stage after it.
        self.distinct_id = distinct_id
        self.properties = properties
        self.timestamp = timestamp  # epoch seconds (float) or an ISO string the caller gave
        self.encoded: Optional[bytes] = None
        self.enqueued_at = 0.0
        self.seq = 0  # set by the batcher: order of arrival in the queue

    def as_event(self) -> Dict[str, Any]:
        """The event as a dict (what ``before_send`` and ``on_error`` are given)."""
        return {
            "event": self.event,
            "distinct_id": self.distinct_id,
            "properties": self.properties,
            "timestamp": iso_timestamp(self.timestamp),
            "uuid": self.uuid,
        }

    @property
    def uuid(self) -> str:
        made = self._uuid
        if made is None:
            with _promise_lock():
                made = self._uuid
                if made is None:
                    made = self._uuid = _fast_uuid4()
        return made


def check_distinct_id(value: Any, field: str) -> str:
    """A distinct id is a non-empty string; an int is accepted and stringified."""
    if isinstance(value, str):
        if value:
            return value
    elif isinstance(value, int) and not isinstance(value, bool):
        check_int(value, field)
        return str(value)
    raise not_a_name(value, field, ints=True)


def _check_name(value: Any, field: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise not_a_name(value, field)


def parse_timestamp(value: Any, field: str = "timestamp") -> Union[float, str]:
    """None -> now (epoch seconds); datetime or ISO-8601 string -> UTC ISO string."""
    if value is None:
        return time.time()
    if isinstance(value, (_dt.datetime, str)):
        try:
            if isinstance(value, str):
                text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
                return iso_utc(_dt.datetime.fromisoformat(text))
            return iso_utc(value)
        except (ValueError, OverflowError):
            pass
    raise ValidationError(
        f"{field} must be a datetime or an ISO-8601 string, not {value!r:.40}", field=field
    )


def _check_uuid(value: Any, field: str = "uuid") -> Optional[str]:
    if value is None:
        return None
    try:
        return str(value if isinstance(value, _uuid.UUID) else _uuid.UUID(str(value)))
    except ValueError:
        raise ValidationError(f"{field} must be a valid UUID", field=field) from None


check_uuid = _check_uuid  # None, or the canonical text of a valid UUID


def _properties(value: Any, field: str) -> dict[str, Any]:
    return {} if value is None else json_safe_mapping(value, field)


def build_capture(
    distinct_id: Any,
    event: Any,
    properties: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    *,
    id_field: str = "distinct_id",
    event_field: str = "event",
    properties_field: str = "properties",
) -> Message:
    """A PostHog ``capture``: any event name, properties as given.

    ``distinct_id=None`` is allowed here (PostHog's keyword call shapes): the
    pipeline then takes the context's id, or makes the event personless.
    """
    # The hot path: the common case (str ids, no timestamp/uuid) avoids helper calls.
    if type(distinct_id) is not str or not distinct_id:
        distinct_id = None if distinct_id is None else check_distinct_id(distinct_id, id_field)
    if type(event) is not str or not event:
        event = _check_name(event, event_field)
    props = {} if properties is None else json_safe_mapping(properties, properties_field)
    if groups is not None:
        props["$groups"] = json_safe_mapping(groups, "groups")
    return Message(
        event,
        distinct_id,  # None until the pipeline gives it one
        props,
        time.time() if timestamp is None else parse_timestamp(timestamp),
        None if uuid is None else _check_uuid(uuid),
    )


_PERSON_KEYS = ("$set", "$set_once", "$anon_distinct_id")


def person_properties(properties: Any, field: str, main: str = "$set") -> dict[str, Any]:
    """The properties of a person event, with ``$set`` / ``$set_once`` /
    ``$anon_distinct_id`` where PostHog reads them: at the top of the event's properties.

    The call's properties go under ``main``, except those three keys, which are
    lifted beside it (so ``identify("u", {"$set_once": {...}})`` sets once, not a
    property named ``$set_once``); a ``main`` given explicitly is merged over the rest.
    """
    data = _properties(properties, field)
    lifted = {key: data.pop(key) for key in _PERSON_KEYS if key in data}
    for key in ("$set", "$set_once"):
        if key in lifted and not isinstance(lifted[key], dict):
            raise ValidationError(f"{field}.{key} must be a mapping", field=f"{field}.{key}")
    explicit = lifted.pop(main, None)
    if explicit:
        data.update(explicit)
    if "$anon_distinct_id" in lifted:
        lifted["$anon_distinct_id"] = check_distinct_id(
            lifted["$anon_distinct_id"], f"{field}.$anon_distinct_id"
        )
    return {main: data, **lifted}


def build_set(
    distinct_id: Any,
    properties: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    *,
    event: str = "$set",
    id_field: str = "distinct_id",
    properties_field: str = "properties",
    extra: Optional[dict[str, Any]] = None,
) -> Message:
    """Person properties: ``$set`` (``set``), ``$set_once`` (``set_once``) or ``$identify``.

    ``distinct_id=None`` is allowed (PostHog's keyword shapes): the pipeline takes the
    context's id, or drops the event (a person event needs a person).
    """
    props = dict(extra) if extra else {}
    props.update(
        person_properties(
            properties, properties_field, "$set_once" if event == "$set_once" else "$set"
        )
    )
    return Message(
        event,
        None if distinct_id is None else check_distinct_id(distinct_id, id_field),
        props,
        parse_timestamp(timestamp),
        _check_uuid(uuid),
    )


def build_alias(
    previous_id: Any,
    distinct_id: Any,
    timestamp: Any = None,
    uuid: Any = None,
    *,
    previous_field: str = "previous_id",
    id_field: str = "distinct_id",
    extra: Optional[dict[str, Any]] = None,
) -> Message:
    """``$create_alias``: sent as the previous id, naming the new id in ``alias``."""
    previous = check_distinct_id(previous_id, previous_field)
    props = dict(extra) if extra else {}
    props["distinct_id"] = previous
    props["alias"] = check_distinct_id(distinct_id, id_field)
    return Message("$create_alias", previous, props, parse_timestamp(timestamp), _check_uuid(uuid))


def build_group_identify(
    group_type: Any,
    group_key: Any,
    properties: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    distinct_id: Any = None,
    *,
    type_field: str = "group_type",
    key_field: str = "group_key",
    id_field: str = "distinct_id",
    properties_field: str = "properties",
    extra: Optional[dict[str, Any]] = None,
) -> Message:
    """``$groupidentify``: set properties on the group ``(group_type, group_key)``."""
    gtype = _check_name(group_type, type_field)
    gkey = check_distinct_id(group_key, key_field)
    # PostHog's SDKs send a group identify without a person as "$<type>_<key>".
    did = f"${gtype}_{gkey}" if distinct_id is None else check_distinct_id(distinct_id, id_field)
    props = dict(extra) if extra else {}
    props["$group_type"] = gtype
    props["$group_key"] = gkey
    props["$group_set"] = _properties(properties, properties_field)
    return Message("$groupidentify", did, props, parse_timestamp(timestamp), _check_uuid(uuid))


# RFC 4122: version 4 in bits 76-79, variant 10 in bits 62-63.
_UUID_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def new_uuid() -> str:
    """A random (version 4) uuid, as a string."""
    return _fast_uuid4()


def _fast_uuid4() -> str:
    text = "%032x" % (_rng.getrandbits(128) & _UUID_KEEP | _UUID_SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def assign_uuids(messages: Iterable[Message]) -> None:
    """On the worker, before encoding a batch: the uuid of every message that has none
    yet, under one lock for the batch (a caller may be reading one at the same time)."""
    with _promise_lock():
        for message in messages:
            if message._uuid is None:
                message._uuid = _fast_uuid4()


def wire_distinct_id(message: Message) -> str:
    """The distinct id an encoder writes: the pipeline gave every message one (a None
    here is a bug, and fails this message alone as an encoding error)."""
    did = message.distinct_id
    if did is None:
        raise ValueError("the event has no distinct id")
    return did
