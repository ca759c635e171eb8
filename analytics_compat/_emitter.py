"""The client's event emitter: pyee, made safe for a worker thread.

Owns the ``initialize`` / ``flush`` / ``error`` events of a client: a listener's
exception is logged and never reaches the worker; listeners written for
analytics-node that take no arguments are called without them; an ``error`` with
no listener is logged instead of raised; and the default ``error`` listener logs
(rate-limited for queue-full drops, which can come by the thousand).

Knows nothing about queues or HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Tuple

from pyee import EventEmitter

from ._listeners import call_safely
from .errors import QueueFullError

__all__ = ["ClientEmitter", "log_error"]

logger = logging.getLogger("analytics_compat")


class ClientEmitter(EventEmitter):
    """pyee's EventEmitter with safe, arity-tolerant listener calls."""

    def _emit_run(
        self, f: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]
    ) -> None:
        call_safely(f, args, "client listener")

    def _emit_handle_potential_error(self, event: str, error: Any) -> None:
        if event == "error":
            logger.error("analytics-compat: unhandled delivery error: %s", error)


class _DropLog:
    """Logs the first queue-full drop, then at most one summary every ``interval`` s."""

    def __init__(self, interval: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._interval = interval
        self._last = float("-inf")
        self._pending = 0

    def note(self) -> None:
        with self._lock:
            self._pending += 1
            now = time.monotonic()
            if now - self._last < self._interval:
                return
            count, self._pending, self._last = self._pending, 0, now
        logger.warning(
            "analytics-compat: queue full, %d message(s) dropped (raise maxQueueSize, or "
            "check that the server is reachable)",
            count,
        )


_drop_log = _DropLog()


def log_error(error: Any) -> None:
    """The default ``error`` listener every client has, so no error goes unnoticed."""
    if isinstance(error, QueueFullError):
        _drop_log.note()
    else:
        logger.warning("analytics-compat: delivery error: %s", error)
