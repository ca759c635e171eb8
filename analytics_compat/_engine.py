"""The engine: a client's parts wired together, and what happens to a submitted message.

Owns ``Engine``: built once per ``init`` from the canonical options, it holds the
pipeline, the dispatcher (the batcher over a transport with its protocol strategy,
or the null dispatcher when ``send=False``) and the delivery statistics; ``submit``
runs the pipeline on the caller's thread and hands the message to the dispatcher;
``flush`` / ``shutdown`` go to the dispatcher; ``_deliver`` turns settled messages
into the client's events and promise outcomes in the documented order (client
``flush`` / ``error`` first, then each promise; the batcher then completes flush
callbacks). Before ``init`` a client holds ``NOT_INITIALIZED`` and after
``shutdown`` a ``ClosedEngine``: both refuse work with the right error, so no call
site checks state.

Knows nothing about the call surface (legacy or PostHog names) or about flags.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

import attrs

from ._batching import Batcher
from ._config import CaptureConfig, CaptureMode, ClientOptions
from ._dispatch import Dispatcher, ImmediateDispatcher, Lifecycle, NullDispatcher
from ._emitter import ClientEmitter
from ._events import Message
from ._flushes import FlushResult
from ._lifecycle import ForkSafeLock
from ._listeners import call_safely
from ._pipeline import Hint, Pipeline
from ._promise import settle_all
from .errors import ClientClosedError, DeliveryError, NotInitializedError, QueueFullError
from .transport import HttpClient, Outcome, Strategy, Transport, V0Protocol, V1Protocol

__all__ = [
    "NOT_INITIALIZED",
    "AnyEngine",
    "ClosedEngine",
    "Engine",
    "FlushInfo",
    "NotInitializedEngine",
]

FlushCallback = Callable[[Optional[DeliveryError]], Any]


@attrs.frozen
class FlushInfo:
    """Passed to client ``flush`` listeners: how many messages one batch delivered."""

    count: int
    uuids: tuple[str, ...]


class Engine:
    """A running client's parts. Built by ``Client.init``."""

    def __init__(
        self,
        options: ClientOptions,
        emitter: ClientEmitter,
        pipeline: Pipeline,
        trigger_subject: Any,
    ) -> None:
        self.options = options
        self._emitter = emitter
        self._pipeline = pipeline
        self._on_error = options.capture.on_error
        # An on_error callback hears every delivery error: the default listener stays quiet.
        emitter.handled_elsewhere = self._on_error is not None
        self.delivered = 0
        self.failed = 0
        capture = options.capture
        self._immediate: Optional[ImmediateDispatcher] = None
        self.dispatcher: Dispatcher
        if capture.disabled or not capture.send:
            self.dispatcher = NullDispatcher()
        elif capture.sync_mode:
            self.dispatcher = self._immediate = ImmediateDispatcher(
                build_transport(options), self._deliver, options.batch.shutdown_timeout
            )
        else:
            self.dispatcher = Batcher(
                options.batch,
                build_transport(options),
                self._deliver,
                self._report_drops,
                trigger_subject,
            )
        self._put = self.dispatcher.put
        self._lock = ForkSafeLock()  # taken once, to make the immediate dispatcher
        self.group_type = capture.group_type

    # -- caller's thread ------------------------------------------------------------
    def submit(self, message: Message, hint: Optional[Hint] = None) -> Message:
        """Run the pipeline, then hand the message to the dispatcher; returns it."""
        pipeline = self._pipeline
        stages = pipeline.plain if hint is None else pipeline.hinted
        if stages and pipeline.run(stages, message, hint) is None:
            return self._dropped(message)
        self._put(message)
        return message

    def _dropped(self, message: Message) -> Message:
        """A stage dropped the message (its promise failed already): the client's ``error``
        listeners and ``on_error`` hear of it too, here on the caller's thread."""
        error = message.error
        if error is not None:
            self._emitter.emit("error", error)
            if self._on_error is not None:
                call_safely(self._on_error, (error, [message.as_event()]), "on_error callback")
        return message

    def submit_now(self, message: Message, hint: Optional[Hint] = None) -> Message:
        """Like ``submit``, but sent on this thread before returning (``*_immediate``)."""
        pipeline = self._pipeline
        stages = pipeline.plain if hint is None else pipeline.hinted
        if stages and pipeline.run(stages, message, hint) is None:
            return self._dropped(message)
        self._immediate_dispatcher().put(message)
        return message

    def _immediate_dispatcher(self) -> Dispatcher:
        if isinstance(self.dispatcher, NullDispatcher):  # test mode, disabled, sync_mode
            return self.dispatcher
        with self._lock:
            if self._immediate is None:  # its own connection: the worker owns the other
                self._immediate = ImmediateDispatcher(
                    build_transport(self.options),
                    self._deliver,
                    self.options.batch.shutdown_timeout,
                )
            return self._immediate

    def flush(self, callback: Optional[FlushCallback], timeout: Optional[float]) -> FlushResult:
        waiter = self.dispatcher.flush(callback)
        if callback is None and not self.dispatcher.on_worker_thread():
            waiter.done.wait(timeout)
        return FlushResult.of(waiter)

    def shutdown(self, timeout: Optional[float]) -> bool:
        drained = self.dispatcher.shutdown(timeout)
        immediate = self._immediate
        if immediate is not None and immediate is not self.dispatcher:
            immediate.shutdown(0.0)
        return drained

    @property
    def state(self) -> Lifecycle:
        return self.dispatcher.state

    @property
    def queued(self) -> int:
        return self.dispatcher.queued

    @property
    def batch_age(self) -> float:
        return self.dispatcher.batch_age

    @property
    def last_flush(self) -> float:
        return self.dispatcher.last_flush

    @property
    def stats(self) -> Dict[str, int]:
        stats = {
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped_queue_full": self.dispatcher.dropped_queue_full,
            "queued": self.dispatcher.queued,
        }
        for reason, count in self._pipeline.dropped.items():
            stats[f"dropped_{reason}"] = count
        return stats

    # -- worker thread --------------------------------------------------------------
    def _deliver(self, messages: List[Message], outcomes: List[Outcome]) -> None:
        """Client events first, then each promise (DESIGN.md's order)."""
        errors = [outcome.error for outcome in outcomes]
        emit = self._emitter.emit
        if errors.count(None) == len(errors):  # the common case, counted at C speed
            uuids = tuple(m._uuid or m.uuid for m in messages)
        else:
            uuids = tuple(m._uuid or m.uuid for m, e in zip(messages, errors) if e is None)
        self.delivered += len(uuids)
        self.failed += len(messages) - len(uuids)
        try:
            if uuids:
                emit("flush", FlushInfo(len(uuids), uuids))
            if len(uuids) < len(messages):
                seen: List[DeliveryError] = []
                for error in errors:
                    if error is not None and not any(error is s for s in seen):
                        seen.append(error)
                        emit("error", error)
                if self._on_error is not None:  # posthog-python's and Segment's on_error
                    for error in seen:
                        items = [m.as_event() for m, e in zip(messages, errors) if e is error]
                        call_safely(self._on_error, (error, items), "on_error callback")
        finally:  # even if a listener stopped the program (KeyboardInterrupt in sync_mode)
            settle_all(messages, errors)

    def _report_drops(self, count: int) -> None:
        size = self.options.batch.max_queue_size
        for _ in range(count):
            error = QueueFullError(f"the queue was full ({size} messages): a message was dropped")
            self._emitter.emit("error", error)


def build_transport(options: ClientOptions) -> Transport:
    """A transport speaking the client's protocol, over a connection of its own."""
    delivery = options.delivery
    secrets = (delivery.secret, options.flags.personal_api_key or "")
    http = HttpClient(
        host=delivery.host,
        secrets=secrets,
        compression=delivery.compression,
        timeout=delivery.timeout,
        retry_backoff=delivery.retry_backoff,
        max_retry_backoff=delivery.max_retry_backoff,
        max_retry_after=delivery.max_retry_after,
        proxies=delivery.proxies,
    )
    protocol: Strategy
    if delivery.capture_mode is CaptureMode.V1:
        protocol = V1Protocol(
            secret=delivery.secret,
            historical_migration=delivery.historical_migration,
            secrets=secrets,
            disable_geoip=delivery.disable_geoip,
            is_server=delivery.is_server,
        )
    else:
        protocol = V0Protocol(
            secret=delivery.secret,
            historical_migration=delivery.historical_migration,
            disable_geoip=delivery.disable_geoip,
            is_server=delivery.is_server,
        )
    return Transport(delivery, protocol, http)


class NotInitializedEngine:
    """What a client holds before ``init``: calls raise ``NotInitializedError``."""

    options: Optional[ClientOptions] = None
    group_type = CaptureConfig().group_type  # so a group() call validates, then raises
    state = Lifecycle.RUNNING
    queued = 0
    batch_age = 0.0
    last_flush = float("-inf")

    def submit(self, message: Message, hint: Optional[Hint] = None) -> Message:
        raise NotInitializedError()

    submit_now = submit

    def flush(self, callback: Optional[FlushCallback], timeout: Optional[float]) -> FlushResult:
        raise NotInitializedError()

    def shutdown(self, timeout: Optional[float]) -> bool:
        return True

    @property
    def stats(self) -> Dict[str, int]:
        return {"delivered": 0, "failed": 0, "dropped_queue_full": 0, "queued": 0}


NOT_INITIALIZED = NotInitializedEngine()


class ClosedEngine:
    """What a client holds after ``shutdown``: calls raise ``ClientClosedError``; what the
    engine counted stays readable, and ``shutdown`` again answers as the first did."""

    def __init__(self, previous: Union[Engine, NotInitializedEngine]) -> None:
        self._previous = previous
        self.options = previous.options
        self.group_type = previous.group_type

    def submit(self, message: Message, hint: Optional[Hint] = None) -> Message:
        raise ClientClosedError()

    submit_now = submit

    def flush(self, callback: Optional[FlushCallback], timeout: Optional[float]) -> FlushResult:
        raise ClientClosedError()

    def shutdown(self, timeout: Optional[float]) -> bool:
        return self._previous.shutdown(timeout)

    @property
    def state(self) -> Lifecycle:
        previous = self._previous
        return Lifecycle.CLOSED if isinstance(previous, NotInitializedEngine) else previous.state

    @property
    def queued(self) -> int:
        return self._previous.queued

    @property
    def batch_age(self) -> float:
        return self._previous.batch_age

    @property
    def last_flush(self) -> float:
        return self._previous.last_flush

    @property
    def stats(self) -> Dict[str, int]:
        return self._previous.stats


AnyEngine = Union[Engine, NotInitializedEngine, ClosedEngine]
