"""Every flag at once, remote config, and flags on captured events.

Owns ``get_all_flags`` / ``get_all_flags_and_payloads`` (local evaluation first,
then one ``/flags`` request for just the flags that could not be decided locally),
``get_remote_config_payload``, and the ``send_feature_flags=True`` option of
``capture``/``track`` (``$feature/<key>`` and ``$active_feature_flags``). Single-flag
calls, events and the poller live in ``_flags_client``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import requests

from . import _lazy_flags as _lazy
from ._events import Message, check_distinct_id
from ._flags_client import FlagsMixin
from .errors import HTTPStatusError, TransportError

if TYPE_CHECKING:
    from .flags import FlagResult

__all__ = ["AllFlagsMixin"]

logger = logging.getLogger("analytics_compat")


class AllFlagsMixin(FlagsMixin):
    # -- every flag --------------------------------------------------------------------
    def get_all_flags_and_payloads(
        self,
        distinct_id: Any,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        disable_geoip: Optional[bool] = None,
    ) -> Dict[str, Dict[str, Any]]:
        """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}``."""
        options = self._require_open()
        did = check_distinct_id(distinct_id, "distinct_id")
        results: Dict[str, FlagResult] = {}
        undecided: list[str] = []
        definitions = self._definitions
        if definitions is not None:
            evaluated = _lazy.flags().evaluate_all(
                definitions,
                did,
                groups=groups,
                person_properties=person_properties,
                group_properties=group_properties,
            )
            for key, result in evaluated.items():
                if result.decided:
                    results[key] = result
                else:
                    undecided.append(key)
        if not only_evaluate_locally and (definitions is None or undecided):
            geoip = options.disable_geoip if disable_geoip is None else disable_geoip
            keys = undecided if definitions is not None else None
            remote = self._remote(did, groups, person_properties, group_properties, geoip, keys)
            if remote is not None:
                results.update(remote.flags)
        flags: Dict[str, Any] = {k: r.value for k, r in results.items()}
        payloads = {k: r.payload for k, r in results.items() if r.payload is not None}
        for key, value in (self._overrides or {}).items():
            flags[key] = value
        payloads.update(self._override_payloads or {})
        return {"featureFlags": flags, "featureFlagPayloads": payloads}

    def get_all_flags(self, distinct_id: Any, **kwargs: Any) -> Dict[str, Any]:
        """Every flag's value for ``distinct_id`` (local first, the server for the rest)."""
        return self.get_all_flags_and_payloads(distinct_id, **kwargs)["featureFlags"]

    def get_remote_config_payload(self, key: str) -> Any:
        """A remote-config flag's payload, from the server (needs ``personal_api_key``)."""
        options = self._require_open()
        if not options.personal_api_key:
            logger.warning("analytics-compat: get_remote_config_payload needs a personal_api_key")
            return None
        url = f"{options.host}/api/projects/@current/feature_flags/{key}/remote_config/"
        try:
            response = self._flags_session.get(
                url,
                params={"token": options.secret},
                headers={"Authorization": f"Bearer {options.personal_api_key}"},
                timeout=options.flags_request_timeout,
            )
        except requests.RequestException as exc:
            self._emitter.emit("error", TransportError(f"{type(exc).__name__} on remote config"))
            return None
        with response:
            if response.status_code != 200:
                self._emitter.emit("error", HTTPStatusError(response.status_code, retryable=False))
                return None
            try:
                body = response.json()
            except ValueError:
                return None
        if isinstance(body, str):
            try:
                return json.loads(body)
            except ValueError:
                return body
        return body

    # -- send_feature_flags=True on capture/track ------------------------------------
    def _add_flag_properties(
        self, message: Message, groups: Optional[Mapping[str, Any]] = None
    ) -> None:
        flags = self.get_all_flags(
            message.distinct_id, groups=groups, only_evaluate_locally=self._definitions is not None
        )
        for key, value in flags.items():
            message.properties[f"$feature/{key}"] = value
        message.properties["$active_feature_flags"] = sorted(
            key for key, value in flags.items() if value is not False
        )
