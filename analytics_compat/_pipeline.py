"""The processor pipeline: what happens to a message between building it and queueing it.

Owns ``Stage`` (one processor with the name it is counted under), ``Hint`` (what a
call asked for beyond the message itself, such as ``send_feature_flags``) and
``Pipeline``: the stages compiled once, at ``init``, into two tuples: ``plain`` for
calls without a hint (empty today, so a plain ``track()`` pays one truth test) and
``hinted`` for calls that carry one. Stages run in the order given, on the caller's
thread (a ``contextvars`` context is only visible there), and must neither block on
the network nor raise.

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
from typing import Any, Callable, Optional, Sequence, Tuple

from ._events import Message
from .errors import EventDroppedError

__all__ = ["Hint", "Pipeline", "Stage"]

logger = logging.getLogger("analytics_compat")


class Hint:
    """What a call asked for beyond the message: read by the stages that need it."""

    __slots__ = ("feature_flags",)

    def __init__(self, *, feature_flags: Optional[dict[str, Any]] = None) -> None:
        # Keyword arguments for the flags service's every-flag call, or None: no flags.
        self.feature_flags = feature_flags


Processor = Callable[[Message, Optional[Hint]], Optional[Message]]


class Stage:
    """One processor: ``run(message, hint)`` returns the message or None (drop it)."""

    __slots__ = ("fails_closed", "name", "needs_hint", "run")

    def __init__(
        self, name: str, run: Processor, *, needs_hint: bool = False, fails_closed: bool = False
    ) -> None:
        self.name = name  # the reason a drop is counted and reported under
        self.run = run
        self.needs_hint = needs_hint  # only calls that carry a Hint pass through it
        self.fails_closed = fails_closed  # drop the message if the stage raises

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"


class Pipeline:
    """Stages compiled at init; ``run`` is called only when the chosen tuple is non-empty."""

    __slots__ = ("dropped", "hinted", "plain")

    def __init__(self, stages: Sequence[Stage] = ()) -> None:
        self.plain: Tuple[Stage, ...] = tuple(s for s in stages if not s.needs_hint)
        self.hinted: Tuple[Stage, ...] = tuple(stages)
        self.dropped: collections.Counter[str] = collections.Counter()

    def run(
        self, stages: Tuple[Stage, ...], message: Message, hint: Optional[Hint]
    ) -> Optional[Message]:
        """The message after every stage, or None once a stage dropped it (then settled)."""
        for stage in stages:
            try:
                kept = stage.run(message, hint)
            except Exception:
                logger.exception("analytics-compat: internal error in the %s stage", stage.name)
                if not stage.fails_closed:
                    continue
                kept = None
            if kept is None:
                self.dropped[stage.name] += 1
                message._settle(EventDroppedError(f"dropped by {stage.name}", reason=stage.name))
                return None
        return message
