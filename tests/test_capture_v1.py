"""Capture v1 on the wire and per event: path, headers, body, event shape, options,
attempts, partial retry, drops, warnings, Retry-After, 413, compression.

Every test talks to ``tests.v1server.V1Server``, which refuses what PostHog's v1
endpoint refuses (strict ``options`` types included); a test that expects delivery
also checks that the server refused nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
import zlib
from typing import Any, Callable, List

import pytest

import analytics_compat
from analytics_compat import (
    DeliveryError,
    EncodingError,
    EventDroppedError,
    FlushInfo,
    HTTPStatusError,
    MessagePromise,
    RetriesExhaustedError,
    TransportError,
)
from tests.v1server import V1Server, error_body

KEY = "phc_test_secret_key"
HOLD = {"flushAt": 100, "flush_policy": "posthog", "flushAfter": 60_000, "timerInterval": 60_000}
Make = Callable[..., analytics_compat.Client]


def send(client: analytics_compat.Client, *names: str, **props: Any) -> List[MessagePromise]:
    """Track ``names`` as one batch (the client must hold them: ``HOLD``) and flush.

    Some of them may fail: the flush must have settled them all, not delivered them."""
    promises = [
        client.track({"userId": "user-1", "event": name, "properties": props}) for name in names
    ]
    assert client.flush(timeout=10).settled, "the flush did not complete"
    return promises


def accepted(v1: V1Server) -> None:
    assert v1.refusals() == [], v1.refusals()


def utc(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    assert when.utcoffset() == dt.timedelta(0), text
    return when


# -- the request ------------------------------------------------------------------------
def test_posts_to_the_v1_path_with_bearer_auth_and_no_key_in_the_body(
    make_v1: Make, v1: V1Server
) -> None:
    client = make_v1(**HOLD)
    (promise,) = send(client, "e")
    assert promise.error is None
    (request,) = v1.requests
    accepted(v1)
    assert request.path == "/i/v1/analytics/events"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert set(request.body) == {"created_at", "batch"}, "no api_key, sent_at, or false flag"
    assert KEY not in request.data.decode()
    age = dt.datetime.now(dt.timezone.utc) - utc(request.body["created_at"])
    assert abs(age) < dt.timedelta(minutes=1)


def test_the_four_v1_headers_and_their_formats(make_v1: Make, v1: V1Server) -> None:
    client = make_v1(**HOLD)
    send(client, "e")
    headers = v1.requests[0].headers
    expected = f"analytics-compat/{analytics_compat.__version__}"
    assert headers["posthog-sdk-info"] == expected
    assert headers["user-agent"] == expected
    assert headers["content-type"] == "application/json"
    assert headers["posthog-attempt"] == "1"
    assert uuid.UUID(headers["posthog-request-id"]).version == 4
    stamp = utc(headers["posthog-request-timestamp"])
    assert abs(dt.datetime.now(dt.timezone.utc) - stamp) < dt.timedelta(minutes=1)


@pytest.mark.parametrize("flag", [True, False])
def test_historical_migration_is_sent_only_when_true(
    make_v1: Make, v1: V1Server, flag: bool
) -> None:
    client = make_v1(historical_migration=flag, **HOLD)
    send(client, "e")
    accepted(v1)
    body = v1.requests[0].body
    if flag:
        assert body["historical_migration"] is True
    else:
        assert "historical_migration" not in body


# -- the event --------------------------------------------------------------------------
def test_event_shape_lib_in_the_header_and_set_inside_properties(
    make_v1: Make, v1: V1Server
) -> None:
    client = make_v1(**HOLD)
    given = str(uuid.uuid4())
    props = {"button": "buy", "$lib": "spoofed", "$lib_version": "0"}  # the header says it
    client.capture("d1", "clicked", props, uuid=given, groups={"company": "acme"})
    client.identify({"userId": "d1", "traits": {"email": "a@example.com"}})
    client.set("d1", {"plan": "pro"})
    assert client.flush(timeout=10)
    accepted(v1)
    clicked, ident, st = v1.requests[0].events
    for event in (clicked, ident, st):
        assert set(event) == {"event", "uuid", "distinct_id", "timestamp", "options", "properties"}
        assert event["options"] == {}
        assert "$lib" not in event["properties"] and "$lib_version" not in event["properties"]
        assert uuid.UUID(event["uuid"]).version == 4
        utc(event["timestamp"])
    assert clicked["uuid"] == given
    assert clicked["properties"] == {"button": "buy", "$groups": {"company": "acme"}}
    assert ident["event"] == "$identify"
    assert ident["properties"]["$set"] == {"email": "a@example.com"}
    assert st["event"] == "$set" and st["properties"] == {"$set": {"plan": "pro"}}


def test_geoip_is_disabled_in_properties_by_default(make_v1: Make, v1: V1Server) -> None:
    """As in v0: ``$geoip_disable: true`` unless the option or the call says otherwise."""
    client = make_v1(disable_geoip=True, **HOLD)
    client.capture("d1", "default")
    client.capture("clicked", distinct_id="d1", disable_geoip=False)
    assert client.flush(timeout=10)
    accepted(v1)
    default, opted_in = v1.requests[0].events
    assert default["properties"] == {"$geoip_disable": True}
    assert opted_in["properties"] == {"$geoip_disable": False}


def test_session_and_window_ids_are_lifted_only_when_strings(make_v1: Make, v1: V1Server) -> None:
    client = make_v1(**HOLD)
    client.capture("d1", "str", {"$session_id": "s1", "$window_id": "w1", "x": 1})
    client.capture("d1", "int", {"$session_id": 7, "$window_id": None, "x": 2})
    assert client.flush(timeout=10)
    accepted(v1)
    lifted, dropped = v1.requests[0].events
    assert lifted["session_id"] == "s1" and lifted["window_id"] == "w1"
    assert lifted["properties"] == {"x": 1}
    assert "session_id" not in dropped and "window_id" not in dropped
    assert dropped["properties"] == {"x": 2}


@pytest.mark.parametrize(
    ("prop", "value", "key", "sent"),
    [
        ("$process_person_profile", False, "process_person_profile", False),
        ("$process_person_profile", "false", "process_person_profile", False),
        ("$process_person_profile", " TRUE ", "process_person_profile", True),
        ("$process_person_profile", "1", "process_person_profile", True),
        ("$process_person_profile", 0, "process_person_profile", False),
        ("$process_person_profile", 2.5, "process_person_profile", True),
        ("$process_person_profile", "yes", "process_person_profile", None),
        ("$process_person_profile", None, "process_person_profile", None),
        ("$process_person_profile", [True], "process_person_profile", None),
        ("$cookieless_mode", True, "cookieless_mode", True),
        ("$cookieless_mode", {"on": True}, "cookieless_mode", None),
        ("$ignore_sent_at", 1, "disable_skew_correction", True),
        ("$ignore_sent_at", "0", "disable_skew_correction", False),
        ("$product_tour_id", "tour-1", "product_tour_id", "tour-1"),
        ("$product_tour_id", 5, "product_tour_id", None),
        ("$product_tour_id", True, "product_tour_id", None),
    ],
)
def test_options_are_coerced_or_omitted_never_sent_with_a_wrong_type(
    make_v1: Make, v1: V1Server, prop: str, value: Any, key: str, sent: Any
) -> None:
    """The server's options are strictly typed: a wrong type would refuse the batch."""
    client = make_v1(**HOLD)
    (promise,) = send(client, "e", **{prop: value, "kept": 1})
    assert promise.error is None, promise.error
    accepted(v1)
    event = v1.requests[0].events[0]
    assert event["properties"] == {"kept": 1}, "the sentinel stays in the properties"
    assert event["options"] == ({} if sent is None else {key: sent})


def test_the_strict_server_refuses_a_wrongly_typed_option(v1: V1Server) -> None:
    """Control: the server would catch an option sent with the wrong type."""
    import http.client

    body = {
        "created_at": "2026-01-01T00:00:00+00:00",
        "batch": [
            {
                "event": "e",
                "uuid": str(uuid.uuid4()),
                "distinct_id": "d",
                "timestamp": "2026-01-01T00:00:00+00:00",
                "options": {"process_person_profile": "false"},
                "properties": {},
            }
        ],
    }
    conn = http.client.HTTPConnection("127.0.0.1", int(v1.url.rsplit(":", 1)[1]), timeout=5)
    headers = {
        "Authorization": f"Bearer {KEY}",
        "Content-Type": "application/json",
        "User-Agent": "probe/1",
        "PostHog-Sdk-Info": "probe/1",
        "PostHog-Attempt": "1",
        "PostHog-Request-Id": str(uuid.uuid4()),
        "PostHog-Request-Timestamp": "2026-01-01T00:00:00+00:00",
    }
    conn.request("POST", "/i/v1/analytics/events", json.dumps(body), headers)
    answer = conn.getresponse()
    assert answer.status == 400
    assert json.loads(answer.read())["error"] == "request_parsing_error"
    conn.close()


def test_a_lone_surrogate_becomes_the_replacement_character(make_v1: Make, v1: V1Server) -> None:
    client = make_v1(**HOLD)
    (promise,) = send(client, "e", text="a\ud800b")
    assert promise.error is None
    accepted(v1)
    assert v1.requests[0].events[0]["properties"]["text"] == "a\ufffdb"


# -- attempts and per-event results --------------------------------------------------------
def test_attempts_count_up_with_one_request_id_and_created_at(make_v1: Make, v1: V1Server) -> None:
    v1.reply(503)
    v1.reply(500)
    client = make_v1(max_retries=3, **HOLD)
    promises = send(client, "a", "b")
    assert [p.error for p in promises] == [None, None]
    requests = v1.requests
    assert [r.status for r in requests] == [503, 500, 200]
    assert [r.headers["posthog-attempt"] for r in requests] == ["1", "2", "3"]
    assert len({r.headers["posthog-request-id"] for r in requests}) == 1
    assert len({r.body["created_at"] for r in requests}) == 1
    stamps = [utc(r.headers["posthog-request-timestamp"]) for r in requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3, "a new timestamp per attempt"
    assert len({json.dumps(r.body["batch"]) for r in requests}) == 1, "the same events each time"


def test_partial_retry_resends_only_the_retry_events(make_v1: Make, v1: V1Server) -> None:
    v1.results_for("b", ("retry", "not_persisted"))
    v1.results_for("d", ("retry", "not_persisted"), ("retry", "not_persisted"))
    client = make_v1(max_retries=3, **HOLD)
    promises = send(client, "a", "b", "c", "d")
    assert [p.error for p in promises] == [None] * 4
    accepted(v1)
    assert [r.names for r in v1.requests] == [["a", "b", "c", "d"], ["b", "d"], ["d"]]
    assert [r.headers["posthog-attempt"] for r in v1.requests] == ["1", "2", "3"]
    assert len({r.headers["posthog-request-id"] for r in v1.requests}) == 1
    assert sorted(e["event"] for e in v1.stored) == ["a", "b", "c", "d"], "each stored once"
    assert client.stats["delivered"] == 4 and client.stats["failed"] == 0


def test_retry_exhaustion_fails_only_the_retried_event(make_v1: Make, v1: V1Server) -> None:
    v1.results_for("b", *[("retry", "not_persisted")] * 5)
    client = make_v1(max_retries=2, **HOLD)
    first, second = send(client, "a", "b")
    assert first.error is None
    assert isinstance(second.error, RetriesExhaustedError), repr(second.error)
    assert second.error.attempts == 3
    assert "not_persisted" in str(second.error.last_error)
    assert [r.names for r in v1.requests] == [["a", "b"], ["b"], ["b"]]


def test_drop_fails_exactly_that_promise_with_the_servers_details(
    make_v1: Make, v1: V1Server
) -> None:
    v1.results_for("b", ("drop", "billing_limit_exceeded"))
    client = make_v1(**HOLD)
    errors: List[DeliveryError] = []
    flushes: List[FlushInfo] = []
    client.on("error", errors.append)
    client.on("flush", flushes.append)
    a, b, c = send(client, "a", "b", "c")
    assert a.error is None and c.error is None
    assert isinstance(b.error, EventDroppedError), repr(b.error)
    assert b.error.reason == "server"
    assert b.error.details == "billing_limit_exceeded"
    assert str(b.error) == (
        f"dropped by the server at {v1.url}/i/v1/analytics/events: billing_limit_exceeded"
    )
    assert errors == [b.error], "the client's error listeners see the drop once"
    assert len(v1.requests) == 1, "a dropped event is not resent"
    assert [(f.count, f.uuids) for f in flushes] == [(2, (a.uuid, c.uuid))]
    assert client.stats["delivered"] == 2 and client.stats["failed"] == 1


def test_result_codes_written_with_json_escapes_are_read_as_the_same_codes(
    make_v1: Make, v1: V1Server
) -> None:
    """The results are read as JSON, not matched as bytes: an escaped ``"drop"`` still drops."""
    v1.escape_codes = True
    v1.results_for("b", ("drop", "billing_limit_exceeded"))
    v1.results_for("c", ("retry", "not_persisted"))
    client = make_v1(**HOLD)
    a, b, c = send(client, "a", "b", "c")
    answer = v1.requests[0].answer
    assert b'"\\u0064rop"' in answer and b'"drop"' not in answer, answer
    assert a.error is None and c.error is None
    assert isinstance(b.error, EventDroppedError) and b.error.details == "billing_limit_exceeded"
    assert [r.names for r in v1.requests] == [["a", "b", "c"], ["c"]]


def test_listener_order_with_a_drop_client_events_then_promises_then_callback(
    make_v1: Make, v1: V1Server
) -> None:
    v1.results_for("b", ("drop", "event_restriction_drop"))
    client = make_v1(**HOLD)
    order: List[str] = []
    client.on("flush", lambda info: order.append(f"client flush {info.count}"))
    client.on("error", lambda err: order.append("client error"))
    for name in ("a", "b"):
        promise = client.track({"userId": "u", "event": name})
        promise.on("flush", lambda name=name: order.append(f"{name} flush"))
        promise.on("error", lambda err, name=name: order.append(f"{name} error"))
    done = threading.Event()
    client.flush(lambda err: (order.append(f"callback {type(err).__name__}"), done.set()))
    assert done.wait(10)
    assert order == [
        "client flush 1",
        "client error",
        "a flush",
        "b error",
        "callback EventDroppedError",
    ]


def test_unknown_result_codes_and_missing_uuids_count_as_delivered(
    make_v1: Make, v1: V1Server
) -> None:
    v1.results_for("unknown", ("deferred", "some_new_reason"))
    v1.results_for("missing", (None, None))
    client = make_v1(**HOLD)
    promises = send(client, "unknown", "missing", "ok")
    assert [p.error for p in promises] == [None, None, None]
    assert len(v1.requests) == 1
    assert set(v1.requests[0].results) == {promises[0].uuid, promises[2].uuid}


def test_warnings_deliver_and_are_logged_once_per_answer(
    make_v1: Make, v1: V1Server, caplog: pytest.LogCaptureFixture
) -> None:
    v1.results_for("a", ("warning", "person_processing_disabled"))
    v1.results_for("b", ("warning", "person_processing_disabled"))
    client = make_v1(**HOLD)
    promises = send(client, "a", "b", "c")
    assert [p.error for p in promises] == [None, None, None]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "warning" in r.msg]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    text = warned[0].getMessage()
    assert "2 event(s)" in text and "person_processing_disabled" in text
    assert KEY not in caplog.text


@pytest.mark.parametrize("body", [b"not json", b'{"results": []}', b"{}", b""])
def test_a_2xx_whose_body_is_not_results_counts_as_delivered(
    make_v1: Make, v1: V1Server, body: bytes
) -> None:
    v1.reply(200, body=body)
    client = make_v1(max_retries=3, **HOLD)
    promises = send(client, "a", "b")
    assert [p.error for p in promises] == [None, None]
    assert len(v1.requests) == 1, "a 2xx is never resent"


@pytest.mark.parametrize("where", ["200", "429"])
def test_retry_after_is_honoured(make_v1: Make, v1: V1Server, where: str) -> None:
    if where == "200":
        v1.retry_after = "1"
        v1.results_for("a", ("retry", "not_persisted"))
    else:
        v1.reply(429, {"Retry-After": "1"}, error_body("rate_limited", "slow down"))
    client = make_v1(retry_backoff=0.0, **HOLD)
    (promise,) = send(client, "a")
    assert promise.error is None
    first, second = v1.requests
    assert second.at - first.at >= 0.9, "the retry came before Retry-After allowed"


def test_a_v1_error_body_gives_the_error_its_description(make_v1: Make, v1: V1Server) -> None:
    v1.reply(400, body=error_body("invalid_batch", f"created_at is not RFC 3339 ({KEY})"))
    client = make_v1(**HOLD)
    (promise,) = send(client, "a")
    error = promise.error
    assert isinstance(error, HTTPStatusError) and error.status_code == 400
    assert not error.retryable and len(v1.requests) == 1
    assert str(error) == (
        f"{v1.url}/i/v1/analytics/events answered HTTP 400 "
        "(the server said: created_at is not RFC 3339 ([redacted]))"
    )
    assert KEY[:6] not in str(error)


def test_a_refused_token_fails_at_once(make_v1: Make, v1: V1Server) -> None:
    client = make_v1(secret="phx_a_personal_key_not_a_project_key", **HOLD)
    (promise,) = send(client, "a")
    assert isinstance(promise.error, HTTPStatusError) and promise.error.status_code == 401
    assert str(promise.error) == (
        f"{v1.url}/i/v1/analytics/events answered HTTP 401: the project API key (the "
        "'secret' option, phc_...) was not accepted: check that it is a key of a project on "
        "this host (the server said: not a project token)"
    )
    assert len(v1.requests) == 1


def test_a_413_splits_the_request_into_new_requests(make_v1: Make, v1: V1Server) -> None:
    v1.reply(413, body=error_body("payload_too_large", "too big"))
    client = make_v1(**HOLD)
    promises = send(client, "a", "b", "c", "d")
    assert [p.error for p in promises] == [None] * 4
    first, *halves = v1.requests
    assert first.status == 413
    assert [r.names for r in halves] == [["a", "b"], ["c", "d"]]
    ids = [r.headers["posthog-request-id"] for r in v1.requests]
    assert len(set(ids)) == 3, "each half is a new request"
    assert [r.headers["posthog-attempt"] for r in halves] == ["1", "1"]


def test_a_single_event_too_large_fails_alone(make_v1: Make, v1: V1Server) -> None:
    v1.reply(413, body=error_body("payload_too_large", "too big"))
    client = make_v1(**HOLD)
    (promise,) = send(client, "a")
    assert isinstance(promise.error, HTTPStatusError) and promise.error.status_code == 413


def test_the_byte_caps_hold_as_in_v0(make_v1: Make, v1: V1Server) -> None:
    """``max_event_bytes`` fails a big event alone; ``max_batch_bytes`` cuts requests."""
    client = make_v1(max_event_bytes=1024, max_batch_bytes=2048, **HOLD)
    small = [
        client.track({"userId": "u", "event": f"s{i}", "properties": {"pad": "x" * 400}})
        for i in range(6)
    ]
    big = client.track({"userId": "u", "event": "big", "properties": {"pad": "x" * 2000}})
    result = client.flush(timeout=10)
    assert (result.delivered, result.failed, result.pending) == (6, 1, 0)
    assert [p.error for p in small] == [None] * 6
    assert isinstance(big.error, EncodingError), repr(big.error)
    accepted(v1)
    assert len(v1.requests) > 1 and all(len(r.data) <= 2048 + 200 for r in v1.requests)
    assert sorted(n for r in v1.requests for n in r.names) == [f"s{i}" for i in range(6)]


def test_no_answer_is_retried_then_exhausted(make_v1: Make, v1: V1Server) -> None:
    v1.close()
    client = make_v1(max_retries=1, **HOLD)
    (promise,) = send(client, "a")
    assert isinstance(promise.error, RetriesExhaustedError)
    assert isinstance(promise.error.last_error, TransportError)


# -- compression --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "encoding"),
    [
        ({}, "gzip"),  # follows gzip, which defaults to True
        ({"gzip": False}, None),
        ({"capture_compression": "gzip", "gzip": False}, "gzip"),
        ({"capture_compression": "deflate"}, "deflate"),
        ({"capture_compression": "none"}, None),
        ({"capture_compression": "identity"}, None),
    ],
)
def test_compression_of_the_body(make_v1: Make, v1: V1Server, options: Any, encoding: Any) -> None:
    client = make_v1(**options, **HOLD)
    (promise,) = send(client, "a")
    assert promise.error is None
    accepted(v1)
    request = v1.requests[0]
    assert request.headers.get("content-encoding") == encoding
    if encoding == "deflate":
        assert request.raw[:1] == b"\x78", "zlib-wrapped, as PostHog's SDKs send it"
        assert json.loads(zlib.decompress(request.raw))["batch"][0]["event"] == "a"
    if encoding is None:
        assert json.loads(request.raw)["batch"][0]["event"] == "a"
