"""Dispatchers: the interchangeable last step a submitted message takes.

Owns the ``Dispatcher`` interface the engine talks to, the ``Lifecycle`` states it
reports, the ``Sender`` interface a queueing dispatcher sends with (the transport),
and the dispatchers that need no worker: ``NullDispatcher`` (``send=False``,
test mode, and ``disabled``: every message is settled as delivered at once and
nothing leaves the process) and ``ImmediateDispatcher`` (``sync_mode`` and the
``*_immediate`` calls: sent on the caller's thread before the call returns). The
batching dispatcher is ``_batching.Batcher``: three final steps over one transport,
as OpenTelemetry's simple and batch span processors share one exporter.

Knows nothing about HTTP, wire formats or listeners.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import weakref
from typing import Any, Callable, List, Optional, Protocol, Tuple

from ._events import Message
from ._lifecycle import ForkPhase, after_fork_in_child, at_exit
from .errors import ShutdownTimeoutError, TransportError
from .transport import Deadline, Outcome

__all__ = [
    "Dispatcher",
    "FlushCallback",
    "FlushHandle",
    "ImmediateDispatcher",
    "Lifecycle",
    "NullDispatcher",
    "Sender",
]

logger = logging.getLogger("analytics_compat")

FlushCallback = Callable[[Optional[Any]], None]  # called with None or a DeliveryError


class Lifecycle(enum.Enum):
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class FlushHandle(Protocol):
    """What ``flush`` hands back: ``done`` is set once everything it covered settled;
    ``total`` messages were pending when it was made, ``delivered`` and ``failed``
    of them have settled since, ``error`` is the first failure's."""

    done: threading.Event
    total: int
    delivered: int
    failed: int
    error: Optional[Any]


class Dispatcher(Protocol):
    """The final step of ``Engine.submit``."""

    last_flush: float

    @property
    def state(self) -> Lifecycle: ...

    @property
    def queued(self) -> int: ...

    @property
    def batch_age(self) -> float: ...

    @property
    def dropped_queue_full(self) -> int: ...

    def put(self, message: Message) -> bool: ...

    def flush(self, callback: Optional[FlushCallback] = None) -> FlushHandle: ...

    def on_worker_thread(self) -> bool: ...

    def shutdown(self, timeout: Optional[float]) -> bool: ...


class Sender(Protocol):
    """What the batcher sends with (``transport.Transport``)."""

    def send(
        self,
        messages: List[Message],
        report: Callable[[List[Message], List[Outcome]], None],
        deadline: Deadline,
    ) -> None: ...

    def close(self) -> None: ...

    def after_fork(self) -> None: ...


class _Done:
    """A flush with nothing to wait for."""

    __slots__ = ("done",)
    total = delivered = failed = 0
    error = None

    def __init__(self) -> None:
        self.done = threading.Event()
        self.done.set()


class NullDispatcher:
    """``send=False``: nothing leaves the process; every message is delivered at once."""

    last_flush = float("-inf")
    queued = 0
    batch_age = 0.0
    dropped_queue_full = 0

    def __init__(self) -> None:
        self._state = Lifecycle.RUNNING

    @property
    def state(self) -> Lifecycle:
        return self._state

    def put(self, message: Message) -> bool:
        message._settle(None)
        return True

    def flush(self, callback: Optional[FlushCallback] = None) -> FlushHandle:
        if callback is not None:
            callback(None)  # on the caller's thread, as before: a test sees its own failure
        return _Done()

    def on_worker_thread(self) -> bool:
        return False

    def shutdown(self, timeout: Optional[float]) -> bool:
        self._state = Lifecycle.CLOSED
        return True


_IMMEDIATE: weakref.WeakSet[ImmediateDispatcher] = weakref.WeakSet()


class ImmediateDispatcher(NullDispatcher):
    """Sends each message on the caller's thread before ``put`` returns (``sync_mode``,
    and the ``*_immediate`` calls): the outcome is on the promise when the call returns.

    Calls from several threads take turns on the one connection; the outcome is handed
    to the listeners after the turn is over, so a listener may send again. Retries,
    backoff and ``Retry-After`` are the transport's, as for the batcher; ``shutdown``
    (and interpreter exit, before non-daemon threads are joined) ends an attempt under
    way by its deadline. Listeners run on the calling thread. A ``KeyboardInterrupt``
    during a send fails the message, then reaches the caller.
    """

    def __init__(
        self,
        sender: Sender,
        deliver: Callable[[List[Message], List[Outcome]], None],
        shutdown_timeout: float = 5.0,
    ):
        super().__init__()
        self._sender = sender
        self._deliver = deliver
        self._shutdown_timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._deadline = Deadline()
        _IMMEDIATE.add(self)

    def put(self, message: Message) -> bool:
        settled: List[Tuple[List[Message], List[Outcome]]] = []
        interrupted: Optional[KeyboardInterrupt] = None

        def report(messages: List[Message], outcomes: List[Outcome]) -> None:
            settled.append((messages, outcomes))

        with self._lock:
            if self._state is Lifecycle.CLOSED:  # a call that raced shutdown
                late = ShutdownTimeoutError("the client was shut down before this was sent")
                report([message], [Outcome.failed(late)])
            else:
                try:
                    self._sender.send([message], report, self._deadline)
                except KeyboardInterrupt as stop:  # the user stopping the program
                    interrupted = stop
                except BaseException as exc:  # a bug: fail the message, never lose it
                    logger.exception("internal error while sending a message")
                    cause = f"internal error while sending: {type(exc).__name__}"
                    if not any(message in group for group, _ in settled):
                        report([message], [Outcome.failed(TransportError(cause))])
        if interrupted is not None and not any(message in group for group, _ in settled):
            report([message], [Outcome.failed(TransportError("interrupted while sending"))])
        for messages, outcomes in settled:  # outside the lock: a listener may send again
            self._deliver(messages, outcomes)
        if interrupted is not None:
            raise interrupted
        return True

    def shutdown(self, timeout: Optional[float]) -> bool:
        """Cut a send under way short at ``timeout`` seconds from now, then close."""
        if timeout is None:
            timeout = self._shutdown_timeout
        self._deadline.set(time.monotonic() + timeout)
        if self._lock.acquire(timeout=timeout + 1.0):
            try:
                self._state = Lifecycle.CLOSED
                self._sender.close()
            finally:
                self._lock.release()
        else:
            self._state = Lifecycle.CLOSED
        _IMMEDIATE.discard(self)
        return True


def _renew_in_child() -> None:
    for dispatcher in list(_IMMEDIATE):
        dispatcher._lock = threading.Lock()  # a lock held at fork() stays held
        dispatcher._sender.after_fork()


def _shut_down_at_exit() -> None:
    """Before non-daemon threads are joined: a send under way on one of them ends by
    its client's ``shutdown_timeout`` and is settled, instead of holding the exit."""
    for dispatcher in list(_IMMEDIATE):
        dispatcher.shutdown(None)


after_fork_in_child(_renew_in_child, ForkPhase.STATE)
at_exit(_shut_down_at_exit, before_threads_join=True)
