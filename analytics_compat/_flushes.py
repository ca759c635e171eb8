"""Flush requests, and when each one is complete.

Owns ``FlushWaiter`` (one ``flush()`` call: the newest message queued when it was
made, its optional callback, the first error among what it covered, and a ``done``
Event) and ``FlushBook``, the waiters of one batcher. The batcher numbers messages
as its worker takes them off the queue (``seq``, in queue order); a flush is
complete once every message numbered up to its tail has settled. The batcher calls
the book's methods under its own lock; ``finish`` (which runs the user's callback)
is called outside it.

Knows nothing about queues, triggers or HTTP.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional

import attrs

from ._dispatch import FlushCallback, FlushHandle
from ._events import Message
from ._listeners import call_safely

__all__ = ["FlushBook", "FlushResult", "FlushWaiter", "finish", "shutdown_sentence"]


class FlushWaiter:
    __slots__ = ("callback", "delivered", "done", "error", "failed", "tail", "total")

    def __init__(
        self, tail: Optional[Message], callback: Optional[FlushCallback], total: int = 0
    ) -> None:
        self.tail = tail  # the newest message when flush() was called: done once it is
        self.callback = callback
        self.error: Optional[Any] = None  # the first DeliveryError among what it waited for
        self.total = total  # messages not yet settled when flush() was called
        self.delivered = 0  # of those, settled since: delivered, or failed
        self.failed = 0
        self.done = threading.Event()

    def covers(self, seq: int) -> bool:
        """Was the message numbered ``seq`` queued before this flush? (0: not popped yet)"""
        tail = self.tail
        return tail is not None and (tail.seq == 0 or tail.seq >= seq)


@attrs.frozen
class FlushResult:
    """What ``flush()`` saw of the messages it waited for (those not yet settled when it
    was called). True only if every one of them was delivered: none ``failed``, none
    still ``pending`` when it returned. ``error`` is the first failure's, else None.

    ``flush(callback)`` returns at once, so its result is what had settled by then.
    """

    delivered: int
    failed: int
    pending: int
    error: Optional[Any] = None

    def __bool__(self) -> bool:
        return self.failed == 0 and self.pending == 0

    @property
    def settled(self) -> bool:
        """Did everything settle (delivered or failed), as ``flush`` used to report?"""
        return self.pending == 0

    @classmethod
    def of(cls, handle: FlushHandle) -> FlushResult:
        delivered, failed = handle.delivered, handle.failed
        pending = 0 if handle.done.is_set() else max(0, handle.total - delivered - failed)
        return cls(delivered, failed, pending, handle.error)


class FlushBook:
    """The flushes a batcher still owes. Every method but ``finish`` runs under its lock."""

    __slots__ = ("done_seq", "waiters")

    def __init__(self) -> None:
        self.waiters: List[FlushWaiter] = []
        self.done_seq = 0  # every message numbered up to this has settled

    def __bool__(self) -> bool:
        return bool(self.waiters)

    def pending(self, tail: Optional[Message]) -> bool:
        """Would a flush made now have anything to wait for?"""
        return tail is not None and (tail.seq == 0 or tail.seq > self.done_seq)

    def add(self, waiter: FlushWaiter) -> None:
        self.waiters.append(waiter)

    def count(self, messages: List[Message], errors: List[Any]) -> None:
        """These messages settled (with these errors): the flushes waiting for them count."""
        for waiter in self.waiters:
            for message, error in zip(messages, errors):
                if waiter.covers(message.seq):
                    if error is None:
                        waiter.delivered += 1
                    else:
                        waiter.failed += 1

    def blame(self, lowest_seq: int, error: Any) -> None:
        """Messages from ``lowest_seq`` on failed: the flushes waiting for them report it."""
        for waiter in self.waiters:
            if waiter.error is None and waiter.covers(lowest_seq):
                waiter.error = error

    def advance(self, highest_seq: int) -> List[FlushWaiter]:
        """Messages up to ``highest_seq`` settled: take the flushes that are now complete."""
        if highest_seq > self.done_seq:
            self.done_seq = highest_seq
        done = self.done_seq
        ready = [w for w in self.waiters if w.tail is None or 0 < w.tail.seq <= done]
        if ready:
            self.waiters = [w for w in self.waiters if w not in ready]
        return ready

    def take_all(self) -> List[FlushWaiter]:
        waiters, self.waiters = self.waiters, []
        return waiters


def finish(waiter: FlushWaiter) -> None:
    """Complete a flush: set its Event, then call its callback (outside any lock)."""
    waiter.done.set()
    if waiter.callback is not None:
        call_safely(waiter.callback, (waiter.error,), "flush callback")


def _messages(count: int) -> str:
    return "1 message" if count == 1 else f"{count} messages"


def shutdown_sentence(queued: int, in_flight: int, timeout: Optional[float], url: str) -> str:
    """What a shutdown whose deadline passed says: what is lost, and what to do."""
    waited = "shutdown's deadline passed" if timeout is None else f"shutdown waited {timeout:g} s"
    advice = "Raise shutdown_timeout, or check that the server answers"
    error = "ShutdownTimeoutError"
    if in_flight:
        verb = "fails" if in_flight == 1 else "fail"
        sending = f"{_messages(in_flight)} still being sent to {url} {verb}"
        cut = "unless the server answers before the request is cut off"
        if not queued:
            return f"{waited}: {sending} with {error} {cut}. {advice}"
        return (
            f"{waited}: {_messages(queued)} not sent yet failed with {error}; "
            f"{sending} too {cut}. {advice}"
        )
    return f"{waited}: {_messages(queued)} not sent yet to {url} failed with {error}. {advice}"
