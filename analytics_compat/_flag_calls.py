"""Every flag at once, snapshots, remote config, and flags on captured events.

Built on the flags service. Owns ``evaluate_set`` (overrides, then local evaluation
of every flag or of the asked keys, then ONE ``/flags`` request for just what is
left: the undecided flags and the asked keys the definitions lack; none with
``only_evaluate_locally``), and on it ``all_flags_and_payloads`` (posthog-python's
``get_all_flags*``) and ``evaluate_flags`` (the ``FeatureFlagEvaluations`` snapshot,
whose reads send ``$feature_flag_called`` through the service's deduplication and
the ``submit`` callable it is given); ``remote_config_payload`` (a remote-config
flag's payload from the app API, with the personal API key); and
``feature_flags_stage``: the pipeline stage that adds ``$feature/<key>`` and
``$active_feature_flags`` to an event whose call gave a ``flags=`` snapshot (its
values, as they are) or asked for ``send_feature_flags`` (evaluated then). The
event's own properties win over both. Single-flag evaluation and the poller are
``_flag_service``; how the options are spelled is ``_flag_options``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import attrs
import requests

from . import _contexts
from . import _lazy_flags as _lazy
from ._events import Message, check_distinct_id
from ._flag_service import FlagService
from ._flag_snapshot import FeatureFlagEvaluations
from ._pipeline import Hint, Stage
from .errors import HTTPStatusError, TransportError, ValidationError

if TYPE_CHECKING:
    from .flags import FlagResult, RemoteFlags

__all__ = [
    "all_flags_and_payloads",
    "evaluate_flags",
    "evaluate_set",
    "feature_flags_stage",
    "remote_config_payload",
]

logger = logging.getLogger("analytics_compat")

Groups = Optional[Mapping[str, Any]]
Props = Optional[Mapping[str, Any]]
GroupProps = Optional[Mapping[str, Mapping[str, Any]]]
EvaluatedSet = Tuple[Dict[str, "FlagResult"], Dict[str, str], Optional["RemoteFlags"]]


def key_list(value: Any, field: str) -> Optional[List[str]]:
    """A list of flag keys as given (duplicates dropped), or None for every flag."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(f"{field} must be a list of flag keys", field=field)
    if not all(isinstance(k, str) and k for k in value):
        raise ValidationError(f"{field}: flag keys must be non-empty strings", field=field)
    return list(dict.fromkeys(value))


def evaluate_set(
    service: FlagService,
    did: str,
    keys: Optional[List[str]],
    groups: Groups,
    person_properties: Props,
    group_properties: GroupProps,
    only_evaluate_locally: bool,
    disable_geoip: Optional[bool],
    device_id: Optional[str],
) -> EvaluatedSet:
    """``(results, unresolved, remote)``: the values found for ``keys`` (None: every flag);
    the local reason of each flag that has a definition and still no value; the
    ``/flags`` answer if one was asked for."""
    config = service.require_open()
    overrides = service.overrides or {}
    results: Dict[str, FlagResult] = {}
    for key, value in overrides.items():
        if keys is None or key in keys:
            results[key] = service.overridden(key, value)
    unresolved: Dict[str, str] = {}
    definitions = service.definitions
    if definitions is not None:
        evaluated = _lazy.flags().evaluate_all(
            definitions,
            did,
            groups=groups,
            person_properties=person_properties,
            group_properties=group_properties,
            device_id=device_id,
            keys=keys,
        )
        for key, result in evaluated.items():
            if key in results:
                continue
            if result.decided:
                results[key] = result
            else:
                unresolved[key] = result.reason
    remote: Optional[RemoteFlags] = None
    if not only_evaluate_locally:
        ask: Optional[List[str]] = None  # no definitions, no keys: ask for every flag
        if definitions is not None or keys is not None:
            ask = list(unresolved)
            ask += [k for k in keys or () if k not in results and k not in unresolved]
        if ask is None or ask:
            geoip = config.disable_geoip if disable_geoip is None else disable_geoip
            remote = service.remote(
                did, groups, person_properties, group_properties, geoip, ask, device_id
            )
            for key, result in remote.flags.items():
                if key not in results and (ask is None or key in ask):
                    results[key] = result
                    unresolved.pop(key, None)
    payloads = service.override_payloads
    if payloads:
        for key in payloads.keys() & results.keys():
            results[key] = attrs.evolve(results[key], payload=payloads[key])
    return results, unresolved, remote


def all_flags_and_payloads(
    service: FlagService,
    distinct_id: Any,
    *,
    groups: Groups = None,
    person_properties: Props = None,
    group_properties: GroupProps = None,
    only_evaluate_locally: bool = False,
    disable_geoip: Optional[bool] = None,
    flag_keys_to_evaluate: Optional[Sequence[str]] = None,
    device_id: Optional[str] = None,
) -> Dict[str, Dict[str, Any]]:
    """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}``."""
    if service.disabled:
        return {"featureFlags": {}, "featureFlagPayloads": {}}
    did = check_distinct_id(distinct_id, "distinct_id")
    keys = key_list(flag_keys_to_evaluate, "flag_keys_to_evaluate")
    results, _unresolved, _remote = evaluate_set(
        service, did, keys, groups, person_properties, group_properties,
        only_evaluate_locally, disable_geoip, device_id,
    )  # fmt: skip
    flags: Dict[str, Any] = {k: r.value for k, r in results.items()}
    payloads = {k: r.payload for k, r in results.items() if r.payload is not None}
    for key, payload in (service.override_payloads or {}).items():
        if keys is None or key in keys:
            payloads[key] = payload
    return {"featureFlags": flags, "featureFlagPayloads": payloads}


def evaluate_flags(
    service: FlagService,
    submit: Callable[[Message], Any],
    distinct_id: Any = None,
    *,
    groups: Groups = None,
    person_properties: Props = None,
    group_properties: GroupProps = None,
    flag_keys: Optional[Sequence[str]] = None,
    only_evaluate_locally: bool = False,
    disable_geoip: Optional[bool] = None,
    device_id: Optional[str] = None,
) -> FeatureFlagEvaluations:
    """A snapshot of the flags of ``distinct_id`` (None: the context's); see the module."""
    miss = _lazy.flags().Miss
    if service.disabled:
        return FeatureFlagEvaluations("", {}, empty_reason=miss.DISABLED)
    service.require_open()
    if distinct_id is None:
        scope = _contexts.current()
        distinct_id = None if scope is None else scope.distinct_id
    if distinct_id is None or distinct_id == "":
        return FeatureFlagEvaluations("", {}, empty_reason=miss.NO_DISTINCT_ID)
    did = check_distinct_id(distinct_id, "distinct_id")
    keys = key_list(flag_keys, "flag_keys")
    if keys == []:  # posthog-python: an empty list evaluates nothing
        return FeatureFlagEvaluations(did, {}, scope=set())
    results, unresolved, remote = evaluate_set(
        service, did, keys, groups, person_properties, group_properties,
        only_evaluate_locally, disable_geoip, device_id,
    )  # fmt: skip

    def report(result: FlagResult, send: Optional[bool]) -> None:
        config = service.config
        if send is None:
            send = config is not None and config.send_events
        if send:
            called = service.called(did, result, groups)
            if called is not None:
                submit(called)

    local_only = (
        miss.FLAG_UNKNOWN if service.definitions is not None else miss.DEFINITIONS_NOT_LOADED
    )
    return FeatureFlagEvaluations(
        did,
        results,
        report=report,
        unresolved=unresolved,
        scope=None if keys is None else set(keys),
        remote=remote,
        local_only_reason=local_only,
    )


def remote_config_payload(service: FlagService, key: str) -> Any:
    """A remote-config flag's payload, from the server (needs ``personal_api_key``)."""
    if service.disabled:
        return None
    config = service.require_open()
    if not config.personal_api_key:
        logger.warning("get_remote_config_payload needs a personal_api_key")
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


def _requested(service: FlagService, did: str, request: Mapping[str, Any]) -> Dict[str, Any]:
    """The flag values ``send_feature_flags`` asked for (its mode: local, remote, auto)."""
    mode = request.get("mode", "auto")
    local = mode == "local" or (mode == "auto" and service.definitions is not None)
    if mode == "remote":
        if service.disabled:
            return {}
        config = service.require_open()
        geoip = request.get("disable_geoip")
        remote = service.remote(
            did,
            request.get("groups"),
            request.get("person_properties"),
            request.get("group_properties"),
            config.disable_geoip if geoip is None else geoip,
            request.get("flag_keys"),
        )
        return {k: r.value for k, r in remote.flags.items()}
    return all_flags_and_payloads(
        service,
        did,
        groups=request.get("groups"),
        person_properties=request.get("person_properties"),
        group_properties=request.get("group_properties"),
        only_evaluate_locally=local,
        disable_geoip=request.get("disable_geoip"),
        flag_keys_to_evaluate=request.get("flag_keys"),
    )["featureFlags"]


def feature_flags_stage(service: FlagService) -> Stage:
    """``$feature/<key>`` and ``$active_feature_flags`` for calls with ``flags=`` or
    ``send_feature_flags``; the event's own properties win.

    A snapshot's values are added as they are. ``send_feature_flags`` is local only
    with definitions loaded; without, it costs one ``/flags`` request on the caller's
    thread (as posthog-python's).
    """

    def add_flags(message: Message, hint: Optional[Hint]) -> Optional[Message]:
        if hint is None:
            return message
        added = hint.flag_properties
        if added is None:
            request = hint.feature_flags
            if request is None or message.distinct_id is None:
                return message
            flags = _requested(service, message.distinct_id, request)
            added = {f"$feature/{key}": value for key, value in flags.items()}
            active = sorted(key for key, value in flags.items() if value is not False)
            if active:
                added["$active_feature_flags"] = active
        properties = message.properties
        for name, value in added.items():
            if name not in properties:
                properties[name] = value
        return message

    return Stage("feature_flags", add_flags, needs_hint=True)
