"""Feature flags on the client, with posthog-python's names and keyword arguments.

Owns the single-flag API of ``Client`` (``feature_enabled``, ``get_feature_flag``,
``get_feature_flag_result``, payloads, overrides, readiness; every-flag calls are in
``_flags_all``), the choice between local evaluation and the server (local first; a flag
that cannot be decided locally costs exactly one ``/flags`` request), the
``$feature_flag_called`` events (deduplicated per distinct id, flag and value in a
bounded cache), and the poller's lifecycle (started by ``init`` when a personal API
key is set, stopped by ``shutdown``, restarted in a forked child).

Network trouble never raises here: the call returns None and the client's ``error``
listeners get the error. Evaluation itself lives in ``analytics_compat.flags``.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

import requests

from . import _lazy_flags as _lazy
from ._core import ClientCore
from ._events import Message, check_distinct_id
from ._jsonsafe import json_safe_mapping
from .errors import DeliveryError, ValidationError

if TYPE_CHECKING:
    from .flags import DefinitionsPoller, FlagDefinitions, FlagResult, RemoteFlags

__all__ = ["FlagsMixin"]

logger = logging.getLogger("analytics_compat")

FlagValue = Union[bool, str]
_CALLED_CACHE_SIZE = 50_000


_CACHES: weakref.WeakSet[_SeenCache] = weakref.WeakSet()


class _SeenCache:
    """A bounded set of recently reported keys (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: collections.OrderedDict[Any, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        _CACHES.add(self)

    def add(self, key: Any) -> bool:
        """True if ``key`` is new (and now remembered)."""
        if key in self._keys:  # the common case, answered without the lock
            return False
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True


_WITH_POLLERS: weakref.WeakSet[FlagsMixin] = weakref.WeakSet()


class FlagsMixin(ClientCore):
    _definitions: Optional[FlagDefinitions] = None
    _poller: Optional[DefinitionsPoller] = None
    _overrides: Optional[Dict[str, FlagValue]] = None
    _override_payloads: Optional[Dict[str, Any]] = None

    def _on_init(self) -> None:
        self._flags_session = requests.Session()
        self._flag_calls = _SeenCache(_CALLED_CACHE_SIZE)
        options = self.options
        if options is not None and options.personal_api_key:
            self._start_poller()

    def _start_poller(self) -> None:
        options = self.options
        assert options is not None and options.personal_api_key
        self._poller = _lazy.flags().DefinitionsPoller(
            self._flags_session,
            options.host,
            options.secret,
            options.personal_api_key,
            path=options.flag_definitions_path,
            interval=options.poll_interval,
            timeout=options.timeout,
            on_update=self._set_definitions,
            on_error=self._flag_error,
        )
        self._poller.start()
        _WITH_POLLERS.add(self)

    def _on_shutdown(self) -> None:
        _WITH_POLLERS.discard(self)
        if self._poller is not None:
            self._poller.stop(timeout=2.0)
        session = getattr(self, "_flags_session", None)
        if session is not None:
            session.close()

    def _set_definitions(self, definitions: Optional[FlagDefinitions]) -> None:
        self._definitions = definitions

    def _flag_error(self, error: DeliveryError) -> None:
        self._emitter.emit("error", error)

    # -- readiness and loading --------------------------------------------------------
    def is_local_evaluation_ready(self) -> bool:
        """True once flag definitions are loaded for local evaluation."""
        return self._definitions is not None

    def wait_for_local_evaluation_ready(self, timeout: Optional[float] = None) -> bool:
        """Block until definitions are loaded (True) or ``timeout`` passes (False)."""
        if self._poller is None:
            return self._definitions is not None
        return self._poller.ready.wait(timeout)

    def reload_feature_flags(self) -> bool:
        """Fetch the definitions now; True on success. Needs ``personal_api_key``."""
        if self._poller is None:
            logger.warning("analytics-compat: reload_feature_flags needs a personal_api_key")
            return False
        return self._poller.load_now()

    load_feature_flags = reload_feature_flags

    def load_flag_definitions(self, definitions: Optional[FlagDefinitions]) -> None:
        """Use these parsed definitions for local evaluation (tests, or bootstrapping)."""
        self._definitions = definitions

    def override_feature_flags(
        self,
        flags: Optional[Mapping[str, FlagValue]],
        payloads: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Force flag values (and payloads) for every caller; ``None`` removes overrides."""
        self._overrides = dict(flags) if flags is not None else None
        self._override_payloads = dict(payloads) if payloads is not None else None

    # -- one flag ----------------------------------------------------------------------
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
        return self._flag(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip,
        )  # fmt: skip

    def _flag(
        self,
        key: str,
        distinct_id: Any,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_local: bool,
        send_events: Optional[bool],
        disable_geoip: Optional[bool],
    ) -> Optional[FlagResult]:
        # One flat function on purpose: flag checks sit in request paths.
        options = self._require_open()
        if type(key) is not str or not key:
            raise ValidationError("key must be a non-empty string", field="key")
        did = distinct_id
        if type(did) is not str or not did:
            did = check_distinct_id(distinct_id, "distinct_id")
        definitions = self._definitions
        overrides = self._overrides
        result: Optional[FlagResult] = None
        if overrides is not None and key in overrides:
            result = self._overridden(key, overrides[key])
        elif definitions is not None:
            result = _lazy.flags().evaluate_flag(
                definitions,
                key,
                did,
                groups=groups,
                person_properties=person_properties,
                group_properties=group_properties,
            )
        if result is None or not result.decided:
            # Not known or not decidable locally: exactly one /flags request, or none.
            result = None
            if not only_local:
                geoip = options.disable_geoip if disable_geoip is None else disable_geoip
                remote = self._remote(
                    did, groups, person_properties, group_properties, geoip, [key]
                )
                if remote is not None:
                    result = remote.flags.get(key)
        send = options.send_feature_flag_events if send_events is None else send_events
        if result is not None and send:
            self._report_flag_called(did, result, groups)
        return result

    def _overridden(self, key: str, value: FlagValue) -> FlagResult:
        payload = (self._override_payloads or {}).get(key)
        variant = value if isinstance(value, str) else None
        forced: FlagResult = _lazy.flags().FlagResult(key, value, variant, payload, "override")
        return forced

    def _remote(
        self,
        did: str,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        disable_geoip: bool,
        keys: Optional[list[str]],
    ) -> Optional[RemoteFlags]:
        options = self.options
        assert options is not None
        remote: RemoteFlags = _lazy.flags().fetch_remote_flags(
            self._flags_session,
            options.host,
            options.secret,
            did,
            groups=groups,
            person_properties=person_properties,
            group_properties=group_properties,
            disable_geoip=disable_geoip,
            flag_keys=keys,
            timeout=options.flags_request_timeout,
        )
        if remote.error is not None:
            self._emitter.emit("error", remote.error)
            return None
        if remote.quota_limited:
            logger.warning("analytics-compat: feature flags are quota limited on the server")
            return None
        return remote

    def _report_flag_called(
        self, did: str, result: FlagResult, groups: Optional[Mapping[str, Any]]
    ) -> None:
        if not self._flag_calls.add((did, result.key, result.value)):
            return
        props: Dict[str, Any] = {
            "$feature_flag": result.key,
            "$feature_flag_response": result.value,
            f"$feature/{result.key}": result.value,
            "locally_evaluated": result.locally_evaluated,
            "$feature_flag_reason": result.reason,
        }
        if result.flag_id is not None:
            props["$feature_flag_id"] = result.flag_id
        if result.version is not None:
            props["$feature_flag_version"] = result.version
        if result.request_id is not None:
            props["$feature_flag_request_id"] = result.request_id
        if result.payload is not None:
            props["$feature_flag_payload"] = result.payload
        if groups is not None:
            props["$groups"] = json_safe_mapping(groups, "groups")
        # Our own JSON-safe values (the payload came decoded from JSON): no need to go
        # through build_capture's checks and copy.
        self._submit(Message("$feature_flag_called", did, props, time.time(), None))

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
        result = self._flag(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip,
        )  # fmt: skip
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
        result = self._flag(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip,
        )  # fmt: skip
        return None if result is None else result.value is not False

    is_feature_enabled = feature_enabled

    def get_feature_flag_payload(
        self, key: str, distinct_id: Any, match_value: Optional[FlagValue] = None, **kwargs: Any
    ) -> Any:
        """The decoded JSON payload for the flag's value (or for ``match_value``)."""
        kwargs.setdefault("send_feature_flag_events", False)
        if match_value is not None and self._definitions is not None:
            flag = self._definitions.by_key.get(key)
            if flag is not None:
                return flag.payloads.get(_payload_key(match_value))
        result = self.get_feature_flag_result(key, distinct_id, **kwargs)
        return None if result is None else result.payload

    def _after_fork(self) -> None:
        self._flags_session = requests.Session()
        if self._poller is not None:
            self._start_poller()


def _payload_key(value: FlagValue) -> str:
    return "true" if value is True else str(value)


def _restart_pollers_in_child() -> None:
    for cache in list(_CACHES):
        cache._lock = threading.Lock()  # a lock held at fork() stays held in the child
    for client in list(_WITH_POLLERS):
        client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_pollers_in_child)
