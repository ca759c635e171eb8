"""The flags service: between the pure evaluator and the client.

Owns where flag answers come from and what they cost: overrides first, then the
locally loaded definitions (kept fresh by a poller when a personal API key is set),
and, for a flag that cannot be decided locally, exactly one ``/flags`` request (none
with ``only_evaluate_locally``). It returns results together with the
``$feature_flag_called`` event to send (deduplicated per distinct id, flag and value
in a bounded cache), and sends nothing itself: the client submits the event through
its engine like any other. Every single-flag call is ``evaluate``; ``FlagOptions``
names and types its keyword arguments.

Network trouble never raises: the call gets None and the error goes to
``report_error`` (the client's ``error`` listeners). Why a call got None is kept as a
``FlagMiss`` for the caller's thread (``last_miss``), written only when it happens, so
a call that gets a value pays nothing for it. Overrides take posthog-node's forms too
(``override``). Evaluation itself is ``analytics_compat.flags``, imported on first use;
every-flag calls, snapshots, remote config and the ``feature_flags`` stage are
``_flag_calls``.
"""

from __future__ import annotations

import enum
import logging
import threading
import weakref
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypedDict,
    Union,
)

import requests

from . import _lazy_flags as _lazy
from ._config import FlagsConfig
from ._events import Message, check_distinct_id
from ._flag_events import SeenCache, called_event
from ._lifecycle import ForkPhase, after_fork_in_child
from .errors import ClientClosedError, DeliveryError, NotInitializedError, ValidationError

if TYPE_CHECKING:
    from .flags import DefinitionsPoller, FlagDefinitions, FlagMiss, FlagResult, RemoteFlags

__all__ = ["AllFlagsOptions", "FlagOptions", "FlagService", "FlagValue"]

logger = logging.getLogger("analytics_compat")

FlagValue = Union[bool, str]
Evaluation = Tuple[Optional["FlagResult"], Optional[Message]]
_CALLED_CACHE_SIZE = 50_000
_EMPTY: Mapping[str, Any] = {}


class FlagOptions(TypedDict, total=False):
    """The keyword arguments every single-flag call takes (as posthog-python names them)."""

    groups: Optional[Mapping[str, Any]]
    person_properties: Optional[Mapping[str, Any]]
    group_properties: Optional[Mapping[str, Mapping[str, Any]]]
    only_evaluate_locally: bool
    send_feature_flag_events: Optional[bool]
    disable_geoip: Optional[bool]
    device_id: Optional[str]


class AllFlagsOptions(TypedDict, total=False):
    """The keyword arguments of the every-flag calls."""

    groups: Optional[Mapping[str, Any]]
    person_properties: Optional[Mapping[str, Any]]
    group_properties: Optional[Mapping[str, Mapping[str, Any]]]
    only_evaluate_locally: bool
    disable_geoip: Optional[bool]
    flag_keys_to_evaluate: Optional[Sequence[str]]
    device_id: Optional[str]


class _State(enum.Enum):
    UNCONFIGURED = "unconfigured"
    OPEN = "open"
    DISABLED = "disabled"  # the client's ``disabled`` option: no answers, no requests
    CLOSED = "closed"


_SERVICES: weakref.WeakSet[FlagService] = weakref.WeakSet()


class FlagService:
    """One client's flags. Exists from ``Client()``; configured by ``init``, closed by
    ``shutdown`` (then evaluation raises ``ClientClosedError``, as before ``init`` it
    raises ``NotInitializedError``). Overrides and loaded definitions survive ``init``."""

    def __init__(self, report_error: Callable[[DeliveryError], Any]) -> None:
        self.report = report_error
        self._state = _State.UNCONFIGURED
        self.config: Optional[FlagsConfig] = None
        self._open: Optional[FlagsConfig] = None  # the config while open: one check per call
        self.definitions: Optional[FlagDefinitions] = None
        self.overrides: Optional[Dict[str, FlagValue]] = None
        self.override_payloads: Optional[Dict[str, Any]] = None
        self.poller: Optional[DefinitionsPoller] = None
        self.session = requests.Session()
        self._seen = SeenCache(_CALLED_CACHE_SIZE)
        _SERVICES.add(self)
        self._misses = threading.local()  # .miss: why this thread's last call got None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, config: FlagsConfig, *, disabled: bool = False) -> None:
        """Configure; with a personal API key (and local evaluation on), start polling."""
        self.config = config
        if disabled:
            self._state = _State.DISABLED
            return
        self._open = config
        self._state = _State.OPEN
        if config.personal_api_key and config.local_evaluation:
            self._start_poller(config)

    @property
    def disabled(self) -> bool:
        return self._state is _State.DISABLED

    def _start_poller(self, config: FlagsConfig) -> None:
        assert config.personal_api_key
        flags = _lazy.flags()
        cache = config.definitions_cache
        if cache is None and config.definitions_cache_file:
            cache = flags.FileDefinitionsCache(config.definitions_cache_file)
        self.poller = flags.DefinitionsPoller(
            self.session,
            config.host,
            config.secret,
            config.personal_api_key,
            path=config.definitions_path,
            interval=config.poll_interval,
            timeout=config.poll_timeout,
            on_update=self._set_definitions,
            on_error=self.report,
            cache=cache,
        )
        self.poller.start()

    def close(self) -> None:
        """Refuse evaluation from now on and tell the poller to stop (without waiting)."""
        self._state = _State.CLOSED
        self._open = None
        if self.poller is not None:
            self.poller.stop(timeout=0)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the poller's last request, then close."""
        if self.poller is not None:
            self.poller.stop(timeout=timeout)
        self.session.close()

    def _after_fork(self) -> None:
        """The child asks ``/flags`` over connections of its own (a kept-alive one of the
        parent's would carry the two processes' answers crossed), and polls for itself."""
        self.session = requests.Session()
        if self.poller is not None and self.config is not None and self._state is _State.OPEN:
            self._start_poller(self.config)

    def require_open(self) -> FlagsConfig:
        """The configuration, or the error a call on this client deserves."""
        config = self.config
        if config is None or self._state is not _State.OPEN:
            if self._state is _State.CLOSED:
                raise ClientClosedError()
            raise NotInitializedError()
        return config

    # -- definitions and overrides -------------------------------------------------------
    def _set_definitions(self, definitions: Optional[FlagDefinitions]) -> None:
        self.definitions = definitions

    def ready(self) -> bool:
        return self.definitions is not None

    def wait_ready(self, timeout: Optional[float]) -> bool:
        if self.poller is None:
            return self.definitions is not None
        return self.poller.ready.wait(timeout)

    def reload(self) -> bool:
        if self.poller is None:
            if self._state is _State.DISABLED:
                logger.debug("the client is disabled; no flags are loaded")
            elif self.config is not None and not self.config.local_evaluation:
                logger.warning("local evaluation is off (enable_local_evaluation)")
            else:
                logger.warning("reload_feature_flags needs a personal_api_key")
            return False
        return self.poller.load_now()

    def override(
        self, flags: Optional[Dict[str, FlagValue]], payloads: Optional[Dict[str, Any]]
    ) -> None:
        """Replace the overrides (None: none); they win over local and remote answers."""
        self.overrides, self.override_payloads = flags, payloads

    @property
    def last_miss(self) -> Optional[FlagMiss]:
        """Why the last call on this thread that returned None did (kept until the next)."""
        miss: Optional[FlagMiss] = getattr(self._misses, "miss", None)
        return miss

    # -- one flag --------------------------------------------------------------------------
    def evaluate(
        self,
        key: str,
        distinct_id: Any,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: Optional[bool] = None,
        disable_geoip: Optional[bool] = None,
        device_id: Optional[str] = None,
    ) -> Evaluation:
        """``(result, $feature_flag_called event or None)`` for ``key`` and ``distinct_id``.

        The one implementation behind every single-flag call (the arguments are
        ``FlagOptions``, positional here: the client's methods spell them out, because
        forwarding ``**kwargs`` costs a fifth of a local flag check). The result is None
        when the flag is unknown, when ``only_evaluate_locally`` and it cannot be
        decided locally, or when the server could not be reached; ``last_miss`` then
        says which.
        """
        # One flat function on purpose: flag checks sit in request paths.
        config = self._open
        if config is None:
            if self._state is _State.DISABLED:
                flags = _lazy.flags()
                self._misses.miss = flags.FlagMiss(str(key), flags.Miss.DISABLED)
                return None, None
            config = self.require_open()
        if type(key) is not str or not key:
            raise ValidationError("key must be a non-empty string", field="key")
        did = distinct_id
        if type(did) is not str or not did:
            did = check_distinct_id(distinct_id, "distinct_id")
        definitions = self.definitions
        overrides = self.overrides
        result: Optional[FlagResult] = None
        if overrides is not None and key in overrides:
            result = self.overridden(key, overrides[key])
        elif definitions is not None:
            # The flag's compiled plan, called directly: the common flag is answered
            # here, one call shallower; None (no plan yet, or not for this caller) is
            # the evaluator's to decide.
            plan = definitions.evaluator_cache.get(key)
            if plan is not None:
                result = plan(
                    did, person_properties or _EMPTY, groups or _EMPTY,
                    group_properties or _EMPTY, None,
                )  # fmt: skip
            if result is None:
                result = _lazy.flags().evaluate_flag(
                    definitions,
                    key,
                    did,
                    groups=groups,
                    person_properties=person_properties,
                    group_properties=group_properties,
                    device_id=device_id,
                )
        if result is None or not result.decided:
            # Not known or not decidable locally: exactly one /flags request, or none.
            geoip = config.disable_geoip if disable_geoip is None else disable_geoip
            result = self._not_local(
                key, did, result, groups, person_properties, group_properties,
                None if only_evaluate_locally else geoip, device_id,
            )  # fmt: skip
        send = config.send_events if send_feature_flag_events is None else send_feature_flag_events
        if result is None or not send or not self._seen.add((did, result.key, result.value)):
            return result, None
        return result, called_event(did, result, groups)

    def _not_local(
        self,
        key: str,
        did: str,
        local: Optional[FlagResult],
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        geoip: Optional[bool],
        device_id: Optional[str],
    ) -> Optional[FlagResult]:
        """The server's result for a flag not decided locally (``geoip`` None: do not ask)."""
        flags = _lazy.flags()
        local_reason = None if local is None else local.reason
        if geoip is None:
            reason = local_reason
            if reason is None:
                loaded = self.definitions is not None
                reason = flags.Miss.FLAG_UNKNOWN if loaded else flags.Miss.DEFINITIONS_NOT_LOADED
            self._misses.miss = flags.FlagMiss(key, reason, local_reason)
            return None
        remote = self.remote(
            did, groups, person_properties, group_properties, geoip, [key], device_id
        )
        result: Optional[FlagResult] = remote.flags.get(key)
        if result is None:
            self._misses.miss = remote.miss(key, local_reason)
        return result

    def overridden(self, key: str, value: FlagValue) -> FlagResult:
        payload = (self.override_payloads or {}).get(key)
        variant = value if isinstance(value, str) else None
        forced: FlagResult = _lazy.flags().FlagResult(key, value, variant, payload, "override")
        return forced

    def remote(
        self,
        did: str,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        disable_geoip: bool,
        keys: Optional[List[str]],
        device_id: Optional[str] = None,
    ) -> RemoteFlags:
        """One ``/flags`` request; on failure (reported) or a quota limit, no flags in it."""
        config = self.require_open()
        remote: RemoteFlags = _lazy.flags().fetch_remote_flags(
            self.session,
            config.host,
            config.secret,
            did,
            groups=groups,
            person_properties=person_properties,
            group_properties=group_properties,
            disable_geoip=disable_geoip,
            flag_keys=keys,
            device_id=device_id,
            timeout=config.request_timeout,
        )
        if remote.error is not None:
            self.report(remote.error)
        elif remote.quota_limited:
            logger.warning("feature flags are quota limited on the server")
        return remote

    def called(
        self, did: str, result: FlagResult, groups: Optional[Mapping[str, Any]]
    ) -> Optional[Message]:
        """The ``$feature_flag_called`` event for a read of ``result``, unless already sent."""
        if not self._seen.add((did, result.key, result.value)):
            return None
        return called_event(did, result, groups)

    def payload_for(self, key: str, match_value: FlagValue) -> Tuple[bool, Any]:
        """``(known, payload)`` for a given value of ``key``, from the loaded definitions."""
        definitions = self.definitions
        if definitions is None:
            return False, None
        flag = definitions.by_key.get(key)
        if flag is None:
            return False, None
        return True, flag.payloads.get("true" if match_value is True else str(match_value))


def _restart_pollers_in_child() -> None:
    for service in list(_SERVICES):
        service._after_fork()


after_fork_in_child(_restart_pollers_in_child, ForkPhase.THREADS)
