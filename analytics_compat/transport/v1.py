"""Capture protocol v1: PostHog's ``POST {host}/i/v1/analytics/events``.

Owns the v1 wire format and what a v1 answer means for each event:

- each event as UTF-8 JSON (encoded once per message, so a resent event is
  byte-for-byte the same; a lone surrogate becomes U+FFFD): ``event``, ``uuid``,
  ``distinct_id``, ``timestamp``, a typed ``options`` object, ``properties``, and
  ``session_id`` / ``window_id`` lifted from ``$session_id`` / ``$window_id`` when
  they are strings. ``$lib`` / ``$lib_version`` stay out of the properties: the
  server takes them from the ``PostHog-Sdk-Info`` header. ``$set`` / ``$set_once``
  are already properties in our messages, where v1 wants them;
- the typed options, coerced as posthog-python coerces them; a value that will
  not coerce is left out (and still removed from the properties), never sent with
  a type the server's schema could refuse for the whole batch;
- the body (``created_at``, fixed for all attempts of a request; ``batch``, the
  events still pending; ``historical_migration`` only when true) and the headers:
  Bearer auth, ``PostHog-Sdk-Info``, ``PostHog-Attempt`` (1, 2, ...),
  ``PostHog-Request-Id`` (one uuid for all attempts of a request) and
  ``PostHog-Request-Timestamp`` (new for each attempt);
- the answer: a 2xx carries ``results`` keyed by event uuid. ``ok`` and
  ``warning`` deliver (warnings are logged, one line per answer); ``drop`` fails the
  event with ``EventDroppedError`` and the server's ``details``; ``retry`` resends
  it, after the answer's ``Retry-After``. An unknown code or a uuid missing from
  the map counts as delivered (the server's and posthog-python's rule), and so does
  every event of a 2xx whose body cannot be read as results: a 2xx means the
  server took the request, and resending it could store every event twice. A
  non-2xx is judged as v0 judges it, with the detail taken from v1's error body
  (``error_description``, else ``error``).

Knows nothing about retries, queues or promises; HTTP itself is ``_http``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import uuid as _uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .._events import Message, wire_distinct_id
from .._version import __version__
from .._wire import (
    LIB_NAME,
    add_sdk_properties,
    iso_timestamp,
    json_string,
    json_text,
    sdk_properties,
    utf8,
)
from ..errors import DeliveryError, EventDroppedError, TransportError
from ._http import USER_AGENT, Reply, redact
from ._outcome import DELIVERED, Outcome, Verdict
from .v0 import judge_status

__all__ = ["SDK_INFO", "V1Protocol"]

logger = logging.getLogger(__name__)

SDK_INFO = f"{LIB_NAME}/{__version__}"


def _coerce_bool(value: Any) -> Optional[bool]:
    """posthog-python's (and the server's) truthiness for a boolean option."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        return None
    if isinstance(value, (int, float)):
        return value != 0
    return None


def _coerce_str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


# property -> (wire key in ``options``, coercion)
_OPTIONS: Tuple[Tuple[str, str, Callable[[Any], Any]], ...] = (
    ("$cookieless_mode", "cookieless_mode", _coerce_bool),
    ("$ignore_sent_at", "disable_skew_correction", _coerce_bool),
    ("$product_tour_id", "product_tour_id", _coerce_str),
    ("$process_person_profile", "process_person_profile", _coerce_bool),
)
_LIFTED = (("$session_id", "session_id"), ("$window_id", "window_id"))
_SPECIAL = frozenset(
    ("$lib", "$lib_version", *(p for p, _, _ in _OPTIONS), *(p for p, _ in _LIFTED))
)


def _split_special(props: Dict[str, Any]) -> Tuple[Dict[str, Any], str, str]:
    """A copy of ``props`` without the keys v1 carries elsewhere; the ``options`` JSON;
    the top-level ``session_id`` / ``window_id`` fields as JSON text."""
    props = dict(props)  # the message's own properties stay as the caller built them
    props.pop("$lib", None)
    props.pop("$lib_version", None)
    options: Dict[str, Any] = {}
    for prop, key, coerce in _OPTIONS:
        if prop in props:
            value = coerce(props.pop(prop))
            if value is not None:
                options[key] = value
    tail = []
    for prop, key in _LIFTED:
        if prop in props:
            value = props.pop(prop)
            if isinstance(value, str):
                tail.append(f',"{key}":{json_string(value)}')
    return props, json_text(options), "".join(tail)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


class V1Protocol:
    """The ``/i/v1/analytics/events`` strategy for one client."""

    name = "v1"
    path = "/i/v1/analytics/events"
    reads_body = True  # the per-event results are in the body of a 2xx

    def __init__(
        self,
        *,
        secret: str,
        historical_migration: bool,
        secrets: Sequence[str] = (),
        disable_geoip: bool = True,
        is_server: bool = False,
    ) -> None:
        self._historical = historical_migration
        # $lib and $lib_version travel in PostHog-Sdk-Info; the rest goes in properties.
        added = sdk_properties(disable_geoip=disable_geoip, is_server=is_server)
        self._sdk = {k: v for k, v in added.items() if k not in ("$lib", "$lib_version")}
        self._secrets = tuple(s for s in (secret, *secrets) if s)
        self.headers: Dict[str, str] = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {secret}",
            "PostHog-Sdk-Info": SDK_INFO,
        }

    def encode(self, message: Message) -> bytes:
        """The event's JSON, built once (it assigns the uuid). Raises on bad data."""
        if message.encoded is not None:
            return message.encoded
        timestamp = iso_timestamp(message.timestamp)
        props = message.properties
        add_sdk_properties(props, self._sdk)
        options, tail = "{}", ""
        if not props.keys().isdisjoint(_SPECIAL):
            props, options, tail = _split_special(props)
        text = "".join(
            (
                '{"event":',
                json_string(message.event),
                ',"uuid":"',
                message._uuid or message.uuid,
                '","distinct_id":',
                json_string(wire_distinct_id(message)),
                ',"timestamp":"',
                timestamp,
                '","options":',
                options,
                ',"properties":',
                json_text(props),
                tail,
                "}",
            )
        )
        message.encoded = utf8(text)
        return message.encoded

    def request(self, messages: Sequence[Message], events: Sequence[bytes]) -> _V1Request:
        return _V1Request(self, messages, events)

    def clean(self, text: str) -> str:
        """Server text fit for an error or a log line: one line, no key, short."""
        return redact(" ".join(text.split()), self._secrets)


class _V1Request:
    """One v1 request: its id and ``created_at`` hold for all its attempts."""

    __slots__ = ("_events", "_head", "_headers", "_protocol", "_uuids")

    def __init__(
        self, protocol: V1Protocol, messages: Sequence[Message], events: Sequence[bytes]
    ) -> None:
        self._protocol = protocol
        self._events = events
        self._uuids = [m.uuid for m in messages]
        self._head = b'{"created_at":"' + _now().encode() + b'","batch":['
        self._headers = dict(protocol.headers)
        self._headers["PostHog-Request-Id"] = str(_uuid.uuid4())

    def attempt(self, pending: Sequence[int], attempt: int) -> Tuple[bytes, Mapping[str, str]]:
        events = self._events
        if len(pending) == len(events):
            joined = b",".join(events)
        else:
            joined = b",".join([events[i] for i in pending])
        tail = b'],"historical_migration":true}' if self._protocol._historical else b"]}"
        headers = dict(self._headers)
        headers["PostHog-Attempt"] = str(attempt)
        headers["PostHog-Request-Timestamp"] = _now()
        return b"".join((self._head, joined, tail)), headers

    def judge(
        self, reply: Union[Reply, TransportError], pending: Sequence[int]
    ) -> Union[Outcome, List[Outcome]]:
        if isinstance(reply, TransportError):
            return Outcome(Verdict.RETRY, reply)
        if not reply.ok:
            return judge_status(reply, self._error_detail(reply))
        body = reply.body
        if body is None or _all_delivered(body):
            return DELIVERED  # a 2xx took the request; see the module docstring
        results = _results(body)
        if results is None:
            return DELIVERED  # a 2xx took the request; see the module docstring
        return self._per_event(results, pending, reply.retry_after, reply.url)

    def _per_event(
        self,
        results: Mapping[str, Any],
        pending: Sequence[int],
        retry_after: Optional[float],
        url: Optional[str],
    ) -> List[Outcome]:
        clean = self._protocol.clean
        outcomes: List[Outcome] = []
        drops: Dict[Optional[str], Outcome] = {}  # one error per reason and answer
        retries: Dict[Optional[str], Outcome] = {}
        warnings: List[str] = []
        uuids = self._uuids
        for index in pending:
            entry = results.get(uuids[index] or "")
            code = entry.get("result") if isinstance(entry, dict) else None
            if code != "drop" and code != "retry" and code != "warning":
                outcomes.append(DELIVERED)  # ok, an unknown code, or not in the map
                continue
            raw = entry.get("details") if isinstance(entry, dict) else None
            details = clean(raw) if isinstance(raw, str) else None
            if code == "warning":
                warnings.append(details or "no details")
                outcomes.append(DELIVERED)
            elif code == "drop":
                outcome = drops.get(details)
                if outcome is None:
                    outcome = drops[details] = Outcome.failed(
                        EventDroppedError(
                            f"dropped by the server at {url or 'the host'}: "
                            f"{details or 'no details given'}",
                            reason="server",
                            details=details,
                            url=url,
                        )
                    )
                outcomes.append(outcome)
            else:
                outcome = retries.get(details)
                if outcome is None:
                    error = DeliveryError(
                        f"the server at {url or 'the host'} asked to resend the event "
                        f"({details or 'no details'})",
                        url=url,
                    )
                    outcome = retries[details] = Outcome(Verdict.RETRY, error, retry_after)
                outcomes.append(outcome)
        if warnings:
            logger.warning(
                "the server accepted %d event(s) with warnings: %s",
                len(warnings),
                ", ".join(sorted(set(warnings))),
            )
        return outcomes

    def _error_detail(self, reply: Reply) -> str:
        """v1 error bodies are ``{"error": tag, "error_description": text, ...}``."""
        payload = _json(reply.body)
        if isinstance(payload, dict):
            for key in ("error_description", "error"):
                text = payload.get(key)
                if isinstance(text, str) and text.strip():
                    return self._protocol.clean(text)
        return reply.detail


_NOT_DELIVERED = (b'"drop"', b'"retry"', b'"warning"')


def _all_delivered(body: bytes) -> bool:
    """True when no event can be anything but delivered, without parsing the body.

    The common answer is every event ``ok``. Without a backslash no JSON string can
    hide a code behind an escape, so a body that names none of the other codes
    cannot hold one; any other body is parsed.
    """
    return b"\\" not in body and not any(code in body for code in _NOT_DELIVERED)


def _json(body: Optional[bytes]) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly deep
        return None


def _results(body: Optional[bytes]) -> Optional[Mapping[str, Any]]:
    payload = _json(body)
    results = payload.get("results") if isinstance(payload, dict) else None
    return results if isinstance(results, dict) else None
