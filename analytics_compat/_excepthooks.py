"""The process's uncaught-exception hooks, installed once and shared by every client.

Owns ``sys.excepthook`` and ``threading.excepthook`` for the package (sentry's
"integrations are set up once per process"): the first ``register`` installs one hook
of each kind, chaining whatever hook was there before; every uncaught exception is
handed to each registered receiver, then to that previous hook, always, so Python's
own report (and exit status) and other libraries' hooks are unchanged. The last
``unregister`` puts the previous hooks back, unless someone has since installed a
hook on top of ours: then ours stays in their chain and only passes through. A
``SystemExit`` in a thread is not reported, as Python's default thread hook ignores it.

A receiver must not raise; one that does is logged and the others still run. The
registry's lock is renewed in a forked child (``_lifecycle``). Knows nothing about
clients or events.
"""

from __future__ import annotations

import logging
import sys
import threading
import types
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from ._lifecycle import after_fork_in_child

__all__ = ["Receiver", "installed", "register", "unregister"]

logger = logging.getLogger("analytics_compat")

ExcInfo = Tuple[Type[BaseException], BaseException, Optional[types.TracebackType]]
# receiver(exc_info, how): ``how`` is "sys" (the main thread's last word) or "thread".
Receiver = Callable[[ExcInfo, str], None]

_LOCK = threading.Lock()
_receivers: List[Receiver] = []
_previous_sys: Optional[Callable[..., Any]] = None
_previous_thread: Optional[Callable[..., Any]] = None
_sys_installed = False  # ours is in sys.excepthook's chain
_thread_installed = False  # ours is in threading.excepthook's chain


def register(receiver: Receiver) -> None:
    """Hand uncaught exceptions to ``receiver`` (installs the hooks on first use)."""
    global _sys_installed, _thread_installed, _previous_sys, _previous_thread
    with _LOCK:
        if not _sys_installed:
            _previous_sys, sys.excepthook = sys.excepthook, _sys_hook
            _sys_installed = True
        if not _thread_installed:
            _previous_thread, threading.excepthook = threading.excepthook, _thread_hook
            _thread_installed = True
        _receivers.append(receiver)


def unregister(receiver: Receiver) -> None:
    """Stop handing exceptions to ``receiver``; the last one out restores the hooks."""
    global _sys_installed, _thread_installed
    with _LOCK:
        try:
            _receivers.remove(receiver)
        except ValueError:
            return
        if _receivers:
            return
        # Restore only what is still ours: a hook installed on top of ours chains to us,
        # and replacing it would cut its owner out. Ours then merely passes through.
        if _sys_installed and sys.excepthook is _sys_hook:
            sys.excepthook = _previous_sys or sys.__excepthook__
            _sys_installed = False
        if _thread_installed and threading.excepthook is _thread_hook:
            threading.excepthook = _previous_thread or threading.__excepthook__
            _thread_installed = False


def installed() -> Dict[str, bool]:
    """Whether our hooks are in place, and how many receivers they serve (for tests)."""
    return {
        "sys": sys.excepthook is _sys_hook,
        "thread": threading.excepthook is _thread_hook,
        "receivers": bool(_receivers),
    }


def _deliver(exc_info: ExcInfo, how: str) -> None:
    for receiver in list(_receivers):
        try:
            receiver(exc_info, how)
        except Exception:
            logger.exception("internal error reporting an uncaught exception")


def _sys_hook(
    exc_type: Type[BaseException],
    value: BaseException,
    tb: Optional[types.TracebackType],
) -> None:
    try:
        if value is not None:
            _deliver((exc_type, value, tb), "sys")
    finally:
        (_previous_sys or sys.__excepthook__)(exc_type, value, tb)


def _thread_hook(args: Any) -> None:
    try:
        value = args.exc_value
        if value is not None and not isinstance(value, SystemExit):
            _deliver((args.exc_type, value, args.exc_traceback), "thread")
    finally:
        (_previous_thread or threading.__excepthook__)(args)


def _new_lock_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # a lock held at fork() by another thread stays held


after_fork_in_child(_new_lock_in_child)
