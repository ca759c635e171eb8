"""The feature-flag calls of ``Client``: posthog-python's names and keywords, and
posthog-node's camelCase names with its options object.

Owns one facet of the call surface and no state: every method hands its arguments
to the client's flags service (``_flag_service``, ``_flag_calls``) and submits the
``$feature_flag_called`` event the service returns through the client's engine.
``Client`` inherits these methods; nothing here is called back by anything else,
and nothing here keeps anything (the service and the engine are the client's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

from ._engine import AnyEngine
from ._events import Message
from ._flag_calls import all_flags_and_payloads, evaluate_flags, remote_config_payload
from ._flag_options import KEEP, node_flag_options, override_forms
from ._flag_service import FlagService, FlagValue
from ._flag_snapshot import FeatureFlagEvaluations
from .errors import ClientClosedError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._flag_service import AllFlagsOptions, FlagOptions
    from .flags import FlagDefinitions, FlagMiss, FlagResult

__all__ = ["FlagCalls"]

_ONE = frozenset(
    {"groups", "person_properties", "group_properties", "only_evaluate_locally"}
    | {"send_feature_flag_events", "disable_geoip", "device_id"}
)
_ALL = (_ONE - {"send_feature_flag_events"}) | {"flag_keys_to_evaluate"}


class FlagCalls:
    """posthog-python's flag API, delegated to ``self._flags`` and ``self._engine``."""

    _flags: FlagService
    _engine: AnyEngine

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
        device_id: Optional[str] = None,
    ) -> Optional[FlagResult]:
        """Evaluate ``key`` for ``distinct_id``: locally when possible, else one server call.

        Returns None when the flag is unknown, when ``only_evaluate_locally`` and it
        cannot be decided locally, or when the server could not be reached (the
        error goes to the client's ``error`` listeners); ``last_flag_miss`` says which.
        ``device_id`` buckets flags that PostHog buckets by device, and is sent to
        ``/flags``.
        """
        result, called = self._flags.evaluate(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip, device_id,
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
        device_id: Optional[str] = None,
    ) -> Optional[FlagValue]:
        """The flag's value (True/False or the variant key), or None (see the result form)."""
        result, called = self._flags.evaluate(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip, device_id,
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
        device_id: Optional[str] = None,
    ) -> Optional[bool]:
        """True if the flag is on for ``distinct_id``; None if it could not be evaluated."""
        result, called = self._flags.evaluate(
            key, distinct_id, groups, person_properties, group_properties,
            only_evaluate_locally, send_feature_flag_events, disable_geoip, device_id,
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
        overridden = self._flags.override_payloads
        if overridden and key in overridden:
            return overridden[key]
        if match_value is not None:
            known, payload = self._flags.payload_for(key, match_value)
            if known:
                return payload
        kwargs.setdefault("send_feature_flag_events", False)
        result = self.get_feature_flag_result(key, distinct_id, **kwargs)
        return None if result is None else result.payload

    @property
    def last_flag_miss(self) -> Optional[FlagMiss]:
        """Why the last flag call on this thread that returned None did: a ``FlagMiss``
        (``reason``, ``local_reason``, ``error``). Written only by a call that returns
        None, so read it right after one; the README's flag table lists the reasons."""
        return self._flags.last_miss

    # -- every flag ----------------------------------------------------------------------
    def evaluate_flags(
        self,
        distinct_id: Any = None,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        flag_keys: Optional[Sequence[str]] = None,
        only_evaluate_locally: bool = False,
        disable_geoip: Optional[bool] = None,
        device_id: Optional[str] = None,
    ) -> FeatureFlagEvaluations:
        """A snapshot of ``distinct_id``'s flags (None: the context's): local first, then
        one ``/flags`` request for what is left (none with ``only_evaluate_locally``).

        Reading a flag from it sends ``$feature_flag_called`` (deduplicated);
        ``capture(..., flags=snapshot)`` attaches its values with no further request.
        ``flag_keys`` limits the evaluation, locally and on the server; ``[]`` evaluates
        nothing.
        """
        return evaluate_flags(
            self._flags, self._flag_event, distinct_id,
            groups=groups, person_properties=person_properties,
            group_properties=group_properties, flag_keys=flag_keys,
            only_evaluate_locally=only_evaluate_locally, disable_geoip=disable_geoip,
            device_id=device_id,
        )  # fmt: skip

    def _flag_event(self, message: Message) -> None:
        # A snapshot read after shutdown: the value is still the caller's, the event is lost.
        with contextlib.suppress(ClientClosedError):
            self._engine.submit(message)

    def get_all_flags_and_payloads(
        self, distinct_id: Any, **kwargs: Unpack[AllFlagsOptions]
    ) -> Dict[str, Dict[str, Any]]:
        """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}``;
        ``flag_keys_to_evaluate`` limits it to those keys, locally and on the server."""
        return all_flags_and_payloads(self._flags, distinct_id, **kwargs)

    def get_all_flags(self, distinct_id: Any, **kwargs: Unpack[AllFlagsOptions]) -> Dict[str, Any]:
        """Every flag's value for ``distinct_id`` (local first, the server for the rest)."""
        return all_flags_and_payloads(self._flags, distinct_id, **kwargs)["featureFlags"]

    def get_remote_config_payload(self, key: str) -> Any:
        """A remote-config flag's payload, from the server (needs ``personal_api_key``)."""
        return remote_config_payload(self._flags, key)

    # -- definitions and overrides -----------------------------------------------------
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

    def override_feature_flags(self, flags: Any, payloads: Any = KEEP) -> None:
        """Force flag values (and payloads) for every caller, over local and remote answers.

        ``{key: value}`` sets values, a list of keys sets them True, ``False`` or
        ``None`` removes every override, and posthog-node's ``{"flags": ...,
        "payloads": ...}`` sets or clears each part. ``payloads`` given sets the payload
        overrides (None clears them); left out, only ``False`` / ``None`` clear them.
        """
        service = self._flags
        service.override(
            *override_forms(flags, payloads, service.overrides, service.override_payloads)
        )

    # -- posthog-node's names: (key, distinctId, options) -----------------------------------
    def isFeatureEnabled(
        self, key: str, distinct_id: Any, options: Optional[Mapping[str, Any]] = None
    ) -> Optional[bool]:
        """posthog-node's ``isFeatureEnabled(key, distinctId, {groups, personProperties,
        groupProperties, onlyEvaluateLocally, sendFeatureFlagEvents, disableGeoip})``."""
        kwargs = node_flag_options("isFeatureEnabled", options, _ONE)
        return self.feature_enabled(key, distinct_id, **kwargs)

    def getFeatureFlag(
        self, key: str, distinct_id: Any, options: Optional[Mapping[str, Any]] = None
    ) -> Optional[FlagValue]:
        """posthog-node's ``getFeatureFlag(key, distinctId, options)``."""
        kwargs = node_flag_options("getFeatureFlag", options, _ONE)
        return self.get_feature_flag(key, distinct_id, **kwargs)

    def getFeatureFlagPayload(
        self,
        key: str,
        distinct_id: Any,
        match_value: Optional[FlagValue] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Any:
        """posthog-node's ``getFeatureFlagPayload(key, distinctId, matchValue, options)``."""
        kwargs = node_flag_options("getFeatureFlagPayload", options, _ONE)
        return self.get_feature_flag_payload(key, distinct_id, match_value, **kwargs)

    def getAllFlags(
        self, distinct_id: Any, options: Optional[Mapping[str, Any]] = None
    ) -> Dict[str, Any]:
        """posthog-node's ``getAllFlags(distinctId, {..., flagKeys})``."""
        return self.get_all_flags(distinct_id, **node_flag_options("getAllFlags", options, _ALL))

    def getAllFlagsAndPayloads(
        self, distinct_id: Any, options: Optional[Mapping[str, Any]] = None
    ) -> Dict[str, Dict[str, Any]]:
        """posthog-node's ``getAllFlagsAndPayloads(distinctId, options)``."""
        kwargs = node_flag_options("getAllFlagsAndPayloads", options, _ALL)
        return self.get_all_flags_and_payloads(distinct_id, **kwargs)

    reloadFeatureFlags = reload_feature_flags
    overrideFeatureFlags = override_feature_flags
