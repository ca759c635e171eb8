"""ClientCore: a client's lifecycle, events and message submission.

Owns ``init``, the ``initialize`` / ``flush`` / ``error`` events, ``flush`` and
``shutdown``, what triggers read (``queued``, ``batch_age``, ``options``), and
``_deliver``, which turns settled messages into events and promise outcomes in the
documented order (client event, then each promise, then flush callbacks). It holds
no batching logic (that is the ``Batcher``) and no call surface (that is
``Client`` in ``_client``, with flags from ``_flags_client``).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional

import attrs

from ._batching import Batcher, Lifecycle
from ._emitter import ClientEmitter, log_error
from ._events import Message
from ._options import ClientOptions, parse_options
from ._promise import MessagePromise
from ._redact import register_secret
from ._transport import Outcome
from .errors import (
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    NotInitializedError,
    QueueFullError,
)

__all__ = ["ClientCore", "FlushInfo"]

logger = logging.getLogger("analytics_compat")


@attrs.frozen
class FlushInfo:
    """Passed to client ``flush`` listeners: how many messages one batch delivered."""

    count: int
    uuids: tuple[str, ...]


class _Stats:
    __slots__ = ("delivered", "failed")

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0


_CLIENTS: weakref.WeakSet[ClientCore] = weakref.WeakSet()


class ClientCore:
    """Lifecycle, events and message submission; the public calls live in ``Client``."""

    def __init__(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> None:
        self._emitter = ClientEmitter()
        _CLIENTS.add(self)
        self._emitter.on("error", log_error)
        self.options: Optional[ClientOptions] = None
        self._batcher: Optional[Batcher] = None
        self._stats = _Stats()
        self._closed = False
        self._accepting = False  # initialized and not shut down: the hot path's one check
        if options is not None or kwargs:
            self.init(options, **kwargs)

    def init(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> None:
        """Configure the client (legacy mapping and/or snake_case keywords); emits ``initialize``.

        Raises ``ConfigurationError`` naming a bad option, or if called a second time.
        """
        if self.options is not None:
            raise ConfigurationError(
                "init() was already called on this client; create another Client instead",
                option="init",
            )
        parsed = parse_options(options, **kwargs)
        register_secret(parsed.secret, parsed.personal_api_key)
        if parsed.send:
            self._batcher = Batcher(parsed, self._deliver, self._report_drops, self)
        self.options = parsed
        self._accepting = True
        self._on_init()
        self._emitter.emit("initialize")

    def _on_init(self) -> None:
        """Hook for mixins that start work once options are known."""

    @property
    def initialized(self) -> bool:
        return self.options is not None

    # -- events ---------------------------------------------------------------------
    def on(self, event: str, listener: Callable[..., Any]) -> Callable[..., Any]:
        """Listen to ``initialize``, ``flush`` (a ``FlushInfo``) or ``error`` (the error)."""
        return self._emitter.on(event, listener)

    def once(self, event: str, listener: Callable[..., Any]) -> Callable[..., Any]:
        return self._emitter.once(event, listener)

    add_listener = on

    def remove_listener(self, event: str, listener: Callable[..., Any]) -> None:
        self._emitter.remove_listener(event, listener)

    def remove_all_listeners(self, event: Optional[str] = None) -> None:
        self._emitter.remove_all_listeners(event)

    def listeners(self, event: str) -> List[Callable[..., Any]]:
        return self._emitter.listeners(event)

    def emit(self, event: str, *args: Any) -> bool:
        return self._emitter.emit(event, *args)

    # -- what triggers read ---------------------------------------------------------
    @property
    def queued(self) -> int:
        return self._batcher.queued if self._batcher else 0

    @property
    def batch_age(self) -> float:
        return self._batcher.batch_age if self._batcher else 0.0

    @property
    def last_flush(self) -> float:
        return self._batcher.last_flush if self._batcher else float("-inf")

    @property
    def stats(self) -> Dict[str, int]:
        """Counters: messages delivered, failed, and dropped (queue full)."""
        dropped = self._batcher.dropped["queue_full"] if self._batcher else 0
        return {
            "delivered": self._stats.delivered,
            "failed": self._stats.failed,
            "dropped_queue_full": dropped,
            "queued": self.queued,
        }

    # -- submission -----------------------------------------------------------------
    def _require_open(self) -> ClientOptions:
        options = self.options
        if options is None:
            raise NotInitializedError(
                "the client is not initialized: call init({'secret': ...}) first",
                option="secret",
            )
        if self._closed:
            raise ClientClosedError("the client was shut down; it accepts no more messages")
        return options

    def _submit(self, message: Message) -> MessagePromise:
        batcher = self._batcher
        if batcher is None:  # send=False: test mode, nothing leaves the process
            message._settle(None)
        else:
            batcher.put(message)
        return message

    def _deliver(self, messages: List[Message], outcomes: List[Outcome]) -> None:
        """Worker thread: client events first, then each promise (DESIGN.md's order)."""
        uuids = tuple(m.uuid or "" for m, o in zip(messages, outcomes) if o is None)
        self._stats.delivered += len(uuids)
        self._stats.failed += len(messages) - len(uuids)
        if uuids:
            self._emitter.emit("flush", FlushInfo(len(uuids), uuids))
        seen: List[DeliveryError] = []
        for outcome in outcomes:
            if outcome is not None and not any(outcome is s for s in seen):
                seen.append(outcome)
                self._emitter.emit("error", outcome)
        for message, outcome in zip(messages, outcomes):
            message._settle(outcome)

    def _report_drops(self, count: int) -> None:
        for _ in range(count):
            self._emitter.emit("error", QueueFullError("queue full: a message was dropped"))

    # -- flush and shutdown -----------------------------------------------------------
    def flush(
        self,
        callback: Optional[Callable[[Optional[DeliveryError]], Any]] = None,
        *,
        timeout: Optional[float] = None,
    ) -> bool:
        """Send everything queued now.

        With ``callback``: returns at once; ``callback(err)`` is called once everything
        queued at the time of the call has settled (``err`` is None if all of it was
        delivered, else the first delivery error). Without: blocks until then or for
        ``timeout`` seconds, and returns True if it all settled. Called on the worker
        thread (from a listener), the blocking form schedules the flush and returns
        False instead of waiting on itself.
        """
        self._require_open()
        batcher = self._batcher
        if batcher is None:
            if callback is not None:
                callback(None)
            return True
        waiter = batcher.flush(callback)
        if callback is not None or batcher.on_worker_thread():
            return waiter.done.is_set()
        return waiter.done.wait(timeout)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Drain within ``timeout`` s (default: the ``shutdown_timeout`` option) and stop.

        Messages still queued at the deadline fail with ``ShutdownTimeoutError``.
        Returns True if no message had to be abandoned. Later calls raise ClientClosedError.
        """
        self._closed = True
        self._accepting = False
        self._on_shutdown()
        if self._batcher is None:
            return True
        return self._batcher.shutdown(timeout)

    close = shutdown

    def _on_shutdown(self) -> None:
        """Hook for mixins that stop work at shutdown."""

    def _add_flag_properties(
        self, message: Message, groups: Optional[Mapping[str, Any]] = None
    ) -> None:
        """Hook: ``$feature/<key>`` and ``$active_feature_flags`` (see ``FlagsMixin``)."""

    @property
    def state(self) -> Lifecycle:
        if self._batcher is not None:
            return self._batcher.state
        return Lifecycle.CLOSED if self._closed else Lifecycle.RUNNING

    def __repr__(self) -> str:
        if self.options is None:
            return "<Client uninitialized>"
        o = self.options
        return f"<Client host={o.host} flush_at={o.flush_at} state={self.state.value}>"


def _renew_emitter_locks_in_child() -> None:
    # pyee guards its listener table with a lock; one held at fork() would hang emit().
    for client in list(_CLIENTS):
        client._emitter._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_emitter_locks_in_child)
