"""The module-level default client, as ``require('analytics-node')`` gave one.

Owns ``init``, ``identify``, ``track``, ``alias``, ``group``, ``flush``, ``on``,
``once``, ``remove_listener`` and ``shutdown`` at module level, each acting on one
default ``Client`` that exists from import (uninitialized until ``init``), so no
call site checks for None; ``capture_exception`` too, and it is the client that
captures what escapes a context opened without one (``new_context(client=None)``).
Knows nothing but the ``Client`` API.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._client import Client
from ._context_calls import use_default_client
from ._promise import MessagePromise
from .errors import DeliveryError

__all__ = [
    "alias",
    "capture_exception",
    "default_client",
    "flush",
    "group",
    "identify",
    "init",
    "on",
    "once",
    "remove_listener",
    "shutdown",
    "track",
]

_default = Client()


def default_client() -> Client:
    """The client the module-level functions act on."""
    return _default


def init(options: Any = None, /, **kwargs: Any) -> Client:
    """Initialize the default client (once); returns it."""
    _default.init(options, **kwargs)
    return _default


def identify(message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return _default.identify(message, *args, **kwargs)


def track(message: Any = None, /, **kwargs: Any) -> MessagePromise:
    return _default.track(message, **kwargs)


def alias(message: Any = None, to: Any = None, /, **kwargs: Any) -> MessagePromise:
    return _default.alias(message, to, **kwargs)


def group(message: Any = None, /, **kwargs: Any) -> MessagePromise:
    return _default.group(message, **kwargs)


def flush(
    callback: Optional[Callable[[Optional[DeliveryError]], Any]] = None,
    *,
    timeout: Optional[float] = None,
) -> bool:
    return _default.flush(callback, timeout=timeout)


def on(event: str, listener: Callable[..., Any]) -> Callable[..., Any]:
    return _default.on(event, listener)


def once(event: str, listener: Callable[..., Any]) -> Callable[..., Any]:
    return _default.once(event, listener)


def remove_listener(event: str, listener: Callable[..., Any]) -> None:
    _default.remove_listener(event, listener)


def shutdown(timeout: Optional[float] = None) -> bool:
    return _default.shutdown(timeout)


def capture_exception(exception: Any = None, /, **kwargs: Any) -> MessagePromise:
    """``Client.capture_exception`` on the default client."""
    return _default.capture_exception(exception, **kwargs)


use_default_client(default_client)
