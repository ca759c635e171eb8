"""Capture v1 on the devserver: each event's own result, and what is stored.

One test per item of the v1 contract that a good request exercises (the route, the
SDK-info header, encodings, per-event drops and warnings, the answer's keys, the
properties written back, skew correction, one copy per uuid, the protocol recorded).
Refusals of the whole request are ``test_devserver_v1_rejections``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from typing import Any, Dict, Optional

import pytest
import requests

from analytics_compat.devserver import DevServer

from . import v1wire
from .conftest import PostBatch
from .v1wire import envelope, event, headers, now_iso


def _stored(server: DevServer, uuid: str) -> Dict[str, Any]:
    (found,) = [e for e in server.store.events() if e["uuid"] == uuid]
    return found


@pytest.mark.parametrize("path", ["/i/v1/analytics/events", "/i/v1/analytics/events/"])
def test_the_route_answers_with_and_without_a_trailing_slash(server: DevServer, path: str) -> None:
    sent = event()
    answer = v1wire.post(server.port, envelope([sent]), path=path)
    assert answer.status == 200
    assert answer.json() == {"results": {sent["uuid"]: {"result": "ok"}}}
    assert answer.header("Retry-After") is None
    stored = _stored(server, sent["uuid"])
    assert (stored["protocol"], stored["path"]) == ("v1", "/i/v1/analytics/events")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("encoding", ["gzip", "deflate-zlib", "deflate-raw", None])
def test_gzip_and_both_forms_of_deflate_are_decoded(
    server: DevServer, encoding: Optional[str]
) -> None:
    sent = event()
    raw = json.dumps(envelope([sent])).encode()
    head = headers()
    if encoding == "gzip":
        raw, head["Content-Encoding"] = gzip.compress(raw), "GZIP"
    elif encoding == "deflate-zlib":
        raw, head["Content-Encoding"] = zlib.compress(raw), "deflate"
    elif encoding == "deflate-raw":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        raw, head["Content-Encoding"] = packer.compress(raw) + packer.flush(), "deflate"
    answer = v1wire.post(server.port, raw, head)
    assert answer.status == 200, answer.body
    assert server.store.count() == 1
    assert server.requests_log[-1].gzip is (encoding == "gzip")


# (case, the event's changed fields, its result, its details)
PER_EVENT = [
    ("empty-name", {"event": ""}, "drop", "missing_event_name"),
    ("long-name", {"event": "é" * 101}, "drop", "event_name_too_long"),  # 202 bytes
    ("name-of-200-bytes", {"event": "é" * 100}, "ok", None),
    ("blank-distinct-id", {"distinct_id": "  \t"}, "drop", "missing_distinct_id"),
    ("long-distinct-id", {"distinct_id": "d" * 201}, "drop", "distinct_id_too_large"),
    ("naive-timestamp", {"timestamp": "2026-01-01T00:00:00"}, "drop", "invalid_event_timestamp"),
    ("date-only-timestamp", {"timestamp": "2026-01-01"}, "drop", "invalid_event_timestamp"),
    ("properties-a-list", {"properties": [1]}, "drop", "malformed_event_properties"),
    ("properties-null", {"properties": None}, "drop", "malformed_event_properties"),
    (
        "lone-surrogate-in-properties",
        {"properties": {"note": "a\ud800b"}},
        "drop",
        "malformed_event_properties",
    ),
    ("number-out-of-range", {"properties": {"n": 1e400}}, "drop", "malformed_event_properties"),
    ("options-a-list", {"options": []}, "drop", "invalid_options"),
    (
        "option-of-the-wrong-type",
        {"options": {"process_person_profile": "false"}},
        "drop",
        "invalid_options",
    ),
    ("tour-id-a-number", {"options": {"product_tour_id": 7}}, "drop", "invalid_options"),
    ("no-options-no-properties", {"options": ..., "properties": ...}, "ok", None),
    ("anonymous", {"distinct_id": "Anonymous"}, "warning", "person_processing_disabled"),
    ("null-id", {"distinct_id": "NULL"}, "warning", "person_processing_disabled"),
    ("zero-id", {"distinct_id": "0"}, "warning", "person_processing_disabled"),
    (
        "nil-uuid-id",
        {"distinct_id": "00000000-0000-0000-0000-000000000000"},
        "warning",
        "person_processing_disabled",
    ),
]


@pytest.mark.parametrize(
    ("fields", "result", "details"),
    [case[1:] for case in PER_EVENT],
    ids=[case[0] for case in PER_EVENT],
)
def test_each_event_gets_its_own_result_and_its_neighbour_is_stored(
    server: DevServer, fields: Dict[str, Any], result: str, details: Optional[str]
) -> None:
    neighbour, judged = event(event="neighbour"), event(**fields)
    raw = json.dumps(envelope([neighbour, judged])).encode()  # 1e400 is written as Infinity
    answer = v1wire.post(server.port, raw.replace(b"Infinity", b"1e400"))
    assert answer.status == 200, answer.body
    expected: Dict[str, str] = {"result": result}
    if details is not None:
        expected["details"] = details
    assert answer.json()["results"] == {
        neighbour["uuid"]: {"result": "ok"},
        judged["uuid"]: expected,
    }
    stored = {e["uuid"]: e for e in server.store.events()}
    assert neighbour["uuid"] in stored
    assert (judged["uuid"] in stored) is (result != "drop")
    if result == "warning":
        # stored, but PostHog makes no person for such an id
        assert stored[judged["uuid"]]["properties"]["$process_person_profile"] is False
        assert server.store.person(stored[judged["uuid"]]["distinct_id"]) is None
    assert [(r.events, r.inserted) for r in server.capture_requests()] == [
        (2, 1 if result == "drop" else 2)
    ]


def test_a_batch_whose_events_are_all_dropped_is_still_answered_200(server: DevServer) -> None:
    first, second = event(event=""), event(distinct_id="")
    answer = v1wire.post(server.port, envelope([first, second]))
    assert answer.status == 200
    assert {r["result"] for r in answer.json()["results"].values()} == {"drop"}
    assert server.store.count() == 0


def test_results_are_keyed_by_the_uuid_as_sent_trimmed_and_lower_case(server: DevServer) -> None:
    upper = "0190B4B5-6C1E-7A53-8C2E-2E3C9A3C00AB"
    answer = v1wire.post(server.port, envelope([event(uuid=f" {upper} ")]))
    assert answer.json() == {"results": {upper.lower(): {"result": "ok"}}}
    assert server.store.events()[0]["uuid"] == upper.lower()


def test_session_window_and_options_are_written_back_and_the_sdk_header_wins(
    server: DevServer,
) -> None:
    sent = event(
        session_id="s-1",
        window_id="w-1",
        options={
            "cookieless_mode": True,
            "disable_skew_correction": True,
            "product_tour_id": "tour-9",
            "process_person_profile": False,
        },
        properties={"$lib": "spoofed", "$session_id": "old", "plan": "pro"},
    )
    answer = v1wire.post(
        server.port, envelope([sent]), headers(PostHog_Sdk_Info="posthog-python/7.91.1")
    )
    assert answer.status == 200
    properties = _stored(server, sent["uuid"])["properties"]
    assert properties == {
        "plan": "pro",
        "$session_id": "s-1",
        "$window_id": "w-1",
        "$cookieless_mode": True,
        "$ignore_sent_at": True,
        "$product_tour_id": "tour-9",
        "$process_person_profile": False,
        "$lib": "posthog-python",
        "$lib_version": "7.91.1",
    }
    assert list(properties)[-2:] == ["$lib", "$lib_version"], "added after the event's own keys"
    assert server.store.person("user-1") is None  # process_person_profile: false


@pytest.mark.parametrize("sdk_info", ["nolib", "/1.0", "lib/", " / ", "x" * 190 + "/" + "1" * 10])
def test_a_bad_sdk_info_header_is_not_fatal_it_only_adds_no_lib(
    server: DevServer, sdk_info: str
) -> None:
    sent = event(properties={"$lib": "mine"})
    answer = v1wire.post(server.port, envelope([sent]), headers(PostHog_Sdk_Info=sdk_info))
    assert answer.status == 200
    assert _stored(server, sent["uuid"])["properties"] == {"$lib": "mine"}


def test_the_sdk_info_is_split_at_its_last_slash(server: DevServer) -> None:
    sent = event()
    v1wire.post(server.port, envelope([sent]), headers(PostHog_Sdk_Info="@scope/lib/1.2.3"))
    properties = _stored(server, sent["uuid"])["properties"]
    assert (properties["$lib"], properties["$lib_version"]) == ("@scope/lib", "1.2.3")


def test_the_timestamp_is_corrected_by_the_clients_clock_skew(server: DevServer) -> None:
    ahead = dt.timedelta(hours=1)  # the client's clock is an hour fast
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5) + ahead
    corrected, as_sent = event(timestamp=when.isoformat()), event(timestamp=when.isoformat())
    as_sent["options"] = {"disable_skew_correction": True}
    request_ts = now_iso(ahead)
    v1wire.post(
        server.port, envelope([corrected, as_sent]), headers(PostHog_Request_Timestamp=request_ts)
    )
    fixed = _stored(server, corrected["uuid"])
    shift = _time(request_ts) - _time(fixed["received_at"])  # what the server measured
    assert abs(_time(fixed["timestamp"]) - (when - shift)) < dt.timedelta(milliseconds=2)
    assert abs(shift - ahead) < dt.timedelta(seconds=30)
    kept = _stored(server, as_sent["uuid"])
    assert abs(_time(kept["timestamp"]) - when) < dt.timedelta(milliseconds=2)
    assert kept["sent_at"] == request_ts


def test_a_timestamp_over_23_hours_ahead_is_stored_as_the_arrival_time(server: DevServer) -> None:
    options = {"disable_skew_correction": True}
    far = event(timestamp=now_iso(dt.timedelta(hours=24)), options=options)
    near = event(timestamp=now_iso(dt.timedelta(hours=22)), options=options)
    v1wire.post(server.port, envelope([far, near]))
    stored_far, stored_near = _stored(server, far["uuid"]), _stored(server, near["uuid"])
    assert stored_far["timestamp"] == stored_far["received_at"]
    assert _time(stored_near["timestamp"]) > _time(stored_near["received_at"]) + dt.timedelta(
        hours=21
    )


def test_a_resent_batch_stores_each_event_once_and_answers_ok_again(server: DevServer) -> None:
    body = envelope([event(), event(event="second")], historical_migration=True)
    request_id = headers()["PostHog-Request-Id"]
    for attempt in ("1", "2"):
        head = headers(PostHog_Attempt=attempt, PostHog_Request_Id=request_id)
        answer = v1wire.post(server.port, body, head)
        assert {r["result"] for r in answer.json()["results"].values()} == {"ok"}
    assert server.store.count() == 2
    assert [(r.events, r.inserted) for r in server.capture_requests()] == [(2, 2), (2, 0)]
    assert [b["historical_migration"] for b in server.store.batches()] == [True, True]


def test_events_and_api_events_say_which_protocol_delivered_each_event(
    server: DevServer, post_batch: PostBatch, http: requests.Session
) -> None:
    assert post_batch([{"event": "by_v0", "distinct_id": "d"}]).status_code == 200
    v1wire.post(server.port, envelope([event(event="by_v1")]))
    listed = http.get(server.url + "/api/events", timeout=10).json()
    assert [(e["event"], e["protocol"], e["path"]) for e in listed] == [
        ("by_v1", "v1", "/i/v1/analytics/events"),
        ("by_v0", "v0", "/batch/"),
    ]


def test_the_cors_preflight_of_a_browser_v1_client_is_granted(
    server: DevServer, http: requests.Session
) -> None:
    response = http.options(server.url + "/i/v1/analytics/events", timeout=10)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "posthog-attempt", "posthog-request-id"} <= allowed
