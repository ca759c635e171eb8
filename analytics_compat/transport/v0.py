"""Capture protocol v0: PostHog's ``POST {host}/batch/``.

Owns the v0 wire format: each event as UTF-8 JSON with ``$lib`` / ``$lib_version`` in
its properties (encoded once per message, so a retried event is byte-for-byte the
same; a lone surrogate, which PostHog's JSON parser refuses, becomes U+FFFD),
the batch body (``api_key``, ``batch``, ``historical_migration``, ``sent_at``), the
request headers, and what an answer means for the messages in the request: 2xx
delivered; 413 too large (split and resend); 408, 429, 5xx retry; any other status
failed, for every message alike (v0 answers for the whole batch).

Knows nothing about retries, queues or promises; HTTP itself is ``_http``.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Dict, Mapping, Sequence, Tuple, Union

from .._events import Message, wire_distinct_id
from .._wire import (
    add_sdk_properties,
    iso_timestamp,
    json_string,
    json_text,
    sdk_properties,
    utf8,
)
from ..errors import HTTPStatusError, TransportError
from ._http import USER_AGENT, Reply, is_retryable_status
from ._outcome import DELIVERED, Outcome, Verdict

__all__ = ["V0Protocol", "judge_status"]


class V0Protocol:
    """The ``/batch/`` strategy for one client."""

    name = "v0"
    path = "/batch/"
    reads_body = False  # the status says it all

    def __init__(
        self,
        *,
        secret: str,
        historical_migration: bool,
        disable_geoip: bool = True,
        is_server: bool = False,
    ) -> None:
        self._prefix = b'{"api_key":' + json.dumps(secret).encode() + b',"batch":['
        self._historical = b"true" if historical_migration else b"false"
        self._sdk = sdk_properties(disable_geoip=disable_geoip, is_server=is_server)
        self.headers: Dict[str, str] = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }

    def encode(self, message: Message) -> bytes:
        """The event's JSON, built once (it assigns the uuid). Raises on bad data."""
        if message.encoded is not None:
            return message.encoded
        timestamp = iso_timestamp(message.timestamp)
        props = message.properties
        add_sdk_properties(props, self._sdk)
        text = "".join(
            (
                '{"event":',
                json_string(message.event),
                ',"distinct_id":',
                # None cannot get here past the personless stage; if it did, the
                # TypeError fails this message alone, as an encoding error.
                json_string(wire_distinct_id(message)),
                ',"properties":',
                json_text(props),
                ',"timestamp":"',
                timestamp,
                '","uuid":"',
                message._uuid or message.uuid,
                '"}',
            )
        )
        message.encoded = utf8(text)
        return message.encoded

    def request(self, messages: Sequence[Message], events: Sequence[bytes]) -> _V0Request:
        return _V0Request(self, events)


class _V0Request:
    """A v0 request is all-or-nothing: every attempt sends every event."""

    __slots__ = ("_events", "_protocol")

    def __init__(self, protocol: V0Protocol, events: Sequence[bytes]) -> None:
        self._protocol = protocol
        self._events = events

    def attempt(self, pending: Sequence[int], attempt: int) -> Tuple[bytes, Mapping[str, str]]:
        protocol = self._protocol
        sent_at = _dt.datetime.now(_dt.timezone.utc).isoformat()
        body = b"".join(
            (
                protocol._prefix,
                b",".join(self._events),
                b'],"historical_migration":',
                protocol._historical,
                b',"sent_at":"',
                sent_at.encode(),
                b'"}',
            )
        )
        return body, protocol.headers

    def judge(self, reply: Union[Reply, TransportError], pending: Sequence[int]) -> Outcome:
        """One outcome for the whole request: v0 answers for the batch."""
        if isinstance(reply, TransportError):
            return Outcome(Verdict.RETRY, reply)
        if 200 <= reply.status < 300:
            return DELIVERED
        return judge_status(reply, reply.detail)


def judge_status(reply: Reply, detail: str) -> Outcome:
    """A non-2xx answer, for every event of the request (v1 judges its errors alike)."""
    status = reply.status
    retryable = is_retryable_status(status)
    if 300 <= status < 400:
        detail = (
            f"redirect to {reply.location or '(no Location)'}; capture requests do not "
            "follow redirects: set host to where the server lives"
        )
    error = HTTPStatusError(status, retryable=retryable, detail=detail, url=reply.url)
    if status == 413:
        return Outcome(Verdict.TOO_LARGE, error)
    if retryable:
        return Outcome(Verdict.RETRY, error, reply.retry_after)
    return Outcome.failed(error)
