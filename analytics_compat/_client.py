"""Client: the analytics-node calls and the PostHog calls, on one object made of parts.

Owns the call surface and nothing behind it. A ``Client`` holds its parts and
delegates to them:

- its emitter (``_emitter``): the ``initialize`` / ``flush`` / ``error`` events (the
  listener calls, and what triggers read, are the ``EventCalls`` facet);
- its engine (``_engine``): submit, flush, shutdown, statistics. Before ``init`` it
  is the not-initialized engine, after ``shutdown`` a closed one, so a call on a
  client in the wrong state raises the right error without any check here;
- its flags service (``_flags``; the flag calls are the ``FlagCalls`` facet) and its
  super properties (``_supers``);
- its error tracker (``_errors``; its calls, and the contexts', are the
  ``ErrorCalls`` facet): ``$exception`` events and uncaught-exception capture;
- ``api`` (``_rest``): PostHog's app REST API, synchronous, with the personal API key.

Each message call parses its arguments, builds one ``Message`` (analytics-node's and
segment-python's shapes are ``_legacy`` and ``_segment``, PostHog's ``_posthog``; page
and screen are the ``SegmentCalls`` facet) and submits it; the ``Message`` is also the
``MessagePromise`` returned. The ``*_immediate`` twins send on the caller's thread
before returning (posthog-node's ``captureImmediate`` & co.).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional, Tuple, overload

from ._client_errors import ErrorCalls
from ._client_events import EventCalls
from ._client_flags import FlagCalls
from ._client_segment import SegmentCalls
from ._config import ClientOptions
from ._emitter import ClientEmitter, debug_logging
from ._engine import NOT_INITIALIZED, AnyEngine, ClosedEngine, Engine
from ._enrich import SuperProperties
from ._error_tracking import ErrorTracker
from ._events import Message, build_set
from ._flag_service import FlagService
from ._flag_snapshot import FeatureFlagEvaluations
from ._flushes import FlushResult
from ._legacy import fields_of, legacy_group, legacy_track, track_fields
from ._options import parse_options
from ._pipeline import Hint
from ._posthog import (
    PERSONLESS,
    UNSET,
    alias_message,
    capture_message,
    group_identify_message,
    identify_message,
    with_geoip,
)
from ._promise import MessagePromise
from ._redact import register_secret
from ._rest import RestApi
from ._stages import build_pipeline
from .errors import ClientClosedError, ConfigurationError, DeliveryError

__all__ = ["Client"]

FlushCallback = Callable[[Optional[DeliveryError]], Any]
Built = Tuple[Message, Optional[Hint]]


class Client(EventCalls, FlagCalls, ErrorCalls, SegmentCalls):
    """An analytics-node client on a PostHog core.

    ``Client({"secret": ...})``, ``Client(secret=...)``, ``Client("phc_...", host)`` as
    posthog-python's ``Posthog``, or ``Client()`` then ``init``.
    """

    def __init__(self, options: Any = None, host: Optional[str] = None, /, **kwargs: Any) -> None:
        self._emitter = ClientEmitter()
        self._engine: AnyEngine = NOT_INITIALIZED
        self._flags = FlagService(report_error=self._emitter.flags_error)
        self._supers = SuperProperties(None)
        self._errors = ErrorTracker(lambda message, hint: self._engine.submit(message, hint))
        self.api = RestApi(lambda: self._engine.options)  # client.api.get(...) and co.
        if isinstance(options, str):  # posthog-python: Posthog("phc_...", host=...)
            kwargs["secret"], options = options, None
        if host is not None:
            kwargs["host"] = host
        if options is not None or kwargs:
            self.init(options, **kwargs)

    def init(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> None:
        """Configure the client (legacy mapping and/or snake_case keywords); emits ``initialize``.

        Raises ``ConfigurationError`` naming a bad option, or if called a second time.
        """
        if self._engine is not NOT_INITIALIZED:
            if self._engine.options is None:
                raise ClientClosedError("the client was shut down before init(); create another")
            raise ConfigurationError(
                "init() was already called on this client; create another Client instead",
                option="init",
            )
        parsed = parse_options(options, **kwargs)
        register_secret(parsed.secret, parsed.flags.personal_api_key)
        capture = parsed.capture
        if capture.debug or capture.log_handler is not None:
            debug_logging(capture.debug, capture.log_handler)
        self._supers = SuperProperties(capture.super_properties)
        self._flags.start(parsed.flags, disabled=capture.disabled)
        pipeline = build_pipeline(parsed, self._flags, self._supers)
        self._engine = Engine(parsed, self._emitter, pipeline, trigger_subject=self)
        self._errors.start(parsed.exceptions)
        self._emitter.emit("initialize")

    @property
    def options(self) -> Optional[ClientOptions]:
        """The parsed options (None before ``init``); custom triggers read them."""
        return self._engine.options

    @property
    def initialized(self) -> bool:
        return self._engine.options is not None

    # -- analytics-node -------------------------------------------------------------
    def identify(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """``identify({'userId', 'traits', 'timestamp', 'context'})`` -> ``$identify``.

        Also posthog-node's ``identify({'distinctId', 'properties'})``, the PostHog
        style ``identify(distinct_id, properties)`` and segment-python's ``identify(
        user_id, traits, context, timestamp, anonymous_id, integrations, message_id)``;
        ``$set``, ``$set_once`` and ``$anon_distinct_id`` among the properties go where
        PostHog reads them.
        """
        return self._engine.submit(*identify_message(message, args, kwargs))

    def identify_immediate(
        self, message: Any = None, /, *args: Any, **kwargs: Any
    ) -> MessagePromise:
        """``identify`` sent before returning (posthog-node's ``identifyImmediate``)."""
        return self._engine.submit_now(*identify_message(message, args, kwargs))

    def track(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """``track({'userId', 'event', 'properties', 'timestamp', 'context'})``, or
        segment-python's ``track(user_id, event, properties, context, timestamp,
        anonymous_id, integrations, message_id)`` (two strings are always this)."""
        fields, hint = track_fields(message, args, kwargs)
        return self._engine.submit(legacy_track(fields), hint)

    def alias(
        self, message: Any = None, to: Any = None, /, *args: Any, **kwargs: Any
    ) -> MessagePromise:
        """``alias({'from': old, 'to': new})`` or ``alias(old, new)`` -> ``$create_alias``.

        PostHog's ``alias(previous_id=..., distinct_id=...)``, posthog-node's
        ``alias({'distinctId': old, 'alias': new})`` and segment-python's ``alias(
        previous_id, user_id, context, timestamp, integrations, message_id)`` are the
        same call: the event is sent as the old id, naming the new one in ``alias``.
        """
        return self._engine.submit(*alias_message(message, to, kwargs, args))

    def alias_immediate(
        self, message: Any = None, to: Any = None, /, **kwargs: Any
    ) -> MessagePromise:
        """``alias`` sent before returning (posthog-node's ``aliasImmediate``)."""
        return self._engine.submit_now(*alias_message(message, to, kwargs))

    def group(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """``group({'groupId', 'userId', 'traits'})`` -> ``$groupidentify``; also
        segment-python's ``group(user_id, group_id, traits, context, ...)``."""
        engine = self._engine
        fields = fields_of("group", message, args, kwargs)
        return engine.submit(legacy_group(fields, engine.group_type))

    # -- PostHog --------------------------------------------------------------------
    @overload
    def capture(
        self,
        event: str,
        /,
        *,
        distinct_id: Any = ...,
        properties: Optional[Mapping[str, Any]] = ...,
        timestamp: Any = ...,
        uuid: Any = ...,
        groups: Optional[Mapping[str, Any]] = ...,
        send_feature_flags: Any = ...,
        disable_geoip: Optional[bool] = ...,
        flags: Optional[FeatureFlagEvaluations] = ...,
    ) -> MessagePromise: ...

    @overload
    def capture(
        self,
        distinct_id: Any,
        event: str,
        /,
        properties: Optional[Mapping[str, Any]] = ...,
        timestamp: Any = ...,
        uuid: Any = ...,
        groups: Optional[Mapping[str, Any]] = ...,
        *,
        send_feature_flags: Any = ...,
        disable_geoip: Optional[bool] = ...,
        flags: Optional[FeatureFlagEvaluations] = ...,
    ) -> MessagePromise: ...

    @overload
    def capture(self, message: Mapping[str, Any], /) -> MessagePromise: ...

    def capture(
        self,
        first: Any = UNSET,
        second: Any = UNSET,
        /,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        *,
        distinct_id: Any = UNSET,
        event: Any = UNSET,
        send_feature_flags: Any = False,
        disable_geoip: Optional[bool] = None,
        flags: Optional[FeatureFlagEvaluations] = None,
    ) -> MessagePromise:
        """PostHog's ``capture``: ``capture("event", distinct_id=..., properties=...)``.

        Also ``capture(distinct_id, event, properties)`` (two positional arguments are
        always this form) and posthog-node's ``capture({"distinctId", "event", ...})``.
        Without a distinct id, the context's is used, else the event is personless.
        """
        message, hint = capture_message(
            first, second, properties, timestamp, uuid, groups,
            distinct_id=distinct_id, event=event,
            send_feature_flags=send_feature_flags, disable_geoip=disable_geoip, flags=flags,
        )  # fmt: skip
        return self._engine.submit(message, hint)

    def capture_immediate(
        self,
        first: Any = UNSET,
        second: Any = UNSET,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        *,
        distinct_id: Any = UNSET,
        event: Any = UNSET,
        send_feature_flags: Any = False,
        disable_geoip: Optional[bool] = None,
        flags: Optional[FeatureFlagEvaluations] = None,
    ) -> MessagePromise:
        """``capture`` sent before returning (posthog-node's ``captureImmediate``): the
        promise has its outcome when the call returns. The same forms as ``capture``."""
        message, hint = capture_message(
            first, second, properties, timestamp, uuid, groups,
            distinct_id=distinct_id, event=event,
            send_feature_flags=send_feature_flags, disable_geoip=disable_geoip, flags=flags,
        )  # fmt: skip
        return self._engine.submit_now(message, hint)

    def set(
        self,
        distinct_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        *,
        disable_geoip: Optional[bool] = None,
    ) -> MessagePromise:
        """Set person properties (a ``$set`` event); ``$set_once`` among them sets once."""
        built = build_set(distinct_id, properties, timestamp, uuid)
        return self._engine.submit(with_geoip(built, disable_geoip), _person_hint(built))

    def set_once(
        self,
        distinct_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        *,
        disable_geoip: Optional[bool] = None,
    ) -> MessagePromise:
        """Set person properties only where they are not set yet (a ``$set_once`` event)."""
        built = build_set(distinct_id, properties, timestamp, uuid, event="$set_once")
        return self._engine.submit(with_geoip(built, disable_geoip), _person_hint(built))

    def group_identify(
        self,
        group_type: Any = None,
        group_key: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        distinct_id: Any = None,
        *,
        disable_geoip: Optional[bool] = None,
    ) -> MessagePromise:
        """Set properties on a group (``$groupidentify``); also posthog-node's object."""
        return self._engine.submit(
            *group_identify_message(
                group_type, group_key, properties, timestamp, uuid, distinct_id, disable_geoip
            )
        )

    def group_identify_immediate(
        self,
        group_type: Any = None,
        group_key: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        distinct_id: Any = None,
        *,
        disable_geoip: Optional[bool] = None,
    ) -> MessagePromise:
        """``group_identify`` sent before returning (``groupIdentifyImmediate``)."""
        return self._engine.submit_now(
            *group_identify_message(
                group_type, group_key, properties, timestamp, uuid, distinct_id, disable_geoip
            )
        )

    # -- super properties ---------------------------------------------------------------
    def register(self, properties: Mapping[str, Any]) -> None:
        """Add super properties: sent with every event from now on, over the call's own."""
        self._supers.register(properties)

    def unregister(self, key: str) -> None:
        """Stop sending the super property ``key``."""
        self._supers.unregister(key)

    @property
    def super_properties(self) -> Dict[str, Any]:
        return dict(self._supers.current)

    # -- flush and shutdown -----------------------------------------------------------
    def flush(
        self,
        callback: Optional[FlushCallback] = None,
        *,
        timeout: Optional[float] = None,
        timeout_seconds: Optional[float] = None,
    ) -> FlushResult:
        """Send everything queued now.

        With ``callback``: returns at once; ``callback(err)`` is called once everything
        queued at the time of the call has settled (``err`` is None if all of it was
        delivered, else the first delivery error). Without: blocks until then or for
        ``timeout`` seconds (``timeout_seconds``, posthog-python's name, is the same).
        Returns a ``FlushResult``: true only if every message it waited for was
        delivered; ``delivered`` / ``failed`` / ``pending`` count them, ``error`` is the
        first failure. Called on the worker thread (from a listener), the blocking form
        schedules the flush and returns at once instead of waiting on itself.
        """
        return self._engine.flush(callback, timeout if timeout is not None else timeout_seconds)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Drain within ``timeout`` s (default: the ``shutdown_timeout`` option) and stop.

        Messages still queued at the deadline fail with ``ShutdownTimeoutError``.
        Returns True if no message had to be abandoned. Later calls raise ClientClosedError.
        """
        engine = self._engine
        if isinstance(engine, ClosedEngine):
            return engine.shutdown(timeout)
        self._engine = ClosedEngine(engine)
        self._errors.close()  # the last autocapturing client out restores the excepthooks
        if timeout is None:
            timeout = engine.options.batch.shutdown_timeout if engine.options else 0.0
        end = time.monotonic() + timeout
        self._flags.close()  # one deadline covers the poller too: stop it first, join it last
        drained = engine.shutdown(timeout)
        self._flags.join(max(0.0, end - time.monotonic()))
        return drained

    close = shutdown

    def join(self) -> bool:
        """posthog-python's ``join()``: send what is queued and stop (``shutdown``)."""
        return self.shutdown()

    # posthog-node's names for the same calls
    groupIdentify = group_identify
    captureImmediate = capture_immediate
    identifyImmediate = identify_immediate
    aliasImmediate = alias_immediate
    groupIdentifyImmediate = group_identify_immediate

    def __repr__(self) -> str:
        options = self._engine.options
        if options is None:
            return "<Client uninitialized>"
        return f"<Client host={options.host} flush_at={options.flush_at} state={self.state.value}>"


def _person_hint(message: Message) -> Optional[Hint]:
    """A person event without a person goes through the personless stage (to be dropped,
    or given the context's id)."""
    return PERSONLESS if message.distinct_id is None else None
