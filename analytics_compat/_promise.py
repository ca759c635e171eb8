"""MessagePromise: the per-message outcome handle that every call returns.

Owns the settle-exactly-once state machine, analytics-node's ``.on('flush')`` /
``.on('error')`` listeners (``'err'``, 0.x's name, is ``'error'``; a listener attached
after settling is called at once, on the caller's thread), and the Python forms
``wait``, ``result`` and ``await``.

It is slim on purpose, because one exists per message: listener storage and the
wait Event are created only when somebody asks for them, and all promises share
one lock (settling is rare next to creating).

Knows nothing about queues or HTTP; the worker calls ``_settle``.
"""

from __future__ import annotations

import enum
import threading
from typing import TYPE_CHECKING, Any, Callable, Generator, List, Optional, Sequence, Tuple

from ._gctrack import retrack
from ._lifecycle import after_fork_in_child
from ._listeners import call_safely
from .errors import DeliveryError

if TYPE_CHECKING:
    import asyncio

__all__ = ["MessagePromise", "PromiseState", "lock", "settle_all"]

_LOCK = threading.Lock()
_EVENTS = ("flush", "error")
_ALIASES = {"err": "error"}  # analytics-node 0.x's README: promise.on('err', fn)


class PromiseState(enum.Enum):
    PENDING = "pending"
    FLUSHED = "flushed"
    FAILED = "failed"


Listener = Callable[..., Any]


class MessagePromise:
    """The outcome of one message: it emits ``flush`` once delivered or ``error`` once failed.

    ``uuid`` is the event's uuid (see ``_events.Message``, which makes it on first use).
    """

    __slots__ = ("_error", "_event", "_listeners", "_state", "_uuid")

    def __init__(self, uuid: Optional[str] = None) -> None:
        self._state = PromiseState.PENDING
        self._error: Optional[DeliveryError] = None
        self._listeners: Optional[List[Tuple[str, Listener, bool]]] = None
        self._event: Optional[threading.Event] = None
        self._uuid = uuid

    @property
    def uuid(self) -> Optional[str]:
        return self._uuid

    # -- analytics-node style -------------------------------------------------------
    def on(self, event: str, listener: Listener) -> MessagePromise:
        """Call ``listener`` when the message is delivered (``flush``) or fails (``error``)."""
        return self._add(event, listener, once=False)

    def once(self, event: str, listener: Listener) -> MessagePromise:
        """Like ``on``; a promise settles once, so the two differ only in name."""
        return self._add(event, listener, once=True)

    add_listener = on

    def remove_listener(self, event: str, listener: Listener) -> None:
        event = _ALIASES.get(event, event)
        with _LOCK:
            if self._listeners:
                self._listeners = [
                    entry for entry in self._listeners if entry[:2] != (event, listener)
                ]

    def _add(self, event: str, listener: Listener, *, once: bool) -> MessagePromise:
        event = _ALIASES.get(event, event)
        if event not in _EVENTS:
            raise ValueError(f"a MessagePromise emits 'flush' or 'error', not {event!r}")
        if not callable(listener):
            raise TypeError("listener must be callable")
        with _LOCK:
            if self._state is PromiseState.PENDING:
                if self._listeners is None:
                    self._listeners = []
                self._listeners.append((event, listener, once))
                return self
        # Settled before the listener arrived (the worker can beat the caller): call now.
        self._fire(((event, listener, once),))
        return self

    # -- Python style ---------------------------------------------------------------
    @property
    def state(self) -> PromiseState:
        return self._state

    def done(self) -> bool:
        return self._state is not PromiseState.PENDING

    @property
    def error(self) -> Optional[DeliveryError]:
        """The delivery error once failed, else None."""
        return self._error

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until settled; True if settled (delivered or failed) within ``timeout``."""
        with _LOCK:
            if self._state is not PromiseState.PENDING:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def result(self, timeout: Optional[float] = None) -> None:
        """Return None once delivered; raise the ``DeliveryError`` if it failed.

        Raises ``TimeoutError`` if not settled within ``timeout`` seconds.
        """
        if not self.wait(timeout):
            raise TimeoutError(f"message not settled within {timeout} s")
        if self._error is not None:
            raise self._error

    def __await__(self) -> Generator[Any, None, None]:
        if not self.done():
            import asyncio  # here, not at the top: it costs ~30 ms of import time

            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()

            def wake(*_: Any) -> None:
                loop.call_soon_threadsafe(_resolve, future)

            self._add("flush", wake, once=True)
            self._add("error", wake, once=True)
            yield from future.__await__()
        self.result(0)

    def __repr__(self) -> str:
        return f"<MessagePromise {self._state.value} uuid={self.uuid}>"

    # -- worker side ----------------------------------------------------------------
    def _settle(self, error: Optional[DeliveryError]) -> bool:
        """Settle once; returns False if already settled. Called on the worker thread."""
        with _LOCK:
            if self._state is not PromiseState.PENDING:
                return False
            self._error = error
            if error is None:
                self._state = PromiseState.FLUSHED
            else:  # its traceback can lead back here: a cycle only the collector frees
                self._state = PromiseState.FAILED
                retrack(self)
            listeners, self._listeners = self._listeners, None
            event = self._event
        if event is not None:
            event.set()
        if listeners:
            self._fire(listeners)
        return True

    def _fire(self, listeners: Any) -> None:
        wanted = "error" if self._error is not None else "flush"
        args: Tuple[Any, ...] = (self._error,) if self._error is not None else ()
        for event, listener, _once in listeners:
            if event == wanted:
                call_safely(listener, args, f"MessagePromise {wanted!r} listener")


def lock() -> threading.Lock:
    """The lock promises share (renewed after fork, so always ask for it)."""
    return _LOCK


def settle_all(
    promises: Sequence[MessagePromise], errors: Sequence[Optional[DeliveryError]]
) -> None:
    """Settle many promises at once (the worker, after a batch): one lock for all of them,
    then their waiters and listeners, in order. Already-settled ones are left alone."""
    flushed, failed, pending = PromiseState.FLUSHED, PromiseState.FAILED, PromiseState.PENDING
    woken: List[Tuple[MessagePromise, Any, Optional[threading.Event]]] = []
    with _LOCK:
        for promise, error in zip(promises, errors):
            if promise._state is not pending:
                continue
            promise._error = error
            if error is None:
                promise._state = flushed
            else:
                promise._state = failed
                retrack(promise)  # as in _settle
            if promise._listeners is not None or promise._event is not None:
                woken.append((promise, promise._listeners, promise._event))
                promise._listeners = None
    for promise, listeners, event in woken:
        if event is not None:
            event.set()
        if listeners:
            promise._fire(listeners)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _new_lock_in_child() -> None:
    # A lock some other thread held at fork() stays held forever in the child.
    global _LOCK
    _LOCK = threading.Lock()


after_fork_in_child(_new_lock_in_child)
