"""The ``$feature_flag_called`` event: whether a read is reported, and the event itself.

Owns ``SeenCache`` (the bounded, lock-free record of the (distinct id, flag, value)
triples already reported, oldest forgotten first) and ``called_event`` (the event's
``Message``, its constant properties prepared once per result). Used by the flags
service; it must not know how a result was evaluated, nor the engine that sends it.
"""

from __future__ import annotations

import collections
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from ._events import Message
from ._jsonsafe import json_safe_mapping
from ._lifecycle import ForkPhase, after_fork_in_child

if TYPE_CHECKING:
    from .flags import FlagResult

__all__ = ["SeenCache", "called_event"]

_CACHES: weakref.WeakSet[SeenCache] = weakref.WeakSet()


class SeenCache:
    """A bounded set of reported keys; past ``size`` the oldest is forgotten first, one
    at a time, never all at once (as posthog-python 7.91's ``SizeLimitedDict``)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: collections.OrderedDict[Any, Optional[object]] = collections.OrderedDict()
        self._evicting = threading.Lock()
        _CACHES.add(self)

    def add(self, key: Any) -> bool:
        """True if ``key`` is new (and now remembered); one thread wins a race for it."""
        keys = self._keys
        if key in keys:  # the common case
            return False
        mine = object()
        # OrderedDict.setdefault is one C call on builtin keys (a tuple of str and bool):
        # atomic under the GIL, so exactly one thread sees its own marker, without a lock.
        if keys.setdefault(key, mine) is not mine:
            return False
        keys[key] = None  # drop the marker: 50,000 of them would be dead weight
        if len(keys) > self._size:
            with self._evicting:  # racing threads must not evict more than the excess
                while len(keys) > self._size:
                    keys.popitem(last=False)
        return True


# The constant part of a result's $feature_flag_called properties, by result: local
# results are few and reused (one per flag outcome), so an event copies a prepared dict.
# A server's result is new each time (its request id): it is not kept.
_TEMPLATES: Dict[int, Tuple[FlagResult, Dict[str, Any]]] = {}


def called_event(did: str, result: FlagResult, groups: Optional[Mapping[str, Any]]) -> Message:
    """The ``$feature_flag_called`` message for ``did``'s read of ``result``."""
    if not result.locally_evaluated:
        props = _called_properties(result)
    else:
        entry = _TEMPLATES.get(id(result))
        if entry is None or entry[0] is not result:  # the entry holds it: its id stays its own
            if len(_TEMPLATES) >= 4096:
                _TEMPLATES.clear()
            entry = _TEMPLATES[id(result)] = (result, _called_properties(result))
        props = entry[1].copy()
    if groups is not None:  # as before: groups={} is sent as "$groups": {}
        copied = groups.copy() if type(groups) is dict else json_safe_mapping(groups, "groups")
        for name, value in copied.items():
            if type(name) is not str or type(value) is not str:  # the checked copy
                copied = json_safe_mapping(groups, "groups")
                break
        props["$groups"] = copied
    # Our own JSON-safe values (the payload came decoded from JSON): no need to go
    # through build_capture's checks and copy.
    return Message("$feature_flag_called", did, props, time.time(), None)


def _called_properties(result: FlagResult) -> Dict[str, Any]:
    props: Dict[str, Any] = {
        "$feature_flag": result.key,
        "$feature_flag_response": result.value,
        f"$feature/{result.key}": result.value,
        "locally_evaluated": result.locally_evaluated,
        "$feature_flag_reason": result.reason,
    }
    if result.flag_id is not None:
        props["$feature_flag_id"] = result.flag_id
    if result.version is not None:
        props["$feature_flag_version"] = result.version
    if result.request_id is not None:
        props["$feature_flag_request_id"] = result.request_id
    if result.payload is not None:
        props["$feature_flag_payload"] = result.payload
    return props


def _renew_cache_locks_in_child() -> None:
    for cache in list(_CACHES):
        cache._evicting = threading.Lock()  # a lock held at fork() stays held in the child


after_fork_in_child(_renew_cache_locks_in_child, ForkPhase.LOCKS)
