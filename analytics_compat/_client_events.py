"""The listener calls of ``Client``, and what its triggers read.

Owns one facet of the call surface and no state: ``on`` / ``once`` /
``remove_listener`` (analytics-node's event-emitter calls) delegate to the client's
emitter, and ``queued`` / ``batch_age`` / ``last_flush`` / ``stats`` / ``state``
(what a custom trigger and a dashboard read) to its engine.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from ._dispatch import Lifecycle
from ._emitter import ClientEmitter
from ._engine import AnyEngine

__all__ = ["EventCalls"]


class EventCalls:
    """The emitter's calls and the engine's counters, delegated."""

    _emitter: ClientEmitter
    _engine: AnyEngine

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

    # -- what triggers read, and counters ---------------------------------------------
    @property
    def queued(self) -> int:
        """Messages waiting to be released (what the size trigger counts)."""
        return self._engine.queued

    @property
    def batch_age(self) -> float:
        return self._engine.batch_age

    @property
    def last_flush(self) -> float:
        return self._engine.last_flush

    @property
    def stats(self) -> Dict[str, int]:
        """Counters: messages delivered, failed, and dropped (queue full, or by reason)."""
        return self._engine.stats

    @property
    def state(self) -> Lifecycle:
        return self._engine.state
