"""The processor pipeline: what happens to a message between building it and queueing it.

Owns ``Stage`` (one processor with the name it is counted under), ``Hint`` (what a
call asked for beyond the message itself, such as ``send_feature_flags`` or the
values of a ``flags=`` snapshot) and ``Pipeline``: the stages compiled at ``init``
into two tuples: ``plain`` for calls without a hint (empty unless a feature is in
use, so a plain ``track()`` pays one truth test) and ``hinted`` for calls that carry
one. A stage may be *dormant* until
the feature it serves is first used in the process (``wake``): the tuples are then
rebuilt and swapped, copy-on-write, under a lock, and read without one. Stages run
in the order given, on the caller's thread (a ``contextvars`` context is only
visible there), and must neither block on the network nor raise. The order itself
is ``_stages``.

A stage returns the message (changed in place) or None. None drops it: its promise
fails with ``EventDroppedError`` naming the stage, and the drop is counted by reason
(sentry-python's "lost events by reason"). A stage that raises is a bug; it is
logged, and the message goes on unchanged, or is dropped if the stage says it
fails closed (a scrubber that crashed must not let through what it should remove).

Knows nothing about queues, HTTP or the call surface.
"""

from __future__ import annotations

import collections
import logging
import threading
import weakref
from typing import Any, Callable, Optional, Sequence, Set, Tuple

from ._events import Message
from ._lifecycle import after_fork_in_child
from .errors import EventDroppedError

__all__ = ["Hint", "Pipeline", "Stage"]

logger = logging.getLogger("analytics_compat")


class Hint:
    """What a call asked for beyond the message: read by the stages that need it."""

    __slots__ = ("feature_flags", "flag_properties")

    def __init__(
        self,
        *,
        feature_flags: Optional[dict[str, Any]] = None,
        flag_properties: Optional[dict[str, Any]] = None,
    ) -> None:
        # What to evaluate for send_feature_flags (the feature_flags stage), or None.
        self.feature_flags = feature_flags
        # $feature/* from a flags= snapshot, added as they are (no evaluation), or None.
        self.flag_properties = flag_properties


Processor = Callable[[Message, Optional[Hint]], Optional[Message]]


class Stage:
    """One processor: ``run(message, hint)`` returns the message or None (drop it)."""

    __slots__ = ("dormant", "fails_closed", "name", "needs_hint", "run")

    def __init__(
        self,
        name: str,
        run: Processor,
        *,
        needs_hint: bool = False,
        fails_closed: bool = False,
        dormant: bool = False,
    ) -> None:
        self.name = name  # the reason a drop is counted and reported under
        self.run = run
        self.needs_hint = needs_hint  # only calls that carry a Hint pass through it
        self.fails_closed = fails_closed  # drop the message if the stage raises
        self.dormant = dormant  # left out until ``wake(name)``: costs nothing until used

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"


_PIPELINES: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_AWAKE: Set[str] = set()  # dormant stages woken in this process (for pipelines built later)
_LOCK = threading.Lock()


def wake(name: str) -> None:
    """Bring the dormant stage ``name`` into every pipeline of the process, now and later.

    Called by a feature the first time it is used (a context entered, a tag set): until
    then its stage costs the hot path nothing.
    """
    if name in _AWAKE:
        return
    with _LOCK:
        _AWAKE.add(name)
        for pipeline in list(_PIPELINES):
            pipeline._compile()


class Pipeline:
    """Stages compiled at init; ``run`` is called only when the chosen tuple is non-empty."""

    __slots__ = ("__weakref__", "_off", "_stages", "dropped", "hinted", "plain")

    def __init__(self, stages: Sequence[Stage] = (), *, off: Sequence[str] = ()) -> None:
        self._stages = tuple(stages)
        self._off = set(off)  # stages of this pipeline switched off (nothing to do yet)
        self.dropped: collections.Counter[str] = collections.Counter()
        with _LOCK:
            self._compile()
            _PIPELINES.add(self)

    def switch(self, name: str, on: bool) -> None:
        """Put the stage ``name`` of this pipeline in (``on``) or take it out."""
        with _LOCK:
            if on:
                self._off.discard(name)
            else:
                self._off.add(name)
            self._compile()

    def _compile(self) -> None:
        """Rebuild both tuples (under ``_LOCK``); readers see the old or the new one."""
        live = tuple(
            s
            for s in self._stages
            if s.name not in self._off and (not s.dormant or s.name in _AWAKE)
        )
        self.hinted: Tuple[Stage, ...] = live
        self.plain: Tuple[Stage, ...] = tuple(s for s in live if not s.needs_hint)

    def run(
        self, stages: Tuple[Stage, ...], message: Message, hint: Optional[Hint]
    ) -> Optional[Message]:
        """The message after every stage, or None once a stage dropped it (then settled)."""
        for stage in stages:
            try:
                kept = stage.run(message, hint)
            except Exception:
                logger.exception("internal error in the %s stage", stage.name)
                if not stage.fails_closed:
                    continue
                kept = None
            if kept is None:
                self.dropped[stage.name] += 1
                message._settle(EventDroppedError(f"dropped by {stage.name}", reason=stage.name))
                return None
        return message


def _new_lock_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # a lock held at fork() stays held in the child


after_fork_in_child(_new_lock_in_child)
