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
from typing import Callable, List, Tuple

__all__ = ["ForkPhase", "after_fork_in_child", "at_exit"]

logger = logging.getLogger("analytics_compat")

Hook = Callable[[], None]


class ForkPhase(enum.IntEnum):
    """When a hook runs in a forked child; lower phases first."""

    LOCKS = 0  # replace locks that may have been held by a thread that does not exist here
    STATE = 1  # per-process state: random seeds, queues, sessions
    THREADS = 2  # restart worker and poller threads


_fork_hooks: List[Tuple[ForkPhase, int, Hook]] = []
_exit_hooks: List[Hook] = []
_last_exit_hooks: List[Hook] = []


def after_fork_in_child(hook: Hook, phase: ForkPhase = ForkPhase.LOCKS) -> Hook:
    """Run ``hook()`` in every forked child, in ``phase``; returns the hook."""
    _fork_hooks.append((phase, len(_fork_hooks), hook))
    _fork_hooks.sort(key=lambda entry: (entry[0], entry[1]))
    return hook


def at_exit(hook: Hook, *, last: bool = False) -> Hook:
    """Run ``hook()`` once at interpreter exit (after every other hook if ``last``)."""
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
    _run([*_exit_hooks, *_last_exit_hooks], "at exit")


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
