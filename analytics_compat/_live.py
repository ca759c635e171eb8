"""The process's running batchers: drained together at interpreter exit, restarted in a
forked child.

A batcher joins ``LIVE`` when its worker starts and leaves when its shutdown begins, so
the exit hook drains exactly the clients nobody shut down (in parallel, each within its
own ``shutdown_timeout``) and a child restarts exactly the ones that were running. The
hooks are registered once, here, through ``_lifecycle``.
"""

from __future__ import annotations

import logging
import weakref
from typing import Optional, Protocol

from ._lifecycle import ForkPhase, after_fork_in_child, at_exit

__all__ = ["LIVE"]

logger = logging.getLogger(__name__)


class Running(Protocol):
    def begin_shutdown(self, timeout: Optional[float]) -> None: ...

    def join(self) -> bool: ...

    def _after_fork_in_child(self) -> None: ...


LIVE: weakref.WeakSet[Running] = weakref.WeakSet()


def _drain_all_at_exit() -> None:
    """Drain every client nobody shut down, in parallel, each within its shutdown_timeout."""
    batchers = list(LIVE)
    for batcher in batchers:
        batcher.begin_shutdown(None)
    for batcher in batchers:
        try:
            batcher.join()
        except Exception:
            logger.exception("draining a client at exit failed")


def _restart_in_child() -> None:
    for batcher in list(LIVE):
        batcher._after_fork_in_child()


at_exit(_drain_all_at_exit)
after_fork_in_child(_restart_in_child, ForkPhase.THREADS)
