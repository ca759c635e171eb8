"""Error tracking, one client's part: ``$exception`` events and uncaught-exception capture.

Owns ``ErrorTracker``: ``capture`` turns an exception into a ``$exception`` message
as posthog-python 7.x builds it (``$exception_list`` from ``_exceptions``,
``$exception_level``, ``$exception_source`` for what the SDK caught itself, the
caller's properties on top), hands it to the client's submit function, and marks
the exception so this client never sends it twice (an exception escaping nested
contexts, then reaching ``sys.excepthook``, is one event). It never raises: what
cannot be captured (nothing to capture, already captured, bad arguments, a closed
client, a bug here) is logged and returned as an already-failed promise.

With ``enable_exception_autocapture`` the tracker registers with ``_excepthooks``
at ``start`` and unregisters at ``close``: an uncaught exception in the main thread
is ``fatal``, in another thread ``error``; both ``handled: false``.

A message without a distinct id keeps ``distinct_id=None`` and is submitted with a
``Hint``: the pipeline's context stage gives it the context's distinct id, else the
personless stage (run for hinted calls only) a random one. Knows nothing
about queues, HTTP or the rest of the call surface.
"""

from __future__ import annotations

import logging
import sys
import uuid as _uuid
from typing import Any, Callable, Dict, Mapping, Optional, TypedDict, cast

import attrs

from . import _code_variables, _excepthooks
from ._config import ExceptionsConfig
from ._events import Message, check_distinct_id, check_uuid, parse_timestamp
from ._exceptions import (
    ExcInfo,
    InAppRule,
    already_captured,
    exception_list,
    mark_captured,
    resolve_exc_info,
)
from ._jsonsafe import json_safe_mapping
from ._pipeline import Hint
from ._promise import MessagePromise, PromiseState
from .errors import AnalyticsError, EventDroppedError, ValidationError

__all__ = ["EXCEPTION_EVENT", "ErrorTracker", "ExceptionOptions"]

logger = logging.getLogger("analytics_compat")

EXCEPTION_EVENT = "$exception"
# A message without a distinct id travels with a hint, so it passes the stages that
# only hinted calls pay for (the personless one) and a plain track() does not.
_WITHOUT_ID = Hint()
Submit = Callable[[Message, Optional[Hint]], Message]

# How the SDK's own catches describe themselves (posthog-python's metadata).
UNCAUGHT: Dict[str, Dict[str, Any]] = {
    "sys": {
        "level": "fatal",
        "source": "python.sys_excepthook",
        "mechanism": {"type": "onuncaughtexception", "handled": False},
    },
    "thread": {
        "level": "error",
        "source": "python.threading_excepthook",
        "mechanism": {"type": "onuncaughtexception", "handled": False},
    },
}
_LEVELS = {
    "fatal": "fatal", "critical": "fatal", "alert": "fatal", "emergency": "fatal",
    "error": "error", "warning": "warning", "warn": "warning", "log": "log",
    "notice": "info", "info": "info", "trace": "debug", "debug": "debug",
}  # fmt: skip


class ErrorTracker:
    """Builds and submits ``$exception`` events for one client."""

    def __init__(self, submit: Submit) -> None:
        self._submit = submit
        self.config = ExceptionsConfig()
        self.key = _uuid.uuid4().hex  # what this client's marks on an exception say
        self._registered = False

    @property
    def autocapture(self) -> bool:
        return self.config.enable_exception_autocapture

    def start(self, config: ExceptionsConfig) -> None:
        self.config = config
        if config.enable_exception_autocapture and not self._registered:
            _excepthooks.register(self._uncaught)
            self._registered = True

    def close(self) -> None:
        if self._registered:
            _excepthooks.unregister(self._uncaught)
            self._registered = False

    def capture(
        self,
        exception: Any = None,
        metadata: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> MessagePromise:
        """Submit a ``$exception`` for ``exception`` (default: the one being handled).

        ``kwargs`` are ``ExceptionOptions``; any other keyword is ignored with a
        warning rather than raised (this is called from ``except`` blocks).
        """
        try:
            options = _options(kwargs)
            groups = options.get("groups")
            resolved = resolve_exc_info(exception)
            if resolved is None:
                logger.warning("capture_exception found no exception")
                return _refused("no exception to capture", "no_exception")
            exc_info, synthetic = resolved
            value = exc_info[1]
            if already_captured(value, self.key):
                logger.debug("exception already captured; not sent again")
                return _refused("this exception was already captured", "already_captured")
            message = self._build(exc_info, synthetic, options, metadata)
            if self.config.log_captured_exceptions:
                logger.error("captured an exception", exc_info=exc_info)
            if options.get("send_feature_flags"):
                hint: Optional[Hint] = Hint(feature_flags={"groups": groups})
            else:
                hint = _WITHOUT_ID if message.distinct_id is None else None
            promise = self._submit(message, hint)
        except ValidationError as exc:
            logger.warning("capture_exception: %s", exc)
            return _refused(f"capture_exception: {exc}", "invalid")
        except AnalyticsError as exc:  # not initialized, or shut down
            logger.warning("capture_exception: %s", exc)
            return _refused(f"capture_exception: {exc}", "client_closed")
        except Exception:
            logger.exception("internal error in capture_exception")
            return _refused("capture_exception failed", "internal_error")
        if promise.state is not PromiseState.FAILED:  # a stage did not drop it
            mark_captured(value, self.key)
        return promise

    def _build(
        self,
        exc_info: ExcInfo,
        synthetic: bool,
        options: ExceptionOptions,
        metadata: Optional[Mapping[str, Any]],
    ) -> Message:
        config = self.config
        distinct_id, properties = options.get("distinct_id"), options.get("properties")
        groups = options.get("groups")
        # posthog-python reads an empty id as none given: the context's, or personless.
        did = None if distinct_id in (None, "") else check_distinct_id(distinct_id, "distinct_id")
        extra = {} if properties is None else json_safe_mapping(properties, "properties")
        rule = InAppRule(project_root=config.project_root, modules=config.in_app_modules)
        if config.capture_exception_code_variables:
            rule = attrs.evolve(
                rule,
                variables=_code_variables.collector(
                    config.code_variables_mask_patterns, config.code_variables_ignore_patterns
                ),
            )
        metadata = metadata or {}
        mechanism = metadata.get("mechanism")
        props: Dict[str, Any] = _trace_properties()
        props["$exception_list"] = exception_list(
            exc_info,
            rule,
            mechanism=dict(mechanism) if isinstance(mechanism, Mapping) else None,
            synthetic=synthetic,
        )
        level = metadata.get("level")
        props["$exception_level"] = _LEVELS.get(str(level).lower(), "error")
        if metadata.get("source"):
            props["$exception_source"] = str(metadata["source"])
        props.update(extra)  # posthog-python lets the caller's properties win
        if groups is not None:
            props["$groups"] = json_safe_mapping(groups, "groups")
        when = parse_timestamp(options.get("timestamp"))
        return Message(EXCEPTION_EVENT, did, props, when, check_uuid(options.get("uuid")))

    def _uncaught(self, exc_info: ExcInfo, how: str) -> None:
        """From ``_excepthooks``: an exception nothing caught."""
        self.capture(exc_info, metadata=UNCAUGHT[how])


class ExceptionOptions(TypedDict, total=False):
    """``capture_exception``'s keywords, as posthog-python names them."""

    distinct_id: Any
    properties: Optional[Mapping[str, Any]]
    timestamp: Any
    uuid: Any
    groups: Optional[Mapping[str, Any]]
    send_feature_flags: bool


_KNOWN = frozenset(ExceptionOptions.__annotations__)


def _options(kwargs: Dict[str, Any]) -> ExceptionOptions:
    unknown = sorted(set(kwargs) - _KNOWN)
    if unknown:
        logger.warning("capture_exception ignores %s", ", ".join(unknown))
    return cast(ExceptionOptions, {k: v for k, v in kwargs.items() if k in _KNOWN})


def _refused(text: str, reason: str) -> MessagePromise:
    promise = MessagePromise()
    promise._settle(EventDroppedError(text, reason=reason))
    return promise


def _trace_properties() -> Dict[str, Any]:
    """``$trace_id`` / ``$span_id`` of the active OpenTelemetry span, as posthog-python
    adds them; only when the application already imported OpenTelemetry."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return {}
    try:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return {}
        return {"$trace_id": f"{context.trace_id:032x}", "$span_id": f"{context.span_id:016x}"}
    except Exception:
        return {}
