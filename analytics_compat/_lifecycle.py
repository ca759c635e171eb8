"""One registry for what must happen in a forked child and at interpreter exit.

Owns the only calls to ``os.register_at_fork`` and ``atexit.register`` in the package.
Modules hand their hooks to ``after_fork_in_child`` with a ``ForkPhase``; the child
runs them phase by phase, so a lock some other thread held at ``fork()`` is renewed
(``LOCKS``) before per-process state is reset (``STATE``) and before threads are
restarted (``THREADS``), whatever order the modules were imported in. ``at_exit``
hooks run once, in registration order, those marked ``last`` (reports of what the
others did) after the rest. A hook's exception is logged, never
propagated: the child and the exiting interpreter must carry on.

Knows nothing about what the hooks do.
"""

from __future__ import annotations

import atexit
import enum
import logging
import os
import threading
import weakref
from typing import Callable, List, Tuple

__all__ = ["ForkPhase", "ForkSafeLock", "after_fork_in_child", "at_exit"]

logger = logging.getLogger("analytics_compat")

Hook = Callable[[], None]


class ForkPhase(enum.IntEnum):
    """When a hook runs in a forked child; lower phases first."""

    LOCKS = 0  # replace locks that may have been held by a thread that does not exist here
    STATE = 1  # per-process state: random seeds, queues, sessions
    THREADS = 2  # restart worker and poller threads


_fork_hooks: List[Tuple[ForkPhase, int, Hook]] = []
_exit_hooks: List[Hook] = []
_early_hooks: List[Hook] = []
_last_exit_hooks: List[Hook] = []


def after_fork_in_child(hook: Hook, phase: ForkPhase = ForkPhase.LOCKS) -> Hook:
    """Run ``hook()`` in every forked child, in ``phase``; returns the hook."""
    _fork_hooks.append((phase, len(_fork_hooks), hook))
    _fork_hooks.sort(key=lambda entry: (entry[0], entry[1]))
    return hook


class ForkSafeLock:
    """A lock that a forked child gets back unlocked: the thread that may have held it
    at ``fork()`` does not exist there. For locks off the hot path (a Python-level
    ``with`` costs more than a bare ``threading.Lock``)."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _FORK_SAFE.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


_FORK_SAFE: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()


def _renew_fork_safe_locks() -> None:
    for lock in list(_FORK_SAFE):
        lock._lock = threading.Lock()


def at_exit(hook: Hook, *, before_threads_join: bool = False, last: bool = False) -> Hook:
    """Run ``hook()`` once at interpreter exit; returns the hook.

    ``last``: run it after every other exit hook (a report of what they did).

    ``before_threads_join``: run it when the interpreter starts to exit, before it waits
    for non-daemon threads (``atexit`` hooks run only after they have all ended), so
    work those threads are blocked on can be cut short. Where the interpreter offers no
    such moment, it runs with the other exit hooks.
    """
    if before_threads_join:
        _early_hooks.append(hook)
    else:
        (_last_exit_hooks if last else _exit_hooks).append(hook)
    return hook


def _run(hooks: List[Hook], when: str) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception("a hook %s failed", when)


def _in_child() -> None:
    _run([hook for _, _, hook in _fork_hooks], "after fork")


def _at_exit() -> None:
    _run(list(_early_hooks), "at exit")  # if the early moment never came, they run here
    _early_hooks.clear()
    _run([*_exit_hooks, *_last_exit_hooks], "at exit")


def _before_threads_join() -> None:
    hooks = list(_early_hooks)
    _early_hooks.clear()
    _run(hooks, "at exit")


after_fork_in_child(_renew_fork_safe_locks, ForkPhase.LOCKS)
atexit.register(_at_exit)
_register_early = getattr(threading, "_register_atexit", None)  # CPython 3.9+
if _register_early is not None:
    _register_early(_before_threads_join)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
