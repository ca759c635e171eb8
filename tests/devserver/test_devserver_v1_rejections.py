"""Capture v1 requests the devserver refuses whole: one row per check of the v1 contract
(``rust/capture/src/v1``'s order), each with its status, PostHog's v1 error body and
tag, nothing stored, and the server still answering a good request afterwards.

Sent as raw HTTP, because every row is a request a client library would normalise.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from analytics_compat.devserver import MAX_BODY_BYTES, MAX_DECODED_BYTES, DevServer
from analytics_compat.devserver._errors import CaptureV1Error

from . import v1wire
from .conftest import PERSONAL_KEY, TOKEN
from .v1wire import envelope, event, headers


def _raw(value: Any) -> bytes:
    return json.dumps(value).encode()


def _good() -> bytes:
    return _raw(envelope([event()]))


_BOMB = gzip.compress(b" " * (MAX_DECODED_BYTES + 1024 * 1024), compresslevel=9)
_DUP = "0190b4b5-6c1e-7a53-8c2e-2e3c9a3c0001"

Case = Tuple[str, Callable[[], Dict[str, str]], Callable[[], bytes], int, str]
CASES: List[Case] = [
    # 2. Authorization first
    ("no-authorization", lambda: headers(Authorization=None), _good, 401, "invalid_api_token"),
    (
        "no-authorization-before-missing-headers",
        lambda: headers(Authorization=None, PostHog_Attempt=None),
        _good,
        401,
        "invalid_api_token",
    ),
    (
        "basic-scheme",
        lambda: headers(Authorization=f"Basic {TOKEN}"),
        _good,
        400,
        "invalid_header_value",
    ),
    (
        "personal-key-is-not-a-project-token",
        lambda: headers(Authorization=f"Bearer {PERSONAL_KEY}"),
        _good,
        401,
        "invalid_api_token",
    ),
    (
        "unknown-token",
        lambda: headers(Authorization="Bearer phc_other"),
        _good,
        401,
        "invalid_api_token",
    ),
    (
        # trailing spaces are not part of a header's value: this is "Bearer", no token
        "bearer-without-token",
        lambda: headers(Authorization="Bearer   "),
        _good,
        400,
        "invalid_header_value",
    ),
    # 3. every missing required header, reported together
    (
        "missing-headers",
        lambda: headers(PostHog_Attempt=None, User_Agent=None),
        _good,
        400,
        "missing_required_headers",
    ),
    # 4. header formats
    (
        "content-type-not-json",
        lambda: headers(Content_Type="text/plain"),
        _good,
        415,
        "unsupported_content_type",
    ),
    ("attempt-zero", lambda: headers(PostHog_Attempt="0"), _good, 400, "invalid_header_value"),
    ("attempt-text", lambda: headers(PostHog_Attempt="one"), _good, 400, "invalid_header_value"),
    (
        "attempt-over-u32",
        lambda: headers(PostHog_Attempt="4294967296"),
        _good,
        400,
        "invalid_header_value",
    ),
    (
        "request-id-not-a-uuid",
        lambda: headers(PostHog_Request_Id="req-1"),
        _good,
        400,
        "invalid_header_value",
    ),
    (
        "request-timestamp-naive",
        lambda: headers(PostHog_Request_Timestamp="2026-01-01T00:00:00"),
        _good,
        400,
        "invalid_header_value",
    ),
    # 5. encodings, decoding, sizes
    (
        "encoding-identity",
        lambda: headers(Content_Encoding="identity"),
        _good,
        415,
        "unsupported_encoding",
    ),
    ("encoding-br", lambda: headers(Content_Encoding="br"), _good, 415, "unsupported_encoding"),
    ("encoding-zstd", lambda: headers(Content_Encoding="zstd"), _good, 415, "unsupported_encoding"),
    (
        "encoding-unknown",
        lambda: headers(Content_Encoding="compress"),
        _good,
        415,
        "unsupported_encoding",
    ),
    (
        "corrupt-gzip",
        lambda: headers(Content_Encoding="gzip"),
        lambda: b"\x1f\x8bnot gzip",
        400,
        "request_decoding_error",
    ),
    (
        "corrupt-deflate",
        lambda: headers(Content_Encoding="deflate"),
        lambda: zlib.compress(_good())[:-6],
        400,
        "request_decoding_error",
    ),
    (
        "gzip-bomb",
        lambda: headers(Content_Encoding="gzip"),
        lambda: _BOMB,
        413,
        "payload_too_large",
    ),
    ("oversize-body", headers, lambda: b" " * (MAX_BODY_BYTES + 1), 413, "payload_too_large"),
    # 6. the envelope
    ("empty-body", headers, lambda: b"  ", 400, "empty_body"),
    ("not-json", headers, lambda: b'{"batch": [', 400, "request_parsing_error"),
    ("not-utf8", headers, lambda: b'{"created_at": "\xff"}', 400, "request_parsing_error"),
    ("nan", headers, lambda: b'{"created_at": NaN, "batch": []}', 400, "request_parsing_error"),
    ("body-not-object", headers, lambda: _raw([event()]), 400, "request_parsing_error"),
    (
        "created-at-missing",
        headers,
        lambda: _raw(envelope([event()], created_at=...)),
        400,
        "request_parsing_error",
    ),
    (
        "created-at-not-rfc3339",
        headers,
        lambda: _raw(envelope([event()], created_at="yesterday")),
        400,
        "invalid_batch",
    ),
    (
        "batch-missing",
        headers,
        lambda: _raw(envelope([], batch=...)),
        400,
        "request_parsing_error",
    ),
    ("batch-not-array", headers, lambda: _raw(envelope({})), 400, "request_parsing_error"),  # type: ignore[arg-type]
    (
        "historical-migration-not-bool",
        headers,
        lambda: _raw(envelope([event()], historical_migration="yes")),
        400,
        "request_parsing_error",
    ),
    ("empty-batch", headers, lambda: _raw(envelope([])), 400, "empty_batch"),
    # 7. event types: one bad event refuses the batch
    (
        "event-not-object",
        headers,
        lambda: _raw(envelope([event(), "e"])),  # type: ignore[list-item]
        400,
        "request_parsing_error",
    ),
    (
        "event-name-missing",
        headers,
        lambda: _raw(envelope([event(), event(event=...)])),
        400,
        "request_parsing_error",
    ),
    (
        "distinct-id-a-number",
        headers,
        lambda: _raw(envelope([event(distinct_id=42)])),
        400,
        "request_parsing_error",
    ),
    (
        "timestamp-missing",
        headers,
        lambda: _raw(envelope([event(timestamp=...)])),
        400,
        "request_parsing_error",
    ),
    (
        "session-id-a-number",
        headers,
        lambda: _raw(envelope([event(session_id=7)])),
        400,
        "request_parsing_error",
    ),
    (
        "lone-surrogate-in-event-name",
        headers,
        lambda: _raw(envelope([event(event="a\ud800b")])),
        400,
        "request_parsing_error",
    ),
    (
        "uuid-missing",
        headers,
        lambda: _raw(envelope([event(uuid=...)])),
        400,
        "request_parsing_error",
    ),
    ("uuid-empty", headers, lambda: _raw(envelope([event(uuid="  ")])), 400, "missing_event_uuid"),
    (
        "uuid-not-a-uuid",
        headers,
        lambda: _raw(envelope([event(uuid="not-a-uuid")])),
        400,
        "invalid_event_uuid",
    ),
    (
        "uuid-repeated",
        headers,
        lambda: _raw(envelope([event(uuid=_DUP), event(uuid=_DUP.upper())])),
        400,
        "duplicate_event_uuid",
    ),
]


@pytest.mark.parametrize(
    ("make_headers", "make_body", "status", "tag"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_refused_v1_request_gets_its_status_and_tag_and_stores_nothing(
    server: DevServer,
    make_headers: Callable[[], Dict[str, str]],
    make_body: Callable[[], bytes],
    status: int,
    tag: str,
) -> None:
    answer = v1wire.post(server.port, make_body(), make_headers())
    assert answer.status == status, answer.body[:300]
    body = answer.json()
    assert set(body) == {"error", "error_description", "error_uri"}
    assert body["error"] == tag, body
    assert body["error_uri"] == "https://posthog.com/docs/api"
    assert answer.header("Retry-After") is None  # only 429, 500 and 503 say when to retry
    assert answer.header("Access-Control-Allow-Origin") == "*"  # a capture route: any origin
    for secret in ("phc_other", PERSONAL_KEY):
        assert secret not in answer.body.decode("utf-8", "replace")
    assert server.store.count() == 0
    assert server.store.batches() == []
    ok = v1wire.post(server.port, _good())
    assert ok.status == 200, ok.body
    assert server.store.count() == 1


def test_every_missing_required_header_is_named_in_one_answer(server: DevServer) -> None:
    head = headers(PostHog_Sdk_Info=None, PostHog_Request_Id=None, User_Agent=None)
    answer = v1wire.post(server.port, _good(), head)
    assert answer.status == 400
    text = answer.json()["error_description"]
    for name in ("PostHog-Sdk-Info", "PostHog-Request-Id", "User-Agent"):
        assert name in text
    for present in ("PostHog-Attempt", "PostHog-Request-Timestamp", "Content-Type"):
        assert present not in text


@pytest.mark.parametrize(
    "authorization", [f"bearer {TOKEN}", f"BEARER   {TOKEN}  ", f"Bearer {TOKEN}\t"]
)
def test_the_bearer_scheme_is_read_in_any_case_and_the_token_trimmed(
    server: DevServer, authorization: str
) -> None:
    answer = v1wire.post(server.port, _good(), headers(Authorization=authorization))
    assert answer.status == 200, answer.body
    assert server.store.count() == 1


def test_a_content_type_with_parameters_in_any_case_is_json(server: DevServer) -> None:
    head = headers(Content_Type="Application/JSON; charset=utf-8")
    assert v1wire.post(server.port, _good(), head).status == 200


def test_an_internal_error_on_the_v1_route_says_retry_after_one_second(
    tmp_path: Any,
) -> None:
    server = DevServer(db_path=tmp_path / "db.sqlite3", tokens=(TOKEN,)).start()
    try:
        server.store.close()  # the next write fails inside the server
        answer = v1wire.post(server.port, _good())
        assert answer.status == 500
        assert answer.json()["error"] == "internal_error"
        assert answer.header("Retry-After") == "1"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, "1"), (500, "1"), (503, "1"), (400, None)]
)
def test_v1_errors_say_retry_after_on_429_500_and_503_only(
    status: int, retry_after: Optional[str]
) -> None:
    headers = dict(CaptureV1Error(status, "tag", "text").headers())
    assert headers.get("Retry-After") == retry_after
