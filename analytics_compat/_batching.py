"""Batching: one bounded queue and one worker thread per client.

Owns when queued messages leave: triggers release them (``release`` marks every
message queued at that moment, so batch boundaries are fixed when the trigger
fires, not when the worker wakes), the worker sends released messages in batches
(``max_batch_size`` events, ``max_batch_bytes``), ``flush`` requests complete once
every message queued before them has settled, and the lifecycle: shutdown drains
within a deadline, interpreter exit drains every live batcher, and a forked child
starts with an empty queue and its own worker (the parent sends what it queued).

It hands each batch to a ``Sender`` (the transport, built by the engine) and calls
``deliver(messages, outcomes)`` for every settled group of messages; what that does
(events, promises) is the engine's business. The batcher is the "batch" dispatcher:
``_dispatch`` holds the interface it shares with the others. Knows nothing about
the legacy API, listeners, wire formats or HTTP.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
import weakref
from typing import Any, Callable, Deque, List, Optional

from ._config import BatchConfig, FlushPolicy
from ._dispatch import FlushCallback, Lifecycle, Sender
from ._events import Message
from ._flushes import FlushBook, FlushWaiter, finish, shutdown_sentence
from ._gctrack import UNTRACK_DEPTH, retrack_all, untracker
from ._live import LIVE
from .errors import QueueFullError, ShutdownTimeoutError, TransportError
from .transport import Deadline, Outcome

__all__ = ["Batcher"]

logger = logging.getLogger(__name__)

Deliver = Callable[[List[Message], List[Outcome]], None]


# Above the high-water mark a producer waits, this long at most, off the interpreter lock
# for the worker to take a batch (4 producers, queue of 300: sleep(0) dropped 17,489 of
# 20,000; this, none), if the worker has released messages and took one in _MOVING_S:
# a queue the triggers hold, or a request stuck on the network, is waited for in vain.
# Taking the lock back costs ~5 ms more (sys.getswitchinterval()) and the scheduler's
# turn: a flood's worst call was 9-10 ms with 1 ms, 10-11 with 2 ms, 11-13 with 4 ms.
_YIELD_S = 0.001
_MOVING_S = 0.5


class Batcher:
    """A bounded queue and its worker thread, for one client."""

    def __init__(
        self,
        config: BatchConfig,
        sender: Sender,
        deliver: Deliver,
        on_dropped: Callable[[int], None],
        trigger_subject: Any,
    ) -> None:
        self.config = config
        self._sender = sender
        self._deliver = deliver
        self._on_dropped = on_dropped
        self._subject = weakref.proxy(trigger_subject)
        self._clock = config.clock
        self._default_triggers = config.default_triggers
        self._legacy = config.flush_policy is FlushPolicy.LEGACY
        self._flush_at = config.flush_at
        self._max_queue_size = config.max_queue_size
        self._flush_after = config.flush_after
        self._high_water = max(1, config.max_queue_size // 2)
        self._behind = min(UNTRACK_DEPTH, self._high_water)
        self._untrack = untracker()
        self.dropped: collections.Counter[str] = collections.Counter()
        self._reset()
        self._state = Lifecycle.RUNNING
        LIVE.add(self)
        self._start_worker()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Event()  # set each time the worker takes a batch
        self._taken_at = time.monotonic()  # when it last did
        self._deadline = Deadline()  # set by shutdown; the sender's requests and sleeps obey it
        self._queue: Deque[Message] = collections.deque()
        self._released = 0  # messages at the head of the queue released for sending
        self._marks: Deque[int] = collections.deque()  # batch boundaries among them
        # Numbered when the worker takes them (under the lock): numbers follow queue
        # order, producers take no lock; a flush waits for the tail it saw.
        self._seq = itertools.count(1)
        self._last_taken: Optional[Message] = None  # tail of the batch in flight (or last)
        self._drop_lock = threading.Lock()
        self._drops_to_report = 0
        self._abandoned = 0  # messages the shutdown deadline failed
        self._in_flight = 0
        self._in_flight_left = 0  # of the batch in flight, messages not settled yet
        self._drain_timeout: Optional[float] = None
        self._flushes = FlushBook()
        self.last_flush = float("-inf") if self._legacy else self._clock()

    def _start_worker(self) -> None:
        name = "analytics-compat-worker"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- caller's thread ------------------------------------------------------------
    @property
    def state(self) -> Lifecycle:
        return self._state

    @property
    def dropped_queue_full(self) -> int:
        return self.dropped["queue_full"]

    @property
    def queued(self) -> int:
        """Messages waiting to be released (what the size trigger counts)."""
        return len(self._queue) - self._released

    @property
    def batch_age(self) -> float:
        if self._legacy:
            return self._clock() - self.last_flush
        queue, released = self._queue, self._released
        try:
            return self._clock() - queue[released].enqueued_at
        except IndexError:
            return 0.0

    def put(self, message: Message) -> bool:
        """Queue a message; False (and the promise failed) if the queue was full.

        Lock-free (``deque.append`` is atomic): with N producer threads the queue can
        overshoot ``maxQueueSize`` by at most N - 1. Above half of it the call first
        waits (``_YIELD_S`` at most) for a moving worker to take a batch; full drops at once.
        """
        queue = self._queue
        depth = len(queue)
        if depth >= self._behind:  # keep it out of the cyclic collector (see _gctrack)
            if depth >= self._high_water:
                if depth >= self._max_queue_size:
                    return self._drop(message)
                if self._released and time.monotonic() - self._taken_at < _MOVING_S:
                    progress = self._progress  # the worker is behind: let it run first
                    progress.clear()
                    progress.wait(_YIELD_S)
            self._untrack(message)  # before another thread can see it (and settle it)
        now = self._clock()
        message.enqueued_at = now
        queue.append(message)
        if self._state is not Lifecycle.RUNNING:
            self._put_while_closing()
            return True
        if not self._default_triggers:
            self.check_triggers()
            return True
        # The default triggers (size, time), inlined: this runs on every call.
        waiting = len(queue) - self._released
        if waiting >= self._flush_at:
            self.release()
        elif self._legacy:
            if now - self.last_flush > self._flush_after:
                self.release()
        elif waiting and now - queue[self._released].enqueued_at > self._flush_after:
            self.release()
        return True

    def _drop(self, message: Message) -> bool:
        with self._drop_lock:
            self.dropped["queue_full"] += 1
            self._drops_to_report += 1
        message._settle(
            QueueFullError(f"the queue was full ({self._max_queue_size} messages): dropped")
        )
        self._poke()
        return False

    def _put_while_closing(self) -> None:
        """A message that raced shutdown: send it with the drain, or fail it if closed."""
        if self._state is Lifecycle.CLOSED:
            self._abandon_queued()
        else:
            self.release()

    def check_triggers(self) -> bool:
        fired = False
        for trigger in self.config.triggers:
            try:
                fired = bool(trigger(self._subject))
            except BaseException:  # a user's trigger must not end the worker
                logger.exception("a flush trigger raised; treated as False")
            if fired:
                self.release()
                break
        return fired

    def release(self) -> None:
        """Release everything queued now for sending, and wake the worker."""
        with self._lock:
            fresh = len(self._queue) - self._released
            if fresh > 0:
                self._marks.append(fresh)
                self._released += fresh
            self.last_flush = self._clock()
        self._poke()

    def _poke(self) -> None:
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, callback: Optional[FlushCallback] = None) -> FlushWaiter:
        """Send everything queued now; ``callback(err)`` runs once all of it has settled."""
        with self._lock:
            queued = len(self._queue)  # it only grows while the lock is held
            tail = self._queue[queued - 1] if queued else self._last_taken
            waiter = FlushWaiter(tail, callback, queued + self._in_flight_left)
            pending = self._flushes.pending(tail) and self._state is not Lifecycle.CLOSED
            if pending:
                self._flushes.add(waiter)
        if pending:
            self.release()
        else:
            finish(waiter)
        return waiter

    def on_worker_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def shutdown(self, timeout: Optional[float]) -> bool:
        """Drain within ``timeout`` seconds and stop; True if everything settled in time."""
        self.begin_shutdown(timeout)
        return self.join()

    def begin_shutdown(self, timeout: Optional[float]) -> None:
        """Start draining with a deadline ``timeout`` seconds (real time) from now."""
        if timeout is None:
            timeout = self.config.shutdown_timeout
        with self._lock:
            if self._state is not Lifecycle.RUNNING:
                return
            self._state = Lifecycle.CLOSING
            self._drain_timeout = timeout
            self._deadline.set(time.monotonic() + timeout)
        LIVE.discard(self)
        self.release()

    def join(self) -> bool:
        """Wait for the drain, up to the deadline; True if none was abandoned by it. A
        worker still busy then (a request in flight): the caller fails what is queued."""
        deadline = self._deadline.at
        if not self.on_worker_thread() and deadline is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.2)
            if self._thread.is_alive():
                self._abandon_queued()
            self._report_drops()  # a worker held by a request could not report them
        return self._abandoned == 0 and not self._queue

    def _abandon_queued(self) -> None:
        """Fail every still-queued message with ShutdownTimeoutError (deadline passed)."""
        with self._lock:
            leftover = list(self._queue)
            self._queue.clear()
            for message in leftover:
                message.seq = next(self._seq)
            self._released = 0
            self._marks.clear()
            in_flight = self._in_flight
        url = getattr(self._sender, "url", "the server")
        said = shutdown_sentence(len(leftover), in_flight, self._drain_timeout, url)
        if leftover:  # said once, by the error (the default listener logs it if no one hears)
            error = ShutdownTimeoutError(said, url=url)
            self._settle(leftover, [Outcome.failed(error)] * len(leftover), queued=True)
            if not in_flight:  # else flushes wait for the batch; the worker ends them
                self._advance(leftover)
        elif in_flight:  # a worker held past the deadline may never report its batch
            logger.warning("%s", said)

    # -- worker thread --------------------------------------------------------------
    def _run(self) -> None:
        interval = self.config.timer_interval
        while True:
            woken = self._wake.wait(interval)
            self._wake.clear()
            try:
                if not woken and self._queue:
                    self.check_triggers()
                self._report_drops()
                self._drain()
            except BaseException:  # nothing may end the worker; a bug is logged
                logger.exception("internal error in the worker; carrying on")
            if self._state is Lifecycle.CLOSING and (self._drained() or self._deadline.passed()):
                self._close()
                return

    def _drained(self) -> bool:
        return not self._queue

    def _report_drops(self) -> None:
        with self._drop_lock:
            count, self._drops_to_report = self._drops_to_report, 0
        if count:
            self._on_dropped(count)

    def _drain(self) -> None:
        while self._released and not self._deadline.passed():
            with self._lock:
                batch = self._take_batch()
                self._in_flight = self._in_flight_left = len(batch)
            self._taken_at = time.monotonic()
            self._progress.set()  # room was made: producers waiting above high water go on
            try:
                self._sender.send(batch, self._settle, self._deadline)
            except BaseException as exc:  # a bug or an unexpected error: fail, never lose
                logger.exception("internal error while sending a batch")
                pending = [m for m in batch if not m.done()]
                error = TransportError(f"internal error while sending: {type(exc).__name__}")
                self._settle(pending, [Outcome.failed(error)] * len(pending))
            finally:
                self._in_flight = self._in_flight_left = 0
                self._advance(batch)

    def _take_batch(self) -> List[Message]:
        """The next batch (under the lock): one trigger's release; or as many released
        messages as a batch holds once a flush or shutdown waits, or once more is
        released than a batch holds (behind: fewer, bigger requests catch up)."""
        limit = self.config.max_batch_size
        marks = self._marks
        if self._state is Lifecycle.RUNNING and not self._flushes and self._released <= limit:
            limit = min(limit, marks[0])
        take = min(limit, self._released)
        remaining = take
        while remaining:
            mark = marks.popleft()
            if mark > remaining:
                marks.appendleft(mark - remaining)
                break
            remaining -= mark
        self._released -= take
        popleft, number = self._queue.popleft, self._seq
        batch = [popleft() for _ in range(take)]
        for message in batch:
            message.seq = next(number)
        if batch:
            self._last_taken = batch[-1]
        return batch

    def _settle(
        self, messages: List[Message], outcomes: List[Outcome], queued: bool = False
    ) -> None:
        """The engine delivers settled messages, then the flushes waiting for them count
        them under the lock (so each counts a message once). ``queued``: never sent."""
        cut = sum(1 for o in outcomes if isinstance(o.error, ShutdownTimeoutError))
        if cut:  # the deadline ended their attempts: shutdown() must not say all is well
            self._abandoned += cut
        try:
            self._deliver(messages, outcomes)
        finally:
            errors = [outcome.error for outcome in outcomes]
            with self._lock:
                if not queued:
                    self._in_flight_left -= len(messages)
                flushes = self._flushes
                if flushes:
                    flushes.count(messages, errors)
                    first_error = next((e for e in errors if e is not None), None)
                    if first_error is not None:  # only the flushes waiting for these
                        flushes.blame(min(m.seq for m in messages), first_error)

    def _advance(self, messages: List[Message]) -> None:
        """A whole batch has settled: complete the flushes it was the last for."""
        if not messages:
            return
        highest = max(m.seq for m in messages)
        with self._lock:
            ready = self._flushes.advance(highest)
        for waiter in ready:
            finish(waiter)

    def _close(self) -> None:
        """Fail what the deadline left behind, release flush waiters, close the transport."""
        with self._lock:
            self._state = Lifecycle.CLOSED
        self._abandon_queued()
        with self._lock:
            waiters = self._flushes.take_all()
        for waiter in waiters:
            finish(waiter)
        self._sender.close()

    def _after_fork_in_child(self) -> None:
        if self._state is not Lifecycle.RUNNING:
            return
        # The parent still holds and will send everything queued before the fork; the
        # child's copies are garbage, which the collector must be able to see.
        retrack_all(self._queue)
        self._reset()
        self._sender.after_fork()
        self._start_worker()
