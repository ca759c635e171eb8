"""Dispatchers: the interchangeable last step a submitted message takes.

Owns the ``Dispatcher`` interface the engine talks to, the ``Lifecycle`` states it
reports, the ``Sender`` interface a queueing dispatcher sends with (the transport),
and the dispatchers that need no worker: ``NullDispatcher`` (``send=False``,
test mode: every message is settled as delivered at once and nothing leaves the
process). The batching dispatcher is ``_batching.Batcher``; an immediate one (send
on the caller's thread) would be a third implementation of the same interface, as
OpenTelemetry's simple and batch span processors share one exporter.

Knows nothing about HTTP, wire formats or listeners.
"""

from __future__ import annotations

import enum
import threading
from typing import Any, Callable, List, Optional, Protocol

from ._events import Message
from .transport import Deadline, Outcome

__all__ = ["Dispatcher", "FlushCallback", "FlushHandle", "Lifecycle", "NullDispatcher", "Sender"]

FlushCallback = Callable[[Optional[Any]], None]  # called with None or a DeliveryError


class Lifecycle(enum.Enum):
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class FlushHandle(Protocol):
    """What ``flush`` hands back: ``done`` is set once everything it covered settled."""

    done: threading.Event


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
    __slots__ = ("done",)

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
