"""Every flag at once, remote config, and flags on captured events: built on the service.

Owns ``all_flags_and_payloads`` (local evaluation first, then one ``/flags`` request
for just the flags that could not be decided locally), ``remote_config_payload``
(a remote-config flag's payload from the app API, with the personal API key) and
``feature_flags_stage``: the pipeline stage that adds ``$feature/<key>`` and
``$active_feature_flags`` to an event whose call asked for ``send_feature_flags``.
Single-flag evaluation and the poller are ``_flag_service``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import requests

from . import _lazy_flags as _lazy
from ._events import Message, check_distinct_id
from ._flag_service import FlagService
from ._pipeline import Hint, Stage
from .errors import HTTPStatusError, TransportError

if TYPE_CHECKING:
    from .flags import FlagResult

__all__ = ["all_flags_and_payloads", "feature_flags_stage", "remote_config_payload"]

logger = logging.getLogger("analytics_compat")


def all_flags_and_payloads(
    service: FlagService,
    distinct_id: Any,
    *,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    disable_geoip: Optional[bool] = None,
) -> Dict[str, Dict[str, Any]]:
    """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}``."""
    if service.disabled:
        return {"featureFlags": {}, "featureFlagPayloads": {}}
    config = service.require_open()
    did = check_distinct_id(distinct_id, "distinct_id")
    results: Dict[str, FlagResult] = {}
    undecided: list[str] = []
    definitions = service.definitions
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
        geoip = config.disable_geoip if disable_geoip is None else disable_geoip
        keys = undecided if definitions is not None else None
        remote = service.remote(did, groups, person_properties, group_properties, geoip, keys)
        if remote is not None:
            results.update(remote.flags)
    flags: Dict[str, Any] = {k: r.value for k, r in results.items()}
    payloads = {k: r.payload for k, r in results.items() if r.payload is not None}
    for key, value in (service.overrides or {}).items():
        flags[key] = value
    payloads.update(service.override_payloads or {})
    return {"featureFlags": flags, "featureFlagPayloads": payloads}


def remote_config_payload(service: FlagService, key: str) -> Any:
    """A remote-config flag's payload, from the server (needs ``personal_api_key``)."""
    if service.disabled:
        return None
    config = service.require_open()
    if not config.personal_api_key:
        logger.warning("analytics-compat: get_remote_config_payload needs a personal_api_key")
        return None
    url = f"{config.host}/api/projects/@current/feature_flags/{key}/remote_config/"
    try:
        response = service.session.get(
            url,
            params={"token": config.secret},
            headers={"Authorization": f"Bearer {config.personal_api_key}"},
            timeout=config.request_timeout,
        )
    except requests.RequestException as exc:
        service.report(TransportError(f"{type(exc).__name__} on remote config"))
        return None
    with response:
        if response.status_code != 200:
            service.report(HTTPStatusError(response.status_code, retryable=False))
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


def feature_flags_stage(service: FlagService) -> Stage:
    """``$feature/<key>`` and ``$active_feature_flags`` for calls with ``send_feature_flags``.

    With definitions loaded this is local only; without, it costs one ``/flags``
    request on the caller's thread (as posthog-python's ``send_feature_flags``).
    """

    def add_flags(message: Message, hint: Optional[Hint]) -> Optional[Message]:
        request = hint.feature_flags if hint is not None else None
        if request is None:
            return message
        flags = all_flags_and_payloads(
            service,
            message.distinct_id,
            only_evaluate_locally=service.definitions is not None,
            **request,
        )["featureFlags"]
        for key, value in flags.items():
            message.properties[f"$feature/{key}"] = value
        message.properties["$active_feature_flags"] = sorted(
            key for key, value in flags.items() if value is not False
        )
        return message

    return Stage("feature_flags", add_flags, needs_hint=True)
