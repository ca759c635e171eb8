"""The client-wide stages of the pipeline: personless events, super properties, before_send.

Owns three processors (``_stages`` puts them in order):

- ``personless``: a call that gave no distinct id, and whose context gave none, becomes
  a personless event as PostHog defines one: a random distinct id and
  ``$process_person_profile: false`` (unless the caller set it). A person event
  (``$set``, ``$set_once``, ``$identify``) without a person is dropped instead
  (reason ``personless``), as posthog-python drops it.
- ``super_properties``: ``SuperProperties`` (the ``super_properties`` option, then
  ``register`` / ``unregister`` at run time) merged into every event *over* the call's
  properties, as posthog-python merges them. Swapped copy-on-write; the stage is in
  the pipeline only while there is something to add.
- ``before_send``: the user's hook, last: it gets the event as a dict (``event``,
  ``distinct_id``, ``properties``, ``timestamp``, ``uuid``) and returns it (changed or
  not) or None to drop it. A hook that raises, or returns something that is not a
  valid event, drops the event too (it fails closed: a scrubber that crashed must not
  let through what it was to remove); that is logged, never raised.

Knows nothing about queues, HTTP or the call surface.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional

from ._events import Message, _check_uuid, check_distinct_id, new_uuid, parse_timestamp
from ._jsonsafe import json_safe_mapping
from ._lifecycle import ForkSafeLock
from ._pipeline import Hint, Stage
from .errors import ValidationError

__all__ = ["SuperProperties", "before_send_stage", "personless_stage", "super_properties_stage"]

logger = logging.getLogger("analytics_compat")

_PERSON_EVENTS = frozenset({"$set", "$set_once", "$identify"})
BeforeSend = Callable[[Dict[str, Any]], Optional[Mapping[str, Any]]]


def _personless(message: Message, hint: Optional[Hint]) -> Optional[Message]:
    if message.distinct_id is not None:
        return message
    if message.event in _PERSON_EVENTS:
        logger.warning(
            "%s needs a distinct id (pass distinct_id, or call inside a "
            "context that identified one); the event was dropped",
            message.event,
        )
        return None
    message.distinct_id = new_uuid()  # random, unrelated to the event's uuid (as posthog-python)
    message.properties.setdefault("$process_person_profile", False)
    return message


def personless_stage() -> Stage:
    """Runs for calls that carry a hint: every call made without a distinct id does."""
    return Stage("personless", _personless, needs_hint=True)


class SuperProperties:
    """Properties added to every event of one client; changed at run time, read lock-free."""

    def __init__(self, initial: Optional[Mapping[str, Any]]) -> None:
        self._lock = ForkSafeLock()
        self.current: Dict[str, Any] = json_safe_mapping(initial or {}, "super_properties")
        self._on_change: Optional[Callable[[bool], None]] = None

    def watch(self, on_change: Callable[[bool], None]) -> None:
        """``on_change(non_empty)`` whenever the set goes from empty to not, or back."""
        self._on_change = on_change

    def register(self, properties: Mapping[str, Any]) -> None:
        fresh = json_safe_mapping(properties, "properties")
        with self._lock:
            self.current = {**self.current, **fresh}  # a new dict: readers never see a half
            self._changed()

    def unregister(self, key: str) -> None:
        with self._lock:
            if key in self.current:
                self.current = {k: v for k, v in self.current.items() if k != key}
                self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(bool(self.current))


def super_properties_stage(supers: SuperProperties) -> Stage:
    def add(message: Message, hint: Optional[Hint]) -> Message:
        message.properties.update(supers.current)
        return message

    return Stage("super_properties", add)


def before_send_stage(hook: BeforeSend) -> Stage:
    def run(message: Message, hint: Optional[Hint]) -> Optional[Message]:
        try:
            result = hook(message.as_event())
        except Exception:
            logger.exception("before_send raised; the event was dropped")
            return None
        if result is None:
            return None
        try:
            _apply(message, result)
        except ValidationError as error:
            logger.error("before_send returned %s; the event was dropped", error)
            return None
        return message

    return Stage("before_send", run)


def _apply(message: Message, result: Any) -> None:
    """Write the hook's event back into the message, checked as a call's would be."""
    if not isinstance(result, Mapping):
        raise ValidationError(f"a {type(result).__name__}, not a dict", field="before_send")
    event = result.get("event", message.event)
    if not isinstance(event, str) or not event:
        raise ValidationError("an event without a name", field="event")
    message.event = event
    message.distinct_id = check_distinct_id(result.get("distinct_id"), "distinct_id")
    message.properties = json_safe_mapping(result.get("properties") or {}, "properties")
    if result.get("timestamp") is not None:
        message.timestamp = parse_timestamp(result["timestamp"])
    if result.get("uuid") is not None:
        message._uuid = _check_uuid(result["uuid"])
