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
import weakref
from typing import Any, Callable, Dict, Tuple

from pyee import EventEmitter

from ._lifecycle import after_fork_in_child
from ._listeners import call_safely
from .errors import EventDroppedError, QueueFullError

__all__ = ["ClientEmitter", "debug_logging", "log_error"]

logger = logging.getLogger("analytics_compat")


_EMITTERS: weakref.WeakSet[ClientEmitter] = weakref.WeakSet()


class ClientEmitter(EventEmitter):
    """pyee's EventEmitter with safe, arity-tolerant listener calls.

    Every client has one, with ``log_error`` as its first ``error`` listener.
    """

    def __init__(self) -> None:
        super().__init__()
        _EMITTERS.add(self)
        self.on("error", log_error)

    def _emit_run(
        self, f: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]
    ) -> None:
        call_safely(f, args, "client listener")

    def once(  # type: ignore[override]
        self, event: str, f: Callable[..., Any]
    ) -> Callable[..., Any]:
        """Like pyee's ``once``, but the listener gets only the arguments it accepts.

        pyee wraps it in ``g(*args)``, which would hide an analytics-node listener's
        arity from ``call_safely``; this wrapper trims for it instead.
        """

        def g(*args: Any) -> None:
            with self._lock:
                if event not in self._events or f not in self._events[event]:
                    return
                self._remove_listener(event, f)
            call_safely(f, args, "client listener")

        self._add_event_handler(event, f, g)
        return f

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
    elif isinstance(error, EventDroppedError) and error.reason != "server":
        # Dropped on purpose by the client's own pipeline (before_send, ...): no alarm.
        logger.debug("analytics-compat: %s", error)
    else:
        logger.warning("analytics-compat: delivery error: %s", error)


def _new_locks_in_child() -> None:
    # A lock some other thread held at fork() stays held forever in the child; pyee
    # guards each emitter's listener table with one, which would hang emit().
    _drop_log._lock = threading.Lock()
    for emitter in list(_EMITTERS):
        emitter._lock = threading.Lock()


after_fork_in_child(_new_locks_in_child)


def debug_logging() -> None:
    """``debug=True`` (posthog-python's and Segment's): DEBUG records of this library are
    shown on stderr, through a handler added once if the logger has none. Keys and
    payloads are never logged, debug or not."""
    log = logging.getLogger("analytics_compat")
    log.setLevel(logging.DEBUG)
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(handler)
