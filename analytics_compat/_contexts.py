"""Context data: the tags, distinct id and session of the code running now.

Owns one ``ContextVar`` holding the current ``Scope`` (or None outside any context)
and the ``Scope`` itself. A ``contextvars`` variable is per thread and per asyncio
task (a task starts with a copy of its creator's), so concurrent requests never see
each other's scope. Scopes are immutable: setting a tag makes a new scope and makes
it current, so a task that tags never changes the scope its creator or its sibling
tasks see. Each scope holds its values already resolved against its parent (unless
``fresh``), so reading them when an event is captured is three attribute loads.

A forked child starts outside any context, as in posthog-python: scopes made before
the fork are not current there, even inside a ``with`` block that spans it.

Holds data only: entering and leaving contexts, and what events get from them, are
``_context_calls``. Knows nothing about clients, events or the pipeline.
"""

from __future__ import annotations

import contextvars
from typing import Any, Dict, Optional

from ._lifecycle import ForkPhase, after_fork_in_child

__all__ = ["GENERATION", "Scope", "current", "current_or_stale", "enter", "leave", "replace"]

_SCALARS = (str, int, float, bool, type(None))  # immutable: shared by events as they are
GENERATION = 0  # bumped in a forked child: scopes of an older generation are not current


class Scope:
    """One context: its own settings, and its values resolved against its parent."""

    __slots__ = (
        "capture_exceptions",
        "client",
        "distinct_id",
        "fresh",
        "generation",
        "parent",
        "scalar_tags",
        "session_id",
        "tags",
    )

    def __init__(
        self,
        parent: Optional[Scope],
        *,
        fresh: bool = False,
        capture_exceptions: bool = False,
        client: Any = None,
    ) -> None:
        inherit = parent is not None and not fresh
        self.parent = parent
        self.fresh = fresh
        self.capture_exceptions = capture_exceptions
        self.client = client  # where an exception escaping this context is captured
        self.generation = GENERATION
        # Resolved: a child reads its parent's values unless it sets its own.
        self.tags: Dict[str, Any] = dict(parent.tags) if inherit and parent else {}
        self.scalar_tags: bool = parent.scalar_tags if inherit and parent else True
        self.distinct_id: Optional[str] = parent.distinct_id if inherit and parent else None
        self.session_id: Optional[str] = parent.session_id if inherit and parent else None

    def _copy(self) -> Scope:
        other = Scope.__new__(Scope)
        for name in Scope.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def with_tag(self, key: str, value: Any) -> Scope:
        other = self._copy()
        other.tags = {**self.tags, key: value}
        other.scalar_tags = self.scalar_tags and isinstance(value, _SCALARS)
        return other

    def with_distinct_id(self, distinct_id: str) -> Scope:
        other = self._copy()
        other.distinct_id = distinct_id
        return other

    def with_session_id(self, session_id: str) -> Scope:
        other = self._copy()
        other.session_id = session_id
        return other

    def __repr__(self) -> str:
        return f"<Scope tags={sorted(self.tags)} fresh={self.fresh}>"


_CURRENT: contextvars.ContextVar[Optional[Scope]] = contextvars.ContextVar(
    "analytics_compat_context", default=None
)


# The pipeline's hot path: the raw value, one C call; a non-None scope must then be
# checked against ``GENERATION`` (a scope made before a fork is not current).
current_or_stale = _CURRENT.get


def current() -> Optional[Scope]:
    """The scope of the running code, or None outside any context."""
    scope = _CURRENT.get()
    if scope is not None and scope.generation != GENERATION:
        return None
    return scope


def enter(scope: Scope) -> contextvars.Token[Optional[Scope]]:
    """Make ``scope`` current; ``leave`` with the token restores what was current before."""
    return _CURRENT.set(scope)


def replace(scope: Scope) -> None:
    """Make a changed copy of the current scope current, in this thread or task only."""
    _CURRENT.set(scope)


def leave(token: contextvars.Token[Optional[Scope]], parent: Optional[Scope]) -> None:
    try:
        _CURRENT.reset(token)
    except ValueError:  # left in another context than it was entered in (a moved task)
        _CURRENT.set(parent)


def _forget_after_fork() -> None:
    global GENERATION
    GENERATION += 1


after_fork_in_child(_forget_after_fork, ForkPhase.STATE)
