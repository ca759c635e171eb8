"""Client: the analytics-node calls and the PostHog calls, on one object made of parts.

Owns the call surface and nothing behind it. A ``Client`` holds three parts and
delegates to them:

- its emitter (``_emitter``): the ``initialize`` / ``flush`` / ``error`` events;
- its engine (``_engine``): submit, flush, shutdown, statistics. Before ``init`` it
  is the not-initialized engine, after ``shutdown`` a closed one, so a call on a
  client in the wrong state raises the right error without any check here;
- its flags service (``_flags``): feature flags (every-flag calls in ``_flag_calls``);
- its error tracker (``_errors``): ``$exception`` events and uncaught-exception capture.

Contexts (``new_context``, ``tag``, ...) are ``_context_calls``; the methods here
only bind them to this client, as posthog-python's do.

Each message call parses its arguments, builds one ``Message`` (translation of the
legacy shapes is ``_legacy``; PostHog shapes are ``_events``) and submits it; the
``Message`` is also the ``MessagePromise`` returned.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from . import _context_calls
from ._config import ClientOptions
from ._dispatch import Lifecycle
from ._emitter import ClientEmitter
from ._engine import NOT_INITIALIZED, AnyEngine, ClosedEngine, Engine
from ._error_tracking import ErrorTracker
from ._events import build_alias, build_capture, build_group_identify, build_set
from ._flag_calls import all_flags_and_payloads, remote_config_payload
from ._flag_service import FlagService, FlagValue
from ._legacy import legacy_alias, legacy_group, legacy_identify, legacy_track, normalize
from ._options import parse_options
from ._pipeline import Hint
from ._promise import MessagePromise
from ._redact import register_secret
from ._stages import build_pipeline
from .errors import ClientClosedError, ConfigurationError, DeliveryError, ValidationError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._error_tracking import ExceptionOptions
    from ._flag_service import AllFlagsOptions, FlagOptions
    from .flags import FlagDefinitions, FlagResult

__all__ = ["Client"]

_WANT_FLAGS = Hint(feature_flags={})
FlushCallback = Callable[[Optional[DeliveryError]], Any]


class Client:
    """An analytics-node client on a PostHog core. ``Client(opts)`` or ``Client()`` + ``init``."""

    def __init__(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> None:
        self._emitter = ClientEmitter()
        self._engine: AnyEngine = NOT_INITIALIZED
        self._flags = FlagService(report_error=lambda error: self._emitter.emit("error", error))
        self._errors = ErrorTracker(lambda message, hint: self._engine.submit(message, hint))
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
        self._flags.start(parsed.flags)
        pipeline = build_pipeline(parsed, self._flags)
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

    # -- events ---------------------------------------------------------------------
    def on(self, event: str, listener: Callable[..., Any]) -> Callable[..., Any]:
        """Listen to ``initialize``, ``flush`` (a ``FlushInfo``) or ``error`` (the error)."""
        return self._emitter.on(event, listener)

    def once(self, event: str, listener: Callable[..., Any]) -> Callable[..., Any]:
        return self._emitter.once(event, listener)

    add_listener = on

    def remove_listener(self, event: str, listener: Callable[..., Any]) -> None:
        self._emitter.remove_listener(event, listener)

    def remove_all_listeners(self, event: Optional[str] = None) -> None:
        self._emitter.remove_all_listeners(event)

    def listeners(self, event: str) -> List[Callable[..., Any]]:
        return self._emitter.listeners(event)

    def emit(self, event: str, *args: Any) -> bool:
        return self._emitter.emit(event, *args)

    # -- what triggers read, and counters ---------------------------------------------
    @property
    def queued(self) -> int:
        """Messages waiting to be released (what the size trigger counts)."""
        return self._engine.queued

    @property
    def batch_age(self) -> float:
        return self._engine.batch_age

    @property
    def last_flush(self) -> float:
        return self._engine.last_flush

    @property
    def stats(self) -> Dict[str, int]:
        """Counters: messages delivered, failed, and dropped (queue full, or by reason)."""
        return self._engine.stats

    @property
    def state(self) -> Lifecycle:
        return self._engine.state

    # -- analytics-node -------------------------------------------------------------
    def identify(self, message: Any = None, /, *args: Any, **kwargs: Any) -> MessagePromise:
        """``identify({'userId', 'traits', 'timestamp', 'context'})`` -> ``$identify``.

        PostHog style also works: ``identify(distinct_id, properties)``.
        """
        if len(args) > 1 or (args and not isinstance(message, (str, int))):
            raise ValidationError(
                "identify() takes a message mapping, or (distinct_id, properties)",
                field="properties",
            )
        if isinstance(message, (str, int)) and not isinstance(message, bool):
            props = args[0] if args else kwargs.pop("properties", None)
            return self._engine.submit(build_set(message, props, event="$identify", **kwargs))
        return self._engine.submit(legacy_identify(normalize("identify", message, kwargs)))

    def track(self, message: Any = None, /, **kwargs: Any) -> MessagePromise:
        """``track({'userId', 'event', 'properties', 'timestamp', 'context'})``."""
        fields = normalize("track", message, kwargs)
        built = legacy_track(fields)
        if fields.get("sendFeatureFlags"):
            return self._engine.submit(built, _WANT_FLAGS)
        return self._engine.submit(built)

    def alias(self, message: Any = None, to: Any = None, /, **kwargs: Any) -> MessagePromise:
        """``alias({'from': old, 'to': new})`` or ``alias(old, new)`` -> ``$create_alias``.

        PostHog's ``alias(previous_id=..., distinct_id=...)`` is the same call.
        """
        if isinstance(message, Mapping) or (message is None and to is None and not kwargs):
            return self._engine.submit(legacy_alias(normalize("alias", message, {})))
        previous = kwargs.pop("previous_id", message)
        new = kwargs.pop("distinct_id", to)
        if previous is None and new is None and kwargs:
            return self._engine.submit(legacy_alias(normalize("alias", None, kwargs)))
        timestamp, uuid = kwargs.pop("timestamp", None), kwargs.pop("uuid", None)
        if kwargs:
            name = next(iter(kwargs))
            raise ValidationError(f"alias() got an unknown argument {name!r}", field=name)
        return self._engine.submit(build_alias(previous, new, timestamp, uuid))

    def group(self, message: Any = None, /, **kwargs: Any) -> MessagePromise:
        """``group({'groupId', 'userId', 'traits'})`` -> ``$groupidentify``."""
        engine = self._engine
        return engine.submit(legacy_group(normalize("group", message, kwargs), engine.group_type))

    # -- PostHog --------------------------------------------------------------------
    def capture(
        self,
        distinct_id: Any,
        event: Any,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        *,
        send_feature_flags: bool = False,
    ) -> MessagePromise:
        """PostHog's ``capture``: one event for ``distinct_id``."""
        built = build_capture(distinct_id, event, properties, timestamp, uuid, groups)
        if send_feature_flags:
            return self._engine.submit(built, Hint(feature_flags={"groups": groups}))
        return self._engine.submit(built)

    def set(
        self,
        distinct_id: Any,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
    ) -> MessagePromise:
        """Set person properties (a ``$set`` event)."""
        return self._engine.submit(build_set(distinct_id, properties, timestamp, uuid))

    def group_identify(
        self,
        group_type: Any,
        group_key: Any,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        uuid: Any = None,
        distinct_id: Any = None,
    ) -> MessagePromise:
        """Set properties on a group (a ``$groupidentify`` event)."""
        return self._engine.submit(
            build_group_identify(group_type, group_key, properties, timestamp, uuid, distinct_id)
        )

    # -- error tracking and contexts (posthog-python's) --------------------------------
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

    # -- flush and shutdown -----------------------------------------------------------
    def flush(
        self, callback: Optional[FlushCallback] = None, *, timeout: Optional[float] = None
    ) -> bool:
        """Send everything queued now.

        With ``callback``: returns at once; ``callback(err)`` is called once everything
        queued at the time of the call has settled (``err`` is None if all of it was
        delivered, else the first delivery error). Without: blocks until then or for
        ``timeout`` seconds, and returns True if it all settled. Called on the worker
        thread (from a listener), the blocking form schedules the flush and returns
        False instead of waiting on itself.
        """
        return self._engine.flush(callback, timeout)

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

    # -- feature flags (posthog-python's names) ---------------------------------------
    # The three single-flag calls spell out FlagOptions: forwarding **kwargs would cost
    # a fifth of a local evaluation. They differ only in what they return.
    def get_feature_flag_result(
        self,
        key: str,
        distinct_id: Any,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: Optional[bool] = None,
        disable_geoip: Optional[bool] = None,
    ) -> Optional[FlagResult]:
        """Evaluate ``key`` for ``distinct_id``: locally when possible, else one server call.

        Returns None when the flag is unknown, when ``only_evaluate_locally`` and it
        cannot be decided locally, or when the server could not be reached (the
        error goes to the client's ``error`` listeners).
        """
        result, called = self._flags.evaluate(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip,
        )  # fmt: skip
        if called is not None:
            self._engine.submit(called)
        return result

    def get_feature_flag(
        self,
        key: str,
        distinct_id: Any,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: Optional[bool] = None,
        disable_geoip: Optional[bool] = None,
    ) -> Optional[FlagValue]:
        """The flag's value (True/False or the variant key), or None (see the result form)."""
        result, called = self._flags.evaluate(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip,
        )  # fmt: skip
        if called is not None:
            self._engine.submit(called)
        return None if result is None else result.value

    def feature_enabled(
        self,
        key: str,
        distinct_id: Any,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: Optional[bool] = None,
        disable_geoip: Optional[bool] = None,
    ) -> Optional[bool]:
        """True if the flag is on for ``distinct_id``; None if it could not be evaluated."""
        result, called = self._flags.evaluate(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip,
        )  # fmt: skip
        if called is not None:
            self._engine.submit(called)
        return None if result is None else result.value is not False

    is_feature_enabled = feature_enabled

    def get_feature_flag_payload(
        self,
        key: str,
        distinct_id: Any,
        match_value: Optional[FlagValue] = None,
        **kwargs: Unpack[FlagOptions],
    ) -> Any:
        """The decoded JSON payload for the flag's value (or for ``match_value``)."""
        if match_value is not None:
            known, payload = self._flags.payload_for(key, match_value)
            if known:
                return payload
        kwargs.setdefault("send_feature_flag_events", False)
        result = self.get_feature_flag_result(key, distinct_id, **kwargs)
        return None if result is None else result.payload

    def get_all_flags_and_payloads(
        self, distinct_id: Any, **kwargs: Unpack[AllFlagsOptions]
    ) -> Dict[str, Dict[str, Any]]:
        """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}``."""
        return all_flags_and_payloads(self._flags, distinct_id, **kwargs)

    def get_all_flags(self, distinct_id: Any, **kwargs: Unpack[AllFlagsOptions]) -> Dict[str, Any]:
        """Every flag's value for ``distinct_id`` (local first, the server for the rest)."""
        return all_flags_and_payloads(self._flags, distinct_id, **kwargs)["featureFlags"]

    def get_remote_config_payload(self, key: str) -> Any:
        """A remote-config flag's payload, from the server (needs ``personal_api_key``)."""
        return remote_config_payload(self._flags, key)

    def is_local_evaluation_ready(self) -> bool:
        """True once flag definitions are loaded for local evaluation."""
        return self._flags.ready()

    def wait_for_local_evaluation_ready(self, timeout: Optional[float] = None) -> bool:
        """Block until definitions are loaded (True) or ``timeout`` passes (False)."""
        return self._flags.wait_ready(timeout)

    def reload_feature_flags(self) -> bool:
        """Fetch the definitions now; True on success. Needs ``personal_api_key``."""
        return self._flags.reload()

    load_feature_flags = reload_feature_flags

    def load_flag_definitions(self, definitions: Optional[FlagDefinitions]) -> None:
        """Use these parsed definitions for local evaluation (tests, or bootstrapping)."""
        self._flags.definitions = definitions

    def override_feature_flags(
        self,
        flags: Optional[Mapping[str, FlagValue]],
        payloads: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Force flag values (and payloads) for every caller; ``None`` removes overrides."""
        self._flags.override(flags, payloads)

    def __repr__(self) -> str:
        options = self._engine.options
        if options is None:
            return "<Client uninitialized>"
        return f"<Client host={options.host} flush_at={options.flush_at} state={self.state.value}>"
