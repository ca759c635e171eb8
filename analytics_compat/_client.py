"""Client: the analytics-node calls and the PostHog calls, on one object.

Owns the call surface: the legacy ``identify``, ``track``, ``alias``, ``group``
(messages as mappings or snake_case keywords) and the PostHog ``capture``, ``set``,
``alias``, ``group_identify``. Each call validates, builds one ``Message`` (which
is also the ``MessagePromise`` it returns) and submits it; lifecycle and events come
from ``ClientCore``, feature flags from ``FlagsMixin`` and ``AllFlagsMixin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from ._events import build_alias, build_capture, build_group_identify, build_set
from ._flags_all import AllFlagsMixin
from ._legacy import legacy_alias, legacy_group, legacy_identify, legacy_track, normalize
from ._promise import MessagePromise
from .errors import ValidationError

__all__ = ["Client"]


class Client(AllFlagsMixin):
    """An analytics-node client on a PostHog core. ``Client(opts)`` or ``Client()`` + ``init``."""

    # -- analytics-node -------------------------------------------------------------
    def identify(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """``identify({'userId', 'traits', 'timestamp', 'context'})`` -> ``$identify``.

        PostHog style also works: ``identify(distinct_id, properties)``.
        """
        self._require_open()
        if len(args) > 1 or (args and not isinstance(message, (str, int))):
            raise ValidationError(
                "identify() takes a message mapping, or (distinct_id, properties)",
                field="properties",
            )
        if isinstance(message, (str, int)) and not isinstance(message, bool):
            props = args[0] if args else kwargs.pop("properties", None)
            return self._submit(build_set(message, props, event="$identify", **kwargs))
        return self._submit(legacy_identify(normalize("identify", message, kwargs)))

    def track(self, message: Any = None, /, **kwargs: Any) -> MessagePromise:
        """``track({'userId', 'event', 'properties', 'timestamp', 'context'})``."""
        if not self._accepting:
            self._require_open()
        fields = normalize("track", message, kwargs)
        built = legacy_track(fields)
        if fields.get("sendFeatureFlags"):
            self._add_flag_properties(built)
        batcher = self._batcher  # ClientCore._submit, inlined: the measured hot path
        if batcher is None:
            built._settle(None)
        else:
            batcher.put(built)
        return built

    def alias(self, message: Any = None, to: Any = None, /, **kwargs: Any) -> MessagePromise:
        """``alias({'from': old, 'to': new})`` or ``alias(old, new)`` -> ``$create_alias``.

        PostHog's ``alias(previous_id=..., distinct_id=...)`` is the same call.
        """
        self._require_open()
        if isinstance(message, Mapping) or (message is None and to is None and not kwargs):
            return self._submit(legacy_alias(normalize("alias", message, {})))
        previous = kwargs.pop("previous_id", message)
        new = kwargs.pop("distinct_id", to)
        if previous is None and new is None and kwargs:
            return self._submit(legacy_alias(normalize("alias", None, kwargs)))
        timestamp, uuid = kwargs.pop("timestamp", None), kwargs.pop("uuid", None)
        if kwargs:
            name = next(iter(kwargs))
            raise ValidationError(f"alias() got an unknown argument {name!r}", field=name)
        return self._submit(build_alias(previous, new, timestamp, uuid))

    def group(self, message: Any = None, /, **kwargs: Any) -> MessagePromise:
        """``group({'groupId', 'userId', 'traits'})`` -> ``$groupidentify``."""
        options = self._require_open()
        return self._submit(legacy_group(normalize("group", message, kwargs), options.group_type))

    # -- PostHog --------------------------------------------------------------------
    def capture(
        self,
        distinct_id: Any,
        event: Any,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        *,
        send_feature_flags: bool = False,
    ) -> MessagePromise:
        """PostHog's ``capture``: one event for ``distinct_id``."""
        self._require_open()
        built = build_capture(distinct_id, event, properties, timestamp, uuid, groups)
        if send_feature_flags:
            self._add_flag_properties(built, groups)
        return self._submit(built)

    def set(
        self,
        distinct_id: Any,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
    ) -> MessagePromise:
        """Set person properties (a ``$set`` event)."""
        self._require_open()
        return self._submit(build_set(distinct_id, properties, timestamp, uuid))

    def group_identify(
        self,
        group_type: Any,
        group_key: Any,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        distinct_id: Any = None,
    ) -> MessagePromise:
        """Set properties on a group (a ``$groupidentify`` event)."""
        self._require_open()
        return self._submit(
            build_group_identify(group_type, group_key, properties, timestamp, uuid, distinct_id)
        )
