"""Contexts as posthog-python's API has them, and the pipeline stage that reads them.

Owns ``new_context`` (a context manager), ``scoped`` (its decorator form, for sync
and async functions), ``tag``, ``identify_context``, ``set_context_session``,
``get_tags`` and the getters, all acting on the current ``_contexts`` scope (outside
any context the setters do nothing and ``get_tags()`` is empty, as in
posthog-python); and ``context_stage``: what a captured event gets from the context
it was captured in:

- the tags as properties (the call's own properties win) and ``$context_tags``, the
  list of their names; ``$create_alias`` and ``$groupidentify`` get no tags;
- ``$session_id`` when the context has a session and the event has none;
- the context's distinct id when the call gave none (``distinct_id`` is None: only
  the call shapes whose distinct id is optional build such a message; the
  ``personless`` stage after this one gives the rest a random id).

The stage is dormant until the process first enters a context (``_pipeline.wake``),
so a process that never uses contexts pays nothing for them. The ``personless``
stage (``_enrich``) comes after it: what still has no distinct id becomes a
personless event.

An exception escaping a context with ``capture_exceptions`` is captured by the
context's client (the default client when none was given) while the context is
still current, so it carries the tags, then re-raised; nested contexts capture it
once (the client marks what it captured). Knows nothing about queues or HTTP.
"""

from __future__ import annotations

import functools
import inspect
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Protocol, Type, TypeVar, cast

from . import _contexts
from ._events import Message
from ._jsonsafe import json_safe
from ._pipeline import Hint, Stage, wake
from .errors import ValidationError

__all__ = [
    "ContextClient",
    "context_stage",
    "get_context_distinct_id",
    "get_context_session_id",
    "get_tags",
    "identify_context",
    "new_context",
    "scoped",
    "set_context_session",
    "tag",
    "use_default_client",
]

STAGE = "context"
_scope_or_stale = _contexts.current_or_stale
_NO_TAGS = frozenset(("$create_alias", "$groupidentify"))  # posthog-python: session only
_SCALARS = (str, int, float, bool, type(None))
F = TypeVar("F", bound=Callable[..., Any])


class ContextClient(Protocol):
    """What a context needs of a client: whether it autocaptures, and a way to capture."""

    @property
    def enable_exception_autocapture(self) -> bool: ...

    def capture_exception(self, exception: Any = None) -> Any: ...


_default_client: Optional[Callable[[], ContextClient]] = None
_awake = False


def use_default_client(provider: Callable[[], ContextClient]) -> None:
    """Set where contexts opened without a client capture (the module-level client)."""
    global _default_client
    _default_client = provider


class new_context:  # posthog-python's name: a context manager spelled as a function
    """``with new_context(fresh=False, capture_exceptions=None, client=None): ...``

    Tags, the distinct id and the session set inside apply to every event captured
    inside, on any client. ``fresh=True`` starts empty instead of inheriting the
    enclosing context. ``capture_exceptions=None`` follows the client's
    ``enable_exception_autocapture``.
    """

    __slots__ = ("_capture_exceptions", "_client", "_fresh", "_parent", "_token")

    def __init__(
        self,
        fresh: bool = False,
        capture_exceptions: Optional[bool] = None,
        client: Optional[ContextClient] = None,
    ) -> None:
        self._fresh = fresh
        self._capture_exceptions = capture_exceptions
        self._client = client

    def __enter__(self) -> None:
        if not _awake:
            _wake()
        client = self._client
        if client is None and _default_client is not None:
            client = _default_client()
        capture = self._capture_exceptions
        if capture is None:
            capture = bool(client is not None and client.enable_exception_autocapture)
        parent = _contexts.current()
        self._parent = parent
        scope = _contexts.Scope(
            parent, fresh=self._fresh, capture_exceptions=capture, client=client
        )
        self._token = _contexts.enter(scope)

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        try:
            scope = _contexts.current()
            # Exception, not BaseException: cancellation, KeyboardInterrupt and
            # SystemExit are not errors to track (posthog-python draws the same line).
            if isinstance(exc, Exception) and scope is not None and scope.capture_exceptions:
                client = scope.client
                if client is not None:
                    client.capture_exception(exc)  # never raises
        finally:
            _contexts.leave(self._token, self._parent)

    def __call__(self, func: F) -> F:
        """Also a decorator: ``@new_context(...)`` is ``@scoped(...)``."""
        return _wrap(func, self._fresh, self._capture_exceptions, self._client)


def scoped(
    fresh: bool = False,
    capture_exceptions: Optional[bool] = None,
    client: Optional[ContextClient] = None,
) -> Callable[[F], F]:
    """Run each call of the decorated function (sync or ``async``) in a new context."""

    def decorate(func: F) -> F:
        return _wrap(func, fresh, capture_exceptions, client)

    return decorate


def _wrap(func: F, fresh: bool, capture: Optional[bool], client: Optional[ContextClient]) -> F:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with new_context(fresh, capture, client):
                return await func(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with new_context(fresh, capture, client):
            return func(*args, **kwargs)

    return cast(F, run)


def tag(key: str, value: Any) -> None:
    """Add a tag to the current context (a no-op outside one). Raises ``ValidationError``
    for a key that is not a non-empty string or a value JSON cannot carry."""
    if not isinstance(key, str) or not key:
        raise ValidationError("a tag key must be a non-empty string", field="key")
    safe = json_safe(value, key)
    scope = _contexts.current()
    if scope is not None:
        _contexts.replace(scope.with_tag(key, safe))


def identify_context(distinct_id: str) -> None:
    """Events captured in this context (and its children) without a distinct id get
    this one. No event is sent. A no-op outside a context."""
    if not isinstance(distinct_id, str) or not distinct_id:
        raise ValidationError("distinct_id must be a non-empty string", field="distinct_id")
    scope = _contexts.current()
    if scope is not None:
        _contexts.replace(scope.with_distinct_id(distinct_id))


def set_context_session(session_id: str) -> None:
    """Events captured in this context (and its children) get ``$session_id``."""
    if not isinstance(session_id, str) or not session_id:
        raise ValidationError("session_id must be a non-empty string", field="session_id")
    scope = _contexts.current()
    if scope is not None:
        _contexts.replace(scope.with_session_id(session_id))


def get_tags() -> Dict[str, Any]:
    """A copy of the current context's tags (its parents' included unless fresh)."""
    scope = _contexts.current()
    return {} if scope is None else dict(scope.tags)


def get_context_distinct_id() -> Optional[str]:
    scope = _contexts.current()
    return None if scope is None else scope.distinct_id


def get_context_session_id() -> Optional[str]:
    scope = _contexts.current()
    return None if scope is None else scope.session_id


def _wake() -> None:
    global _awake
    wake(STAGE)
    _awake = True


def _apply(message: Message, hint: Optional[Hint]) -> Message:
    scope = _scope_or_stale()
    if scope is None or scope.generation != _contexts.GENERATION:
        return message
    props = message.properties
    if message.event not in _NO_TAGS:
        tags = scope.tags
        if tags:
            if scope.scalar_tags:
                merged = {**tags, **props}  # the call's own properties win
            else:
                # Containers are copied, so a later stage (before_send) changing this
                # event cannot change the context's tag.
                merged = {k: v if type(v) in _SCALARS else json_safe(v, k) for k, v in tags.items()}
                merged.update(props)
            message.properties = props = merged
        props.setdefault("$context_tags", list(tags))
    if scope.session_id is not None and "$session_id" not in props:
        props["$session_id"] = scope.session_id
    if message.distinct_id is None:
        message.distinct_id = scope.distinct_id
    return message


def context_stage() -> Stage:
    """The stage; dormant until the first context is entered in this process."""
    return Stage(STAGE, _apply, dormant=True)
