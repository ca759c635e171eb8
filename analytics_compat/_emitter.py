"""The client's event emitter: pyee, made safe for a worker thread.

Owns the ``initialize`` / ``flush`` / ``error`` events of a client: a listener's
exception is logged and never reaches the worker; listeners written for
analytics-node that take no arguments are called without them; ``err`` (the
analytics-node 0.x name) is the same event as ``error``; an ``error`` with no
listener is logged instead of raised. The default ``error`` listener is there only
so that no error goes unnoticed, as in analytics-node: it logs an error only while
nobody else listens to ``error`` (no user listener, and for a failed delivery no
``on_error`` callback), so each error is logged once or not at all; queue-full drops,
which can come by the thousand, are summarised (at most every 10 s, and what is left
at exit).

Knows nothing about queues or HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

from pyee import EventEmitter

from ._lifecycle import after_fork_in_child, at_exit
from ._listeners import call_safely
from .errors import DeliveryError, EventDroppedError, QueueFullError

__all__ = ["ClientEmitter", "debug_logging", "describe", "log_error"]

logger = logging.getLogger(__name__)
_ALIASES = {"err": "error"}  # analytics-node 0.x emitted ``err``


_EMITTERS: weakref.WeakSet[ClientEmitter] = weakref.WeakSet()


class ClientEmitter(EventEmitter):
    """pyee's EventEmitter with safe, arity-tolerant listener calls.

    Every client has one, with ``log_error`` as its first ``error`` listener.
    """

    def __init__(self) -> None:
        super().__init__()
        _EMITTERS.add(self)
        self.handled_elsewhere = False  # True once an ``on_error`` callback hears deliveries
        self.on("error", self._log_if_unheard)

    def flags_error(self, error: DeliveryError) -> None:
        """A flags request failed: the ``error`` event, with the error saying so."""
        error.operation = "feature flags"
        self.emit("error", error)

    def _log_if_unheard(self, error: Any) -> None:
        """The default ``error`` listener: log, unless someone else hears the error."""
        if len(self._events.get("error", ())) > 1:
            return
        if self.handled_elsewhere and _reaches_on_error(error):
            return
        log_error(error)

    # ``err`` and ``error`` are one event: every way in maps the name.
    def _add_event_handler(self, event: str, k: Callable[..., Any], v: Callable[..., Any]) -> None:
        super()._add_event_handler(_ALIASES.get(event, event), k, v)

    def remove_listener(self, event: str, f: Callable[..., Any]) -> None:
        super().remove_listener(_ALIASES.get(event, event), f)

    def remove_all_listeners(self, event: Optional[str] = None) -> None:
        super().remove_all_listeners(None if event is None else _ALIASES.get(event, event))

    def listeners(self, event: str) -> List[Callable[..., Any]]:
        return super().listeners(_ALIASES.get(event, event))

    def emit(self, event: str, *args: Any, **kwargs: Any) -> bool:
        return super().emit(_ALIASES.get(event, event), *args, **kwargs)

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

        event = _ALIASES.get(event, event)

        def g(*args: Any) -> None:
            with self._lock:
                if event not in self._events or f not in self._events[event]:
                    return
                self._remove_listener(event, f)
            call_safely(f, args, "client listener")

        self._add_event_handler(event, f, g)
        return f

    def _emit_handle_potential_error(self, event: str, error: Any) -> None:
        if event == "error":  # every error listener was removed, the default one too
            log_error(error)


class _DropLog:
    """Logs the first queue-full drop, then at most one summary every ``interval`` s, and
    at exit what the last interval left unsaid."""

    def __init__(self, interval: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._interval = interval
        self._last = float("-inf")
        self._pending = 0
        self._total = 0

    def note(self) -> None:
        with self._lock:
            self._pending += 1
            self._total += 1
            now = time.monotonic()
            if now - self._last < self._interval:
                return
            count, self._pending, self._last = self._pending, 0, now
        self._say(count)

    def at_exit(self) -> None:
        with self._lock:
            count, self._pending = self._pending, 0
        if count:
            self._say(count, at_exit=True)

    def _say(self, count: int, *, at_exit: bool = False) -> None:
        since = "since the last report" if self._total > count else "so far"
        if at_exit:
            since = f"since the last report ({self._total} in all)"
        logger.warning(
            "queue full: %d %s dropped %s; they will not be sent. Raise maxQueueSize, or "
            "check that the server is reachable and keeps up",
            count,
            "message was" if count == 1 else "messages were",
            since,
        )


_drop_log = _DropLog()
# Last: the exit drain before it may still report drops.
at_exit(_drop_log.at_exit, last=True)


def _reaches_on_error(error: Any) -> bool:
    """``on_error`` hears failed deliveries, not flag errors or queue-full drops."""
    return (
        isinstance(error, DeliveryError)
        and error.operation == "delivery"
        and not isinstance(error, QueueFullError)
    )


def describe(error: Any) -> str:
    """An error as a person reads it: what failed, then the error's own words."""
    if isinstance(error, DeliveryError) and error.operation != "delivery":
        return f"{error.operation}: {error}"
    if isinstance(error, DeliveryError):
        return f"events not delivered: {error}"
    return f"error: {error}"


def log_error(error: Any) -> None:
    """Log one error (queue-full drops summarised): what the default listener does."""
    if isinstance(error, QueueFullError):
        _drop_log.note()
    elif isinstance(error, EventDroppedError) and error.reason != "server":
        # Dropped on purpose by the client's own pipeline (before_send, ...): no alarm.
        logger.debug("%s", describe(error))
    else:
        logger.warning("%s", describe(error))


def _new_locks_in_child() -> None:
    # A lock some other thread held at fork() stays held forever in the child; pyee
    # guards each emitter's listener table with one, which would hang emit().
    _drop_log._lock = threading.Lock()
    for emitter in list(_EMITTERS):
        emitter._lock = threading.Lock()


after_fork_in_child(_new_locks_in_child)


def debug_logging(debug: bool = True, handler: Optional[logging.Handler] = None) -> None:
    """``debug=True`` (posthog-python's and Segment's): DEBUG records of this library are
    shown, on stderr through a handler added once if the logger has none. ``handler``
    (segment-python's ``log_handler``) is added to the library's logger, once. Keys and
    payloads are never logged, debug or not."""
    log = logging.getLogger("analytics_compat")  # the package's logger: every module's parent
    if handler is not None and handler not in log.handlers:
        log.addHandler(handler)
    if not debug:
        return
    log.setLevel(logging.DEBUG)
    if not log.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(stream)
