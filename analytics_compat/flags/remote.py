"""Server-side flag evaluation through PostHog's ``POST /flags/?v=2``.

Owns ``fetch_remote_flags``: builds the request body (project key, distinct id,
groups, person and group properties, geoip switch, optional key list and device id), sends it
without an ``Authorization`` header, retries once on 502/504 or a network error,
and parses both the v2 answer (``flags: {key: {enabled, variant, reason,
metadata}}``) and the legacy ``/decide`` answer (``featureFlags`` +
``featureFlagPayloads``) into ``FlagResult`` values with payloads decoded. It
honours ``quotaLimited`` and ``errorsWhileComputingFlags`` (the keys the server marked
failed are kept apart), and ``RemoteFlags.miss`` says why a key has no value in an answer.

It never raises for a delivery problem: the result carries an ``error`` (an
``analytics_compat.errors.DeliveryError``). Error text never contains the key.

It must not know about local evaluation rules, polling or the client.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Mapping, Optional, Sequence

import attrs
import requests

from analytics_compat.errors import (
    DeliveryError,
    HTTPStatusError,
    RetriesExhaustedError,
    TransportError,
)
from analytics_compat.flags._result import FlagMiss, Miss
from analytics_compat.flags.evaluator import FlagResult
from analytics_compat.flags.model import decode_payload

__all__ = ["REMOTE_REASON", "RemoteFlags", "fetch_remote_flags", "parse_flags_response"]

logger = logging.getLogger(__name__)

REMOTE_REASON = "remote_evaluation"
"""``FlagResult.reason`` when the server did not give one (legacy answers)."""

_RETRY_STATUSES = frozenset({502, 504})


@attrs.frozen(kw_only=True)
class RemoteFlags:
    """What the server said. ``error`` is set (and ``flags`` empty) when the call failed."""

    flags: Mapping[str, FlagResult] = attrs.field(factory=dict)
    request_id: Optional[str] = None
    quota_limited: bool = False
    errors_while_computing: bool = False
    error: Optional[DeliveryError] = None
    failed: frozenset[str] = frozenset()
    """Keys the server listed but could not compute (``"failed": true``)."""
    unreachable: bool = False
    """With ``error``: no answer came (network, timeout, 502/504 on both attempts)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def miss(self, key: str, local_reason: Optional[str] = None) -> FlagMiss:
        """Why ``key`` has no value in this answer (``local_reason``: why it was asked)."""
        error = self.error
        if error is not None:
            reason = Miss.SERVER_UNREACHABLE if self.unreachable else Miss.SERVER_ERROR
        elif self.quota_limited:
            reason = Miss.QUOTA_LIMITED
        elif key in self.failed or self.errors_while_computing:
            reason = Miss.EVALUATION_FAILED
        else:
            reason = Miss.FLAG_UNKNOWN
        return FlagMiss(key, reason, local_reason, error)


def _opt_int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_v2(
    flags: Mapping[str, Any], request_id: Optional[str]
) -> tuple[dict[str, FlagResult], set[str]]:
    results: dict[str, FlagResult] = {}
    failed: set[str] = set()
    for key, record in flags.items():
        if not isinstance(record, Mapping) or record.get("failed") is True:
            failed.add(str(key))  # the server could not compute this one: leave it out
            continue
        enabled = record.get("enabled") is True
        raw_variant = record.get("variant")
        variant = raw_variant if enabled and isinstance(raw_variant, str) and raw_variant else None
        reason = record.get("reason")
        code, index = REMOTE_REASON, None
        if isinstance(reason, Mapping):
            code = str(reason.get("code") or REMOTE_REASON)
            index = _opt_int(reason.get("condition_index"))
        metadata = record.get("metadata")
        if not isinstance(metadata, Mapping):
            metadata = {}
        results[str(key)] = FlagResult(
            key=str(key),
            value=variant if variant is not None else enabled,
            variant=variant,
            payload=decode_payload(metadata.get("payload")) if enabled else None,
            reason=code,
            condition_index=index,
            decided=True,
            flag_id=_opt_int(metadata.get("id")),
            version=_opt_int(metadata.get("version")),
            locally_evaluated=False,
            request_id=request_id,
        )
    return results, failed


def _parse_legacy(body: Mapping[str, Any], request_id: Optional[str]) -> dict[str, FlagResult]:
    values = body.get("featureFlags")
    payloads = body.get("featureFlagPayloads")
    if not isinstance(values, Mapping):
        return {}
    if not isinstance(payloads, Mapping):
        payloads = {}
    results: dict[str, FlagResult] = {}
    for key, value in values.items():
        if isinstance(value, str) and value:
            flag_value: bool | str = value
        else:
            flag_value = value is True
        variant = flag_value if isinstance(flag_value, str) else None
        results[str(key)] = FlagResult(
            key=str(key),
            value=flag_value,
            variant=variant,
            payload=decode_payload(payloads.get(key)) if flag_value is not False else None,
            reason=REMOTE_REASON,
            locally_evaluated=False,
            request_id=request_id,
        )
    return results


def parse_flags_response(body: Mapping[str, Any]) -> RemoteFlags:
    """Turn a ``/flags`` (v2) or legacy ``/decide`` JSON body into ``RemoteFlags``."""
    request_id = body.get("requestId")
    request_id = request_id if isinstance(request_id, str) else None
    errors = body.get("errorsWhileComputingFlags") is True
    quota = body.get("quotaLimited")
    if isinstance(quota, list) and "feature_flags" in quota:
        logger.warning("feature flags quota limited: the server evaluated no flags")
        return RemoteFlags(request_id=request_id, quota_limited=True, errors_while_computing=errors)
    flags = body.get("flags")
    failed: set[str] = set()
    if isinstance(flags, Mapping):
        results, failed = _parse_v2(flags, request_id)
        errors = errors or bool(failed)
    else:
        results = _parse_legacy(body, request_id)
    return RemoteFlags(
        flags=results,
        request_id=request_id,
        errors_while_computing=errors,
        failed=frozenset(failed),
    )


def _post_once(
    session: requests.Session, url: str, data: bytes, timeout: float
) -> tuple[Optional[RemoteFlags], Optional[DeliveryError], bool]:
    """One attempt: ``(result, error, retryable)``."""
    # None removes an Authorization header the session may carry: /flags is public.
    headers: dict[str, Optional[str]] = {
        "Content-Type": "application/json",
        "Authorization": None,
    }
    where = url.split("?", 1)[0]  # error text names the endpoint, never a query string
    try:
        response = session.post(url, data=data, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        error = TransportError(f"no answer from {where} ({type(exc).__name__})", url=where)
        return None, error, True
    try:
        status = response.status_code
        if status != 200:
            retryable = status in _RETRY_STATUSES
            return None, HTTPStatusError(status, retryable=retryable, url=where), retryable
        try:
            body = response.json()
        except ValueError:
            return None, TransportError("the /flags/ response is not valid JSON"), False
        if not isinstance(body, dict):
            return None, TransportError("the /flags/ response is not a JSON object"), False
        return parse_flags_response(body), None, False
    finally:
        response.close()


def fetch_remote_flags(
    session: requests.Session,
    host: str,
    api_key: str,
    distinct_id: str,
    *,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    disable_geoip: bool = True,
    flag_keys: Optional[Sequence[str]] = None,
    device_id: Optional[str] = None,
    timeout: float = 3.0,
    retry_delay: float = 0.1,
) -> RemoteFlags:
    """Ask the server to evaluate flags for ``distinct_id``; never raises for delivery problems.

    ``flag_keys`` limits the evaluation (sent as ``flag_keys_to_evaluate``, omitted
    when None); ``device_id`` is sent when given (flags bucketed by device, experience
    continuity). One retry, after ``retry_delay`` seconds, on 502/504 or a network
    error; if it fails too, ``error`` is a ``RetriesExhaustedError`` wrapping the
    last failure. Other statuses give an ``HTTPStatusError``; an unreadable body a
    ``TransportError``.
    """
    body: dict[str, Any] = {
        "api_key": api_key,
        "distinct_id": distinct_id,
        "groups": dict(groups or {}),
        "person_properties": dict(person_properties or {}),
        "group_properties": {k: dict(v) for k, v in (group_properties or {}).items()},
        "geoip_disable": bool(disable_geoip),
    }
    if flag_keys is not None:
        body["flag_keys_to_evaluate"] = list(flag_keys)
    if device_id is not None:
        body["device_id"] = device_id
    # default=str: a datetime (or other odd value) in properties must not abort the call.
    data = json.dumps(body, default=str).encode("utf-8")
    url = f"{host.rstrip('/')}/flags/?v=2"

    result, error, retryable = _post_once(session, url, data, timeout)
    if error is not None and retryable:
        if retry_delay > 0:
            time.sleep(retry_delay)
        result, error, retryable = _post_once(session, url, data, timeout)
        if error is not None and retryable:
            error = RetriesExhaustedError(2, error)
    if error is not None or result is None:
        # Still retryable after the retry: nothing answered (or only a gateway did).
        return RemoteFlags(error=error or TransportError("no result"), unreachable=retryable)
    return result
