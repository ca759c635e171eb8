"""A snapshot of one caller's flags: what ``evaluate_flags()`` returns.

Owns ``FeatureFlagEvaluations`` (posthog-python 7's name and methods): the values
evaluated once for one distinct id, read as often as the code likes with no further
request; reading a flag (``is_enabled``, ``get_flag``) reports it through the
``report`` callable it was given (the flags service's deduplicated
``$feature_flag_called``, submitted by the client), reading a payload reports nothing.
``capture(..., flags=snapshot)`` attaches ``event_properties()``. For a key without a
value, ``miss(key)`` says why (``FlagMiss``). It must not know how the values were
evaluated, nor anything about the engine: it only holds results and calls ``report``.
"""

from __future__ import annotations

import logging
import threading
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Set

if TYPE_CHECKING:
    from .flags import FlagMiss, FlagResult, RemoteFlags

__all__ = ["FeatureFlagEvaluations", "Report"]

logger = logging.getLogger("analytics_compat")

FlagValue = Any  # True, False or a variant key
# A read of a flag: send $feature_flag_called (the bool: the call's send_feature_flag_events).
Report = Callable[["FlagResult", Optional[bool]], None]


class FeatureFlagEvaluations:
    """A point-in-time set of flag values for one distinct id (``Client.evaluate_flags``).

    Branch on ``is_enabled`` / ``get_flag``, then pass the same object to
    ``capture(..., flags=snapshot)`` (or ``track({..., "flags": snapshot})``) so the
    event carries exactly the values the code branched on. ``keys`` (also iteration,
    ``in`` and ``len``) are the flags that have a value; ``unresolved_flags`` maps the
    flags local evaluation could not decide, and no server answer filled, to the local
    reason; ``miss(key)`` says why any key has no value.
    """

    def __init__(
        self,
        distinct_id: str,
        results: Mapping[str, FlagResult],
        *,
        report: Optional[Report] = None,
        unresolved: Optional[Mapping[str, str]] = None,
        scope: Optional[Set[str]] = None,
        remote: Optional[RemoteFlags] = None,
        empty_reason: Optional[str] = None,
        local_only_reason: Optional[str] = None,
    ) -> None:
        """Built by ``evaluate_flags()``; not meant to be built by hand."""
        self._distinct_id = distinct_id
        self._results = dict(results)
        self._report = report
        self._unresolved = dict(unresolved or {})
        self._scope = scope  # the flag_keys asked for (None: every flag)
        self._remote = remote  # the /flags answer, when one was asked for
        self._empty_reason = empty_reason  # why nothing was evaluated at all
        self._local_only_reason = local_only_reason  # why a key without a definition is None
        self._accessed: Set[str] = set()
        self._lock = threading.Lock()

    # -- reads -------------------------------------------------------------------------
    def is_enabled(
        self,
        key: str,
        default_value: bool = False,
        *,
        send_feature_flag_events: Optional[bool] = None,
    ) -> bool:
        """Whether the flag is on; ``default_value`` when the snapshot has no value for it.

        A flag that has a value wins over ``default_value``, a disabled one included.
        Sends ``$feature_flag_called`` (deduplicated per distinct id, flag and value, as
        every flag call) unless ``send_feature_flag_events`` is False, or None and the
        client's ``send_feature_flag_events`` option is off.
        """
        result = self._read(key, send_feature_flag_events)
        return default_value if result is None else result.value is not False

    def get_flag(self, key: str, *, send_feature_flag_events: Optional[bool] = None) -> Any:
        """The variant key, True, or False (disabled); None without a value (see ``miss``)."""
        result = self._read(key, send_feature_flag_events)
        return None if result is None else result.value

    def get_flag_payload(self, key: str) -> Any:
        """The flag's decoded JSON payload; sends nothing, and is not counted as a read."""
        result = self._results.get(key)
        return None if result is None else result.payload

    get_payload = get_flag_payload

    def get_result(self, key: str) -> Optional[FlagResult]:
        """The whole ``FlagResult`` (reason, source, ids); neither reported nor a read."""
        return self._results.get(key)

    def _read(self, key: str, send: Optional[bool]) -> Optional[FlagResult]:
        with self._lock:
            self._accessed.add(key)
        result = self._results.get(key)
        if result is not None and send is not False and self._report is not None:
            self._report(result, send)
        return result

    # -- what it holds -----------------------------------------------------------------
    @property
    def distinct_id(self) -> str:
        return self._distinct_id

    @property
    def keys(self) -> List[str]:
        """The keys of the flags that have a value, in evaluation order."""
        return list(self._results)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._results))

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, key: object) -> bool:
        return key in self._results

    @property
    def unresolved_flags(self) -> Mapping[str, str]:
        """Flag key -> why local evaluation left it without a value (``Reason``'s undecided
        reasons: ``missing_property``, ``unsupported_regex``, ``undecidable_regex_value``,
        ...), for flags no server answer filled in. Reading it is not a read of a flag."""
        return MappingProxyType(self._unresolved)

    def miss(self, key: str) -> Optional[FlagMiss]:
        """Why ``key`` has no value here (None when it has one): see the README's table."""
        if key in self._results:
            return None
        from .flags import FlagMiss, Miss  # loaded already: it made this snapshot's values

        local_reason = self._unresolved.get(key)
        if self._empty_reason is not None:
            return FlagMiss(key, self._empty_reason)
        if self._scope is not None and key not in self._scope:
            return FlagMiss(key, Miss.NOT_REQUESTED)
        if self._remote is not None:
            return self._remote.miss(key, local_reason)
        if local_reason is not None:
            return FlagMiss(key, local_reason, local_reason)
        return FlagMiss(key, self._local_only_reason or Miss.FLAG_UNKNOWN)

    # -- narrowing ---------------------------------------------------------------------
    def only_accessed(self) -> FeatureFlagEvaluations:
        """A copy holding only the flags read so far (``is_enabled`` / ``get_flag``)."""
        with self._lock:
            accessed = set(self._accessed)
        return self._copy({k: r for k, r in self._results.items() if k in accessed})

    def only(self, keys: List[str]) -> FeatureFlagEvaluations:
        """A copy holding only ``keys``; keys it does not hold are left out, with a warning."""
        missing = [key for key in keys if key not in self._results]
        if missing:
            logger.warning(
                "FeatureFlagEvaluations.only() left out %d key(s) the "
                "snapshot has no value for: %s",
                len(missing),
                ", ".join(missing),
            )
        wanted = set(keys)
        return self._copy({k: r for k, r in self._results.items() if k in wanted})

    def _copy(self, results: Dict[str, FlagResult]) -> FeatureFlagEvaluations:
        copy = FeatureFlagEvaluations(
            self._distinct_id,
            results,
            report=self._report,
            scope=set(results),
            remote=None,
            empty_reason=self._empty_reason,
        )
        with self._lock:
            copy._accessed = set(self._accessed)
        return copy

    # -- events --------------------------------------------------------------------------
    def event_properties(self) -> Dict[str, Any]:
        """``$feature/<key>`` for every flag held and ``$active_feature_flags`` (sorted
        keys of the enabled ones, left out when none is): what ``flags=`` attaches."""
        properties: Dict[str, Any] = {}
        active: List[str] = []
        for key, result in self._results.items():
            properties[f"$feature/{key}"] = result.value
            if result.value is not False:
                active.append(key)
        if active:
            properties["$active_feature_flags"] = sorted(active)
        return properties

    def __repr__(self) -> str:
        return f"<FeatureFlagEvaluations {len(self._results)} flags>"
