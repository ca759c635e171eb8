"""The capture v1 route family: ``POST /i/v1/analytics/events`` (also with a trailing slash).

Owns PostHog's v1 capture as its ``rust/capture/src/v1`` checks and answers it, in
its order; the first failing check refuses the whole request with PostHog's v1 error
body (``CaptureV1Error``) and stores nothing:

1. ``Authorization``: missing, an unknown or personal (``phx_``) key -> 401
   ``invalid_api_token``; not ``Bearer <token>`` (any case) -> 400 ``invalid_header_value``.
2. The six required headers (``PostHog-Sdk-Info``, ``PostHog-Attempt``,
   ``PostHog-Request-Id``, ``PostHog-Request-Timestamp``, ``Content-Type``,
   ``User-Agent``): every missing one named in one 400 ``missing_required_headers``.
3. Their formats: ``Content-Type`` not ``application/json`` -> 415
   ``unsupported_content_type``; an attempt that is not a u32 >= 1, a request id that is
   not a UUID, a request timestamp that is not RFC 3339 -> 400 ``invalid_header_value``.
   A bad ``PostHog-Sdk-Info`` only means no ``$lib`` / ``$lib_version`` is added.
4. ``Content-Encoding``: gzip and deflate (zlib-wrapped or raw) are decoded with the
   devserver's limits (``_decoding``: 20 MiB on the wire and after inflating, lower
   than PostHog's 10 MiB / 50 MiB pair; -> 413 ``payload_too_large``). ``br`` and
   ``zstd``, which PostHog accepts, get 415 ``unsupported_encoding`` here: Python's
   standard library decodes neither. So does any other value, ``identity`` included.
   A corrupt body -> 400 ``request_decoding_error``.
5. The envelope and every event's types (a wrong type anywhere -> 400
   ``request_parsing_error``), then ``created_at`` (RFC 3339, else ``invalid_batch``),
   an empty ``batch`` (``empty_batch``) and the uuids (``missing_event_uuid``,
   ``invalid_event_uuid``, ``duplicate_event_uuid``).

Then each event gets its own result, keyed by its uuid as sent (trimmed, lower-case):
``drop`` with ``details`` for ``missing_event_name``, ``event_name_too_long`` (> 200
bytes), ``missing_distinct_id``, ``distinct_id_too_large`` (> 200 bytes),
``invalid_event_timestamp`` (not RFC 3339, naive included), ``malformed_event_properties``
(not an object; or a lone UTF-16 surrogate or a number out of range inside, which no
store can hold) and ``invalid_options``; ``warning`` ``person_processing_disabled``
for a distinct id PostHog will not make a person for (``anonymous``, ``null``, ``0``,
...: stored with ``$process_person_profile: false``); else ``ok``, a uuid already
stored included (a retry stores nothing twice). The answer is 200 even when every
event was dropped. This server never answers ``retry``.

Choices where PostHog's behaviour is unconfirmed or cannot be copied: ``options`` is
read tolerantly, not typed strictly: a value of the wrong JSON type (or ``options``
not an object) drops that event with ``invalid_options`` instead of refusing the whole
batch. A lone surrogate in a typed string field (``event``, ``distinct_id``,
``timestamp``, ``session_id``, ``window_id``) refuses the batch as a parse error, as
serde does; in ``properties`` it drops the event.

What is stored: ``session_id`` / ``window_id`` and the options written back into the
properties (``$session_id``, ``$window_id``, ``$cookieless_mode``, ``$ignore_sent_at``,
``$product_tour_id``, ``$process_person_profile``), then ``$lib`` / ``$lib_version``
from ``PostHog-Sdk-Info`` (after the event's own keys: the header wins); the
timestamp skew-corrected by ``PostHog-Request-Timestamp`` minus the arrival time
unless ``disable_skew_correction``, and one more than 23 h ahead of the server is
stored as the arrival time; ``sent_at`` is the request timestamp as sent.

It knows nothing about sockets, CORS or the other route families.
"""

from __future__ import annotations

import json
import re
import uuid as uuid_module
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Mapping, Optional, Union

from ._decoding import inflate, inflate_deflate, strict_json
from ._errors import CaptureV1Error, RequestError
from ._ingest import CapturedEvent, CaptureRequest, check_token, utc_now_iso
from ._messages import Request, Response
from ._store import EventStore

__all__ = ["V1_PATH", "as_v1", "capture_v1", "rfc3339"]

#: The v1 endpoint, without its optional trailing slash (also the path stored).
V1_PATH = "/i/v1/analytics/events"

_REQUIRED = (
    "PostHog-Sdk-Info",
    "PostHog-Attempt",
    "PostHog-Request-Id",
    "PostHog-Request-Timestamp",
    "Content-Type",
    "User-Agent",
)
_MAX_NAME_BYTES = 200
_MAX_SDK_INFO = 200
_FUTURE = timedelta(hours=23)
_DIGITS = re.compile(r"[0-9]{1,10}")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
# Distinct ids PostHog will not make a person for (rust/capture's ILLEGAL_DISTINCT_IDS).
_NO_PERSON_IDS = frozenset(
    (
        "0", "anonymous", "null", "undefined", "true", "false", "none", "nan", "guest",
        "user", "id", "email", "system", "backend", "distinct_id", "distinctid",
        "not_authenticated", "anonymous-user", "[object object]",
        "00000000-0000-0000-0000-000000000000",
    )
)  # fmt: skip
# option -> (the property it is written back as, the JSON type it must have)
_OPTIONS = (
    ("cookieless_mode", "$cookieless_mode", bool),
    ("disable_skew_correction", "$ignore_sent_at", bool),
    ("product_tour_id", "$product_tour_id", str),
    ("process_person_profile", "$process_person_profile", bool),
)
# What the shared decoders and the token check call a problem, as v1 calls it.
_V1_CODES = {
    "invalid_gzip": "request_decoding_error",
    "too_many_gzip_members": "request_decoding_error",
    "invalid_deflate": "request_decoding_error",
    "truncated_body": "request_decoding_error",
    "invalid_json": "request_parsing_error",
    "missing_token": "invalid_api_token",
    "invalid_token": "invalid_api_token",
}


def as_v1(error: RequestError) -> CaptureV1Error:
    """A refusal made by shared code (limits, decoding, the token check) in v1's words."""
    if isinstance(error, CaptureV1Error):
        return error
    return CaptureV1Error(error.status, _V1_CODES.get(error.code, error.code), error.detail)


def rfc3339(value: Any) -> Optional[datetime]:
    """An RFC 3339 date-time (an offset or ``Z`` required) in UTC, or None."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        offset = timezone.utc
        if sign is not None:
            delta = timedelta(hours=int(off_h), minutes=int(off_m))
            offset = timezone(delta if sign == "+" else -delta)
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),  # a leap second is the last instant of its minute
            int((fraction or "0")[:6].ljust(6, "0")) if int(second) < 60 else 999_999,
            tzinfo=offset,
        )
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _refuse(status: int, code: str, detail: str) -> CaptureV1Error:
    return CaptureV1Error(status, code, detail)


def _parse_error(detail: str) -> CaptureV1Error:
    return _refuse(400, "request_parsing_error", detail)


def _bad_header(detail: str) -> CaptureV1Error:
    return _refuse(400, "invalid_header_value", detail)


def _check_auth(request: Request, tokens: Collection[str]) -> None:
    header = request.header("Authorization")
    accepted = "this devserver accepts " + " or ".join(tokens)
    if header is None:
        raise _refuse(401, "invalid_api_token", f"send Authorization: Bearer <token>; {accepted}")
    if header[:7].lower() != "bearer ":
        raise _bad_header("Authorization must be 'Bearer <project token>'")
    token = header[7:].strip()
    if token.startswith("phx_"):
        raise _refuse(
            401, "invalid_api_token", f"a personal API key is not a project token; {accepted}"
        )
    check_token(token, tokens)


def _sdk_properties(request: Request) -> dict[str, str]:
    value = request.header("PostHog-Sdk-Info") or ""
    lib, _, version = value.rpartition("/")
    if len(value) > _MAX_SDK_INFO or not lib.strip() or not version.strip():
        return {}  # non-fatal, as PostHog's: the event just gets no $lib
    return {"$lib": lib.strip(), "$lib_version": version.strip()}


def _check_headers(request: Request) -> datetime:
    """The required headers and their formats; returns the request timestamp."""
    missing = [name for name in _REQUIRED if request.header(name) is None]
    if missing:
        raise _refuse(400, "missing_required_headers", "missing: " + ", ".join(missing))
    mime = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if mime != "application/json":
        raise _refuse(415, "unsupported_content_type", "Content-Type must be application/json")
    attempt = (request.header("PostHog-Attempt") or "").strip()
    if not _DIGITS.fullmatch(attempt) or not 1 <= int(attempt) <= 0xFFFFFFFF:
        raise _bad_header("PostHog-Attempt must be an integer from 1 to 4294967295")
    try:
        uuid_module.UUID((request.header("PostHog-Request-Id") or "").strip())
    except ValueError:
        raise _bad_header("PostHog-Request-Id must be a UUID") from None
    sent = rfc3339((request.header("PostHog-Request-Timestamp") or "").strip())
    if sent is None:
        raise _bad_header("PostHog-Request-Timestamp must be an RFC 3339 date-time")
    return sent


def _decoded(request: Request) -> bytes:
    header = request.header("Content-Encoding")
    if header is None:
        return request.body
    encoding = header.strip().lower()
    if encoding == "gzip":
        return inflate(request.body)
    if encoding == "deflate":
        return inflate_deflate(request.body)
    if encoding in ("br", "zstd"):
        detail = f"PostHog accepts {encoding}, but this devserver cannot decode it (Python's "
        detail += "standard library has no decoder); send gzip, deflate or no Content-Encoding"
    else:
        detail = "Content-Encoding must be gzip, deflate, br or zstd (or absent)"
    raise _refuse(415, "unsupported_encoding", detail)


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: serde refuses such a string
        return False
    return True


def _check_types(body: Any) -> tuple[str, list[dict[str, Any]], bool]:
    if not isinstance(body, dict):
        raise _parse_error("the body must be a JSON object")
    created_at, batch = body.get("created_at"), body.get("batch")
    if not isinstance(created_at, str):
        raise _parse_error("created_at is required and must be a string")
    if not isinstance(batch, list):
        raise _parse_error("batch is required and must be an array")
    historical = body.get("historical_migration", False)
    if not isinstance(historical, bool):
        raise _parse_error("historical_migration must be true or false")
    for index, event in enumerate(batch):
        if not isinstance(event, dict):
            raise _parse_error(f"batch[{index}] must be an object")
        for field in ("event", "uuid", "distinct_id", "timestamp", "session_id", "window_id"):
            value = event.get(field)
            optional = field in ("session_id", "window_id")
            if value is None and optional:
                continue
            if not isinstance(value, str):
                kind = "a string or null" if optional else "a string (required)"
                raise _parse_error(f"batch[{index}].{field} must be {kind}")
            if not _utf8(value):
                raise _parse_error(f"batch[{index}].{field} has a lone UTF-16 surrogate")
    return created_at, batch, historical


def _check_batch(created_at: str, batch: list[dict[str, Any]]) -> list[str]:
    """The checks that refuse the whole batch; returns each event's canonical uuid."""
    if rfc3339(created_at) is None:
        raise _refuse(400, "invalid_batch", "created_at must be an RFC 3339 date-time")
    if not batch:
        raise _refuse(400, "empty_batch", "the batch has no events")
    seen: set[str] = set()
    canonical = []
    for index, event in enumerate(batch):
        text = event["uuid"].strip()
        if not text:
            raise _refuse(400, "missing_event_uuid", f"batch[{index}] has an empty uuid")
        try:
            key = str(uuid_module.UUID(text))
        except ValueError:
            raise _refuse(400, "invalid_event_uuid", f"batch[{index}].uuid is not a UUID") from None
        if key in seen:
            raise _refuse(400, "duplicate_event_uuid", f"batch[{index}] repeats a uuid")
        seen.add(key)
        canonical.append(key)
    return canonical


def _options(raw: Any) -> Optional[dict[str, Any]]:
    """The event's options, or None when one has the wrong JSON type."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    for name, _, kind in _OPTIONS:
        value = raw.get(name)
        if value is not None and not isinstance(value, kind):
            return None
    return raw


def _storable(properties: dict[str, Any]) -> bool:
    try:
        json.dumps(properties, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError, RecursionError):
        return False
    return True


Result = dict[str, str]


def _event(
    raw: dict[str, Any],
    event_uuid: str,
    *,
    skew: timedelta,
    received: datetime,
    sent_at: str,
    sdk: Mapping[str, str],
) -> Union[CapturedEvent, Result]:
    """One event to store, or the ``drop`` result saying why not."""
    name, distinct_id = raw["event"], raw["distinct_id"].strip()
    if not name:
        return {"result": "drop", "details": "missing_event_name"}
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        return {"result": "drop", "details": "event_name_too_long"}
    if not distinct_id:
        return {"result": "drop", "details": "missing_distinct_id"}
    if len(distinct_id.encode("utf-8")) > _MAX_NAME_BYTES:
        return {"result": "drop", "details": "distinct_id_too_large"}
    moment = rfc3339(raw["timestamp"])
    if moment is None:
        return {"result": "drop", "details": "invalid_event_timestamp"}
    properties = raw.get("properties", {})
    if not isinstance(properties, dict):
        return {"result": "drop", "details": "malformed_event_properties"}
    options = _options(raw.get("options"))
    if options is None:
        return {"result": "drop", "details": "invalid_options"}
    injected: dict[str, Any] = {"$session_id": raw.get("session_id")}
    injected["$window_id"] = raw.get("window_id")
    for option, prop, _ in _OPTIONS:
        injected[prop] = options.get(option)
    if distinct_id.lower() in _NO_PERSON_IDS:
        injected["$process_person_profile"] = False
    injected.update(sdk)
    properties = dict(properties)
    for key, value in injected.items():
        if value is not None:
            properties.pop(key, None)  # re-added last: PostHog appends them after the event's
            properties[key] = value
    if not _storable(properties):
        return {"result": "drop", "details": "malformed_event_properties"}
    if options.get("disable_skew_correction") is not True:
        try:
            moment -= skew
        except OverflowError:
            moment = received
    if moment > received + _FUTURE:
        moment = received
    return CapturedEvent(
        uuid=event_uuid,
        event=name,
        distinct_id=distinct_id,
        properties=properties,
        timestamp=utc_now_iso(moment),
        sent_at=sent_at,
        received_at=utc_now_iso(received),
    )


def capture_v1(
    request: Request,
    store: EventStore,
    tokens: Collection[str],
    *,
    now: Optional[datetime] = None,
) -> Response:
    """Answer a POST to ``/i/v1/analytics/events``; refusals raise ``CaptureV1Error``."""
    received = now or datetime.now(timezone.utc)
    try:
        _check_auth(request, tokens)
        sent = _check_headers(request)
        data = _decoded(request)
        if not data.strip():
            raise _refuse(400, "empty_body", "the request body is empty")
        created_at, batch, historical = _check_types(strict_json(data, finite=False))
        canonical = _check_batch(created_at, batch)
    except RequestError as error:
        raise as_v1(error) from None
    sdk = _sdk_properties(request)
    sent_at = (request.header("PostHog-Request-Timestamp") or "").strip()
    results: dict[str, Result] = {}
    accepted: list[CapturedEvent] = []
    for raw, event_uuid in zip(batch, canonical):
        outcome = _event(
            raw, event_uuid, skew=sent - received, received=received, sent_at=sent_at, sdk=sdk
        )
        key = raw["uuid"].strip().lower()
        if isinstance(outcome, CapturedEvent):
            accepted.append(outcome)
            quiet = outcome.distinct_id.lower() not in _NO_PERSON_IDS
            results[key] = (
                {"result": "ok"}
                if quiet
                else {"result": "warning", "details": "person_processing_disabled"}
            )
        else:
            results[key] = outcome
    inserted = 0
    if accepted:
        parsed = CaptureRequest(events=accepted, historical_migration=historical)
        inserted = store.ingest(parsed, path=V1_PATH, protocol="v1").inserted
    return Response.json(200, {"results": results}, events=len(batch), inserted=inserted)
