"""How the flag calls' options are spelled -> one canonical form (pure).

Owns the reading of:

- ``flags=snapshot`` and ``send_feature_flags`` / ``sendFeatureFlags`` on ``capture``
  and ``track``: True, or an options object (posthog-python's ``only_evaluate_locally``,
  ``person_properties``, ``group_properties``, ``flag_keys_filter``, also ``flag_keys``;
  posthog-node's ``onlyEvaluateLocally``, ``personProperties``, ``groupProperties``,
  ``flagKeys``), turned into the ``Hint`` the ``feature_flags`` stage reads; a snapshot
  wins over ``send_feature_flags`` (with a warning);
- posthog-node's options object, the last argument of its flag methods (``groups``,
  ``personProperties``, ``groupProperties``, ``onlyEvaluateLocally``,
  ``sendFeatureFlagEvents``, ``disableGeoip``, ``flagKeys``) -> our keyword arguments;
- ``override_feature_flags``'s forms (posthog-node's and ours).

Knows nothing about evaluation, the service or the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Dict, Optional, Sequence, Tuple

from ._flag_snapshot import FeatureFlagEvaluations
from ._pipeline import Hint
from .errors import ValidationError

__all__ = ["KEEP", "flags_hint", "node_flag_options", "override_forms"]

logger = logging.getLogger("analytics_compat")

KEEP: Any = object()  # override_feature_flags(): the payloads argument was not given
FlagValue = Any

# send_feature_flags options: each spelling -> (canonical name, SDK). posthog-python's
# only_evaluate_locally=False asks the server; posthog-node's false prefers local.
_SEND_OPTIONS = {
    "should_send": "should_send",
    "only_evaluate_locally": "only_evaluate_locally",
    "onlyEvaluateLocally": "onlyEvaluateLocally",
    "person_properties": "person_properties",
    "personProperties": "person_properties",
    "group_properties": "group_properties",
    "groupProperties": "group_properties",
    "flag_keys_filter": "flag_keys",
    "flag_keys": "flag_keys",
    "flagKeys": "flag_keys",
}


def flags_hint(
    send_feature_flags: Any, flags: Any, groups: Any, disable_geoip: Optional[bool]
) -> Optional[Hint]:
    """The ``Hint`` for a call's ``flags`` / ``send_feature_flags`` (None: neither asked)."""
    if flags is not None:
        if not isinstance(flags, FeatureFlagEvaluations):
            raise ValidationError(
                f"flags must be the snapshot evaluate_flags() returns (not {type(flags).__name__})",
                field="flags",
            )
        if send_feature_flags:
            logger.warning(
                "capture() got both flags and send_feature_flags; "
                "using flags and ignoring send_feature_flags"
            )
        return Hint(flag_properties=flags.event_properties())
    if not send_feature_flags:
        return None
    request: Dict[str, Any] = {"groups": groups, "disable_geoip": disable_geoip, "mode": "auto"}
    if send_feature_flags is True:
        return Hint(feature_flags=request)
    if not isinstance(send_feature_flags, Mapping):
        raise ValidationError(
            "send_feature_flags takes True/False or an options mapping "
            f"(not {type(send_feature_flags).__name__})",
            field="send_feature_flags",
        )
    for name, value in send_feature_flags.items():
        canonical = _SEND_OPTIONS.get(name)
        if canonical is None:
            raise ValidationError(
                f"send_feature_flags got an unknown option {name!r} (known: "
                f"{', '.join(sorted(_SEND_OPTIONS))})",
                field=f"send_feature_flags.{name}",
            )
        if canonical == "should_send":
            if not value:
                return None
        elif canonical == "only_evaluate_locally":
            request["mode"] = "auto" if value is None else "local" if value else "remote"
        elif canonical == "onlyEvaluateLocally":
            request["mode"] = "local" if value else "auto"
        elif canonical == "flag_keys":
            request["flag_keys"] = None if value is None else _key_list(value, name)
        else:
            request[canonical] = value
    return Hint(feature_flags=request)


def _key_list(value: Any, field: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(f"{field} must be a list of flag keys", field=field)
    if not all(isinstance(k, str) and k for k in value):
        raise ValidationError(f"{field}: flag keys must be non-empty strings", field=field)
    return list(value)


# posthog-node's flag options -> our keywords (None: the call does not take it)
_NODE_OPTIONS = {
    "groups": "groups",
    "personProperties": "person_properties",
    "groupProperties": "group_properties",
    "onlyEvaluateLocally": "only_evaluate_locally",
    "sendFeatureFlagEvents": "send_feature_flag_events",
    "disableGeoip": "disable_geoip",
    "flagKeys": "flag_keys_to_evaluate",
    "deviceId": "device_id",
}


def node_flag_options(call: str, options: Any, allowed: frozenset[str]) -> Dict[str, Any]:
    """posthog-node's options object (camelCase, snake_case accepted) -> our keywords."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValidationError(
            f"{call}() takes posthog-node's options object as its last argument",
            field="options",
        )
    kwargs: Dict[str, Any] = {}
    for name, value in options.items():
        keyword = _NODE_OPTIONS.get(name, name)
        if keyword not in allowed:
            known = sorted(k for k, v in _NODE_OPTIONS.items() if v in allowed)
            raise ValidationError(
                f"{call}() got an unknown option {name!r} (posthog-node's are: {', '.join(known)})",
                field=str(name),
            )
        if value is not None:
            kwargs[keyword] = value
    return kwargs


def override_forms(
    overrides: Any,
    payloads: Any,
    flags_now: Optional[Dict[str, FlagValue]],
    payloads_now: Optional[Dict[str, Any]],
) -> Tuple[Optional[Dict[str, FlagValue]], Optional[Dict[str, Any]]]:
    """The (flag, payload) overrides after ``override_feature_flags(overrides, payloads)``.

    posthog-node's forms: ``False`` clears both; a list of keys sets them to True; a
    mapping sets those values; ``{"flags": ..., "payloads": ...}`` (when ``flags`` is a
    mapping, a list or False, or ``payloads`` a mapping or False: ``{"flags": True}`` is
    a flag named "flags") sets or clears each part it names, leaving the other as it is.
    ``None`` clears both. ``payloads``, when given, sets (None clears) the payload
    overrides; when not given, the list and mapping forms leave them as they are.
    """
    if overrides is False or overrides is None:
        return None, None if payloads is KEEP else _payloads(payloads)
    if isinstance(overrides, (list, tuple)):
        flags: Optional[Dict[str, FlagValue]] = _keys_on(overrides, "overrides")
    elif not isinstance(overrides, Mapping):
        raise ValidationError(
            "override_feature_flags() takes False, None, a list of keys or a mapping",
            field="overrides",
        )
    elif _options_form(overrides):
        flags, part_payloads = flags_now, payloads_now
        if overrides.get("flags") is not None:
            given = overrides["flags"]
            flags = None if given is False else _flag_values(given)
        if overrides.get("payloads") is not None:
            part_payloads = _payloads(overrides["payloads"])
        return flags, part_payloads if payloads is KEEP else _payloads(payloads)
    else:
        flags = _flag_values(overrides)
    return flags, payloads_now if payloads is KEEP else _payloads(payloads)


def _options_form(overrides: Mapping[Any, Any]) -> bool:
    flags, payloads = overrides.get("flags", True), overrides.get("payloads", True)
    return (
        flags is False
        or isinstance(flags, (Mapping, list, tuple))
        or payloads is False
        or isinstance(payloads, Mapping)
    )


def _keys_on(keys: Sequence[Any], field: str) -> Dict[str, FlagValue]:
    if not all(isinstance(k, str) and k for k in keys):
        raise ValidationError(f"{field}: flag keys must be non-empty strings", field=field)
    return {k: True for k in keys}


def _flag_values(given: Any) -> Dict[str, FlagValue]:
    if isinstance(given, (list, tuple)):
        return _keys_on(given, "flags")
    if not isinstance(given, Mapping):
        raise ValidationError("flags: a mapping, a list of keys or False", field="flags")
    for key, value in given.items():
        if not isinstance(key, str) or not isinstance(value, (bool, str)):
            raise ValidationError(
                f"flags: {key!r} must map to True, False or a variant name", field="flags"
            )
    return dict(given)


def _payloads(given: Any) -> Optional[Dict[str, Any]]:
    if given is None or given is False:
        return None
    if not isinstance(given, Mapping):
        raise ValidationError("payloads: a mapping of flag key to payload", field="payloads")
    return dict(given)
