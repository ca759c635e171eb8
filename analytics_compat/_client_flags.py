"""The feature-flag calls of ``Client``, with posthog-python's names and keywords.

Owns one facet of the call surface and no state: every method hands its arguments
to the client's flags service (``_flag_service``, ``_flag_calls``) and submits the
``$feature_flag_called`` event the service returns through the client's engine.
``Client`` inherits these methods; nothing here is called back by anything else,
and nothing here keeps anything (the service and the engine are the client's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict, Optional

from ._engine import AnyEngine
from ._flag_calls import all_flags_and_payloads, remote_config_payload
from ._flag_service import FlagService, FlagValue

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._flag_service import AllFlagsOptions, FlagOptions
    from .flags import FlagDefinitions, FlagResult

__all__ = ["FlagCalls"]


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
