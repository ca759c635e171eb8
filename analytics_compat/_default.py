"""The module-level default client, as ``require('analytics-node')`` and
``import segment.analytics`` gave one.

Owns ``init``, ``identify``, ``track``, ``alias``, ``group``, ``page``, ``screen``,
``flush``, ``on``, ``once``, ``remove_listener`` and ``shutdown`` at module level, each
acting on one default ``Client`` that exists from import (uninitialized until ``init``),
so no call site checks for None; ``capture_exception`` too, and it is the client that
captures what escapes a context opened without one (``new_context(client=None)``).

Also segment-python's module settings (``analytics.write_key = "..."``, ``host``,
``on_error``, ``debug``, ``send``, ``sync_mode``, ... ``SETTINGS``): ``SettingsModule``,
the package module's class, hands each assignment to ``configure``, which checks it at
once (a bad value raises on the line that set it). The first message call (or
``flush``) then initializes the default client from the settings, as segment-python's
first call builds its client; ``init()`` takes them too, under its own options. A
setting assigned once the default client runs cannot change it: that is logged as a
warning (once per setting), never silently ignored; the value read back is the one
assigned. Knows nothing but the ``Client`` API and the option parser.
"""

from __future__ import annotations

import logging
import threading
import types
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional

from ._client import Client
from ._context_calls import use_default_client
from ._flushes import FlushResult
from ._lifecycle import after_fork_in_child
from ._options import parse_options
from ._promise import MessagePromise
from .errors import DeliveryError, NotInitializedError

__all__ = [
    "SETTINGS",
    "SettingsModule",
    "alias",
    "capture_exception",
    "configure",
    "default_client",
    "flush",
    "group",
    "identify",
    "init",
    "on",
    "once",
    "page",
    "remove_listener",
    "screen",
    "setting",
    "shutdown",
    "started_client",
    "track",
]

logger = logging.getLogger(__name__)

_default = Client()

# segment-analytics-python's settings: its module attributes, and its Client's options
# (its OAuth settings are refused, with the reason, when assigned).
SETTINGS = frozenset(
    {
        "write_key", "host", "on_error", "debug", "log_handler", "send", "sync_mode",
        "max_queue_size", "gzip", "timeout", "max_retries", "proxies", "thread",
        "upload_size", "upload_interval", "oauth_client_id", "oauth_client_key",
        "oauth_key_id", "oauth_auth_server", "oauth_scope",
    }
)  # fmt: skip
_settings: Dict[str, Any] = {}  # assigned and not None, in assignment order
_applied: Dict[str, Any] = {}  # the settings the running default client was built with
_warned: set[str] = set()
_start_lock = threading.Lock()  # two first calls at once start the client once

_NOT_STARTED = (
    "the default client is not initialized: set analytics_compat.write_key = 'phc_...' "
    "before the first call (as with segment-python), or call "
    "analytics_compat.init({'secret': 'phc_...'})"
)


def configure(name: str, value: Any) -> None:
    """One module setting (``analytics.name = value``): checked now, used at start."""
    if value is None:  # segment-python's defaults are None: "not set"
        _settings.pop(name, None)
    else:
        probe = {name: value} if name == "write_key" else {"secret": "phc_probe", name: value}
        parse_options(probe)  # raises ConfigurationError naming the setting
        _settings[name] = value
    if _default.initialized and _applied.get(name) != value and name not in _warned:
        _warned.add(name)
        logger.warning(
            "analytics_compat.%s was set after the default client started, so it has no "
            "effect on it: set it before the first call, or pass it to Client(...)",
            name,
        )


def setting(name: str) -> Any:
    """The value a setting was assigned (None: not set, the option's default applies)."""
    return _settings.get(name)


class SettingsModule(types.ModuleType):
    """The class of the ``analytics_compat`` module: settings go through ``configure``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SETTINGS:
            configure(name, value)
        super().__setattr__(name, value)


def default_client() -> Client:
    """The client the module-level functions act on."""
    return _default


def started_client(strict: bool = True) -> Client:
    """The default client, initialized from the settings first if it is not yet (and
    ``write_key`` was set); ``strict``: raise ``NotInitializedError`` if it cannot be."""
    client = _default
    if not client.initialized:
        with _start_lock:
            if client.initialized:
                pass
            elif "write_key" in _settings:
                _start(client, None, {})
            elif strict:
                raise NotInitializedError(_NOT_STARTED)
    return client


def _start(client: Client, options: Any, kwargs: Dict[str, Any]) -> None:
    if options is not None and not isinstance(options, Mapping):
        client.init(options, **kwargs)  # raises ConfigurationError, naming the mistake
    merged: Dict[str, Any] = dict(_settings)
    merged.update(options or {})  # init()'s own options win over the settings
    client.init(merged, **kwargs)
    _applied.clear()
    _applied.update(_settings)


def init(options: Any = None, /, **kwargs: Any) -> Client:
    """Initialize the default client (once), over any module settings; returns it."""
    _start(_default, options, kwargs)
    return _default


def identify(message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return started_client().identify(message, *args, **kwargs)


def track(message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return started_client().track(message, *args, **kwargs)


def alias(message: Any = None, to: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return started_client().alias(message, to, *args, **kwargs)


def group(message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return started_client().group(message, *args, **kwargs)


def page(message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return started_client().page(message, *args, **kwargs)


def screen(message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
    return started_client().screen(message, *args, **kwargs)


def flush(
    callback: Optional[Callable[[Optional[DeliveryError]], Any]] = None,
    *,
    timeout: Optional[float] = None,
) -> FlushResult:
    return started_client().flush(callback, timeout=timeout)


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
    return started_client(strict=False).capture_exception(exception, **kwargs)


def _new_lock_in_child() -> None:
    global _start_lock
    _start_lock = threading.Lock()  # one some other thread held at fork() stays held


use_default_client(default_client)
after_fork_in_child(_new_lock_in_child)
