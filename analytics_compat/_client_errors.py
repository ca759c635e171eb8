"""The error-tracking and context calls of ``Client``, with posthog-python's names.

Owns one facet of the call surface and no state: ``capture_exception`` hands the
exception to the client's error tracker (``_error_tracking``), and the context
calls bind ``_context_calls`` to this client, as posthog-python's methods do.
``Client`` inherits these methods; nothing here keeps anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _context_calls
from ._error_tracking import ErrorTracker
from ._promise import MessagePromise

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._error_tracking import ExceptionOptions

__all__ = ["ErrorCalls"]


class ErrorCalls:
    """posthog-python's ``capture_exception`` and context methods, delegated."""

    _errors: ErrorTracker

    @property
    def enable_exception_autocapture(self) -> bool:
        """True if this client captures uncaught exceptions (and, by default, those
        escaping its contexts)."""
        return self._errors.autocapture

    def capture_exception(
        self, exception: Any = None, **kwargs: Unpack[ExceptionOptions]
    ) -> MessagePromise:
        """Send ``exception`` (default: the one being handled) as a ``$exception`` event.

        Keywords as posthog-python's: ``distinct_id`` (default: the context's, else the
        event is personless), ``properties``, ``timestamp``, ``uuid``, ``groups``,
        ``send_feature_flags``. Never raises: when nothing is sent the returned promise
        has already failed with ``EventDroppedError`` and the reason is logged.
        """
        return self._errors.capture(exception, **kwargs)

    def captureException(  # posthog-node's name and argument order
        self,
        error: Any = None,
        distinctId: Any = None,
        additionalProperties: Optional[Mapping[str, Any]] = None,
    ) -> MessagePromise:
        """posthog-node's ``captureException(error, distinctId?, additionalProperties?)``."""
        return self._errors.capture(error, distinct_id=distinctId, properties=additionalProperties)

    def _capture_exception_with(
        self, exception: BaseException, metadata: Mapping[str, Any]
    ) -> MessagePromise:
        """For integrations: capture with how it was caught (level, source, mechanism)."""
        return self._errors.capture(exception, metadata=metadata)

    def new_context(
        self, fresh: bool = False, capture_exceptions: Optional[bool] = None
    ) -> _context_calls.new_context:
        """A context whose escaping exceptions this client captures (see ``new_context``)."""
        return _context_calls.new_context(fresh, capture_exceptions, self)

    def scoped(
        self, fresh: bool = False, capture_exceptions: Optional[bool] = None
    ) -> Callable[[Any], Any]:
        """A decorator running each call in a new context of this client."""
        return _context_calls.scoped(fresh, capture_exceptions, self)

    tag = staticmethod(_context_calls.tag)
    get_tags = staticmethod(_context_calls.get_tags)
    identify_context = staticmethod(_context_calls.identify_context)
    set_context_session = staticmethod(_context_calls.set_context_session)
