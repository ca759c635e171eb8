"""Segment's page and screen calls of ``Client``.

Owns one facet of the call surface and no state: ``page`` and ``screen`` in every
shape the other calls take (analytics-node's mapping, snake_case keywords,
segment-python's ``page(user_id, category, name, properties, context, timestamp,
anonymous_id, integrations, message_id)``), built by ``_legacy.legacy_page`` and
handed to the client's engine. Knows nothing about what the engine does with them.
"""

from __future__ import annotations

from typing import Any

from ._engine import AnyEngine
from ._legacy import fields_of, legacy_page
from ._promise import MessagePromise

__all__ = ["SegmentCalls"]


class SegmentCalls:
    """``page`` -> ``$pageview`` and ``screen`` -> ``$screen``, as PostHog maps Segment's."""

    _engine: AnyEngine

    def page(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """A page view: ``page({'userId', 'name', 'category', 'properties', ...})`` or
        ``page(user_id, category, name, properties, ...)``. The event is ``$pageview``,
        ``$current_url`` is ``properties.url`` (else ``context.page.url``; ``url`` is kept)."""
        return self._engine.submit(legacy_page(fields_of("page", message, args, kwargs)))

    def screen(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """A screen view, in the same shapes as ``page``: ``$screen`` with
        ``$screen_name`` (the screen's name)."""
        fields = fields_of("screen", message, args, kwargs)
        return self._engine.submit(legacy_page(fields, screen=True))
