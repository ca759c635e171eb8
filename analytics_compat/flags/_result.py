"""The result of a flag evaluation, the reasons it can carry, and why a call got none.

Owns ``FlagResult`` (shared by local and remote evaluation) and ``Reason``, and
``FlagMiss`` with its ``Miss`` reasons: what a call that returned no value (None)
can say about why. It must not know how a result is computed or fetched.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import attrs

from analytics_compat.errors import DeliveryError

__all__ = ["REASON_RANK", "FlagMiss", "FlagResult", "FlagValue", "Miss", "Reason"]

FlagValue = Union[bool, str]


class Reason:
    """The ``FlagResult.reason`` strings."""

    CONDITION_MATCH = "condition_match"
    NO_CONDITION_MATCH = "no_condition_match"
    OUT_OF_ROLLOUT_BOUND = "out_of_rollout_bound"
    FLAG_DISABLED = "flag_disabled"
    HOLDOUT = "holdout"
    NO_GROUP = "no_group_type"
    """A group flag whose group was not passed: False, as the server would say."""
    FEATURE_ENROLLMENT = "feature_enrollment"
    # Undecided (decided=False), most specific first:
    EXPERIENCE_CONTINUITY = "experience_continuity"
    UNSUPPORTED_DEFINITION = "unsupported_definition"
    UNSUPPORTED_REGEX = "unsupported_regex"
    """A regex whose meaning on the flag service is not certain here (e.g. ``\\b``, lookaround)."""
    STATIC_COHORT = "static_cohort"
    UNRESOLVED_DEPENDENCY = "unresolved_dependency"
    MISSING_GROUP_PROPERTIES = "missing_group_properties"
    MISSING_DEVICE_ID = "missing_device_id"
    MISSING_PROPERTY = "missing_property"
    INVALID_PROPERTY_VALUE = "invalid_property_value"
    UNDECIDABLE_REGEX_VALUE = "undecidable_regex_value"
    """A value a regex cannot be decided on here (too costly, or text the service may see
    differently): the service decides it."""


REASON_RANK = {
    reason: rank
    for rank, reason in enumerate(
        (
            Reason.EXPERIENCE_CONTINUITY,
            Reason.UNSUPPORTED_DEFINITION,
            Reason.UNSUPPORTED_REGEX,
            Reason.STATIC_COHORT,
            Reason.UNRESOLVED_DEPENDENCY,
            Reason.MISSING_GROUP_PROPERTIES,
            Reason.MISSING_DEVICE_ID,
            Reason.MISSING_PROPERTY,
            Reason.INVALID_PROPERTY_VALUE,
            Reason.UNDECIDABLE_REGEX_VALUE,
        )
    )
}


@attrs.frozen
class FlagResult:
    """The outcome of one flag for one caller.

    ``value`` is False when disabled, True or the variant key when enabled.
    ``decided`` False means "cannot decide locally": ask the server; ``reason``
    then says why. ``payload`` is the decoded JSON payload for the value, or None.
    ``locally_evaluated`` is False (and ``request_id`` set, if the server sent one)
    for results from ``remote.fetch_remote_flags``.
    """

    key: str
    value: FlagValue
    variant: Optional[str]
    payload: Any
    reason: str
    condition_index: Optional[int] = None
    decided: bool = True
    flag_id: Optional[int] = None
    version: Optional[int] = None
    locally_evaluated: bool = True
    request_id: Optional[str] = None

    @property
    def enabled(self) -> bool:
        return self.value is not False

    def get_value(self) -> FlagValue:
        """The variant if there is one, else whether the flag is enabled (posthog-python's
        ``FeatureFlagResult.get_value()``: what ``$feature_flag_response`` reports)."""
        return self.value  # already the variant, or True / False


class Miss:
    """The ``FlagMiss.reason`` strings: why a call has no value for a flag.

    Besides these, ``reason`` is one of ``Reason``'s undecided reasons (``missing_property``,
    ``unsupported_regex``, ``undecidable_regex_value``, ...) when the flag could not be
    decided locally and the server was not asked (``only_evaluate_locally``).
    """

    FLAG_UNKNOWN = "flag_unknown"
    """Neither the loaded definitions nor the server know the key."""
    DEFINITIONS_NOT_LOADED = "definitions_not_loaded"
    """``only_evaluate_locally`` and no definitions are loaded (yet)."""
    SERVER_UNREACHABLE = "server_unreachable"
    """The ``/flags`` request got no answer: refused, timed out, or 502/504 twice."""
    SERVER_ERROR = "server_error"
    """The ``/flags`` request got an answer that is not one: another error status (401 for
    a wrong project key, 500) or a body that is not a JSON object."""
    QUOTA_LIMITED = "quota_limited"
    """The server evaluated no flags: the project's feature-flag quota is used up."""
    EVALUATION_FAILED = "evaluation_failed"
    """The server answered but could not compute this flag (``errorsWhileComputingFlags``)."""
    DISABLED = "disabled"
    """The client is disabled (``disabled=True``): no answers, no requests."""
    NO_DISTINCT_ID = "no_distinct_id"
    """``evaluate_flags()`` without a distinct id, outside a context that has one."""
    NOT_REQUESTED = "not_requested"
    """A snapshot read of a key outside the ``flag_keys`` it was evaluated for."""


@attrs.frozen
class FlagMiss:
    """Why a flag call returned no value for ``key``.

    ``reason`` is a ``Miss`` string or, when the server was not asked, the local reason.
    ``local_reason`` is why local evaluation could not decide (None when the flag had no
    loaded definition); ``error`` the delivery error of the ``/flags`` request, if any
    (also given to the client's ``error`` listeners). Holds no key, token or payload.
    """

    key: str
    reason: str
    local_reason: Optional[str] = None
    error: Optional[DeliveryError] = None
