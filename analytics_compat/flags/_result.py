"""The result of a flag evaluation, and the reasons it can carry.

Owns ``FlagResult`` (shared by local and remote evaluation) and ``Reason``. It
must not know how a result is computed or fetched.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import attrs

__all__ = ["REASON_RANK", "FlagResult", "FlagValue", "Reason"]

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
