"""Calling user callbacks safely from the worker thread.

Owns the one place where listener, promise-callback and ``flush(callback)`` code
supplied by users is invoked: an exception in it is logged (with its traceback,
never with payloads) and swallowed so it cannot kill the worker; and a callback
written for analytics-node (``def on_flush(): ...``) that accepts fewer arguments
than the event carries is called with only as many as it takes.

Knows nothing about clients, queues or HTTP.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from typing import Any, Callable, Tuple

__all__ = ["call_safely", "positional_capacity"]

logger = logging.getLogger("analytics_compat")


@functools.lru_cache(maxsize=512)
def positional_capacity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` accepts (a large number for ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass everything
        return 1 << 16
    count = 0
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return 1 << 16
        if param.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


def call_safely(fn: Callable[..., Any], args: Tuple[Any, ...], what: str) -> None:
    """Call ``fn`` with as many of ``args`` as it accepts; log and swallow what it raises.

    Every ``BaseException`` is contained (a ``SystemExit`` in a listener must not end
    the worker thread), except a ``KeyboardInterrupt`` on the main thread, which is
    the user asking the whole program to stop.
    """
    try:
        try:
            capacity = positional_capacity(fn)
        except TypeError:  # unhashable callable: no caching, no trimming
            capacity = len(args)
        fn(*args[:capacity])
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and _on_main_thread():
            raise
        logger.exception("a %s raised %s; carrying on", what, type(exc).__name__)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
