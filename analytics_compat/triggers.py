"""The flush triggers of analytics-node: callables that take the client and return a bool.

After every enqueue, and every ``timerInterval``, each trigger in the client's
``triggers`` option is called with the client; if any returns True, everything
queued is released for sending. A custom trigger reads the same attributes:

- ``client.queued``: messages waiting to be released;
- ``client.options``: the parsed options (``flush_at``, ``flush_after`` in seconds, ...);
- ``client.batch_age``: seconds since the last flush (legacy policy; infinite before the
  first, so the first message goes at once) or age of the oldest waiting message
  (``flush_policy='posthog'``).

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["size", "time"]


def size(client: Any) -> bool:
    """True when ``flushAt`` or more messages are waiting."""
    return bool(client.queued >= client.options.flush_at)


def time(client: Any) -> bool:
    """True when messages are waiting and ``flushAfter`` has passed (see ``batch_age``)."""
    return bool(client.queued > 0 and client.batch_age > client.options.flush_after)
