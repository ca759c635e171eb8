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

from ._dispatch import FlushCallback
from ._events import Message
from ._listeners import call_safely

__all__ = ["FlushBook", "FlushWaiter", "finish"]


class FlushWaiter:
    __slots__ = ("callback", "done", "error", "tail")

    def __init__(self, tail: Optional[Message], callback: Optional[FlushCallback]) -> None:
        self.tail = tail  # the newest message when flush() was called: done once it is
        self.callback = callback
        self.error: Optional[Any] = None  # the first DeliveryError among what it waited for
        self.done = threading.Event()

    def covers(self, seq: int) -> bool:
        """Was the message numbered ``seq`` queued before this flush? (0: not popped yet)"""
        tail = self.tail
        return tail is not None and (tail.seq == 0 or tail.seq >= seq)


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
