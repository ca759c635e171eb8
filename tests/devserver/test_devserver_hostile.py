"""Hostile and unlucky bodies and queries: a prompt 4xx with a reason, nothing stored.

Each test reproduces a defect found in the devserver and pins its fix: gzip
inflation that was quadratic in the number of members, and input that got a 500
(which a client retries forever) instead of a 400.
"""

from __future__ import annotations

import gzip
import json

import pytest
import requests

from analytics_compat.devserver import MAX_BODY_BYTES, DevServer

from .conftest import TOKEN

EVENT = {"event": "e", "distinct_id": "d", "properties": {"n": 1}}
BATCH = json.dumps({"api_key": TOKEN, "batch": [EVENT]}).encode()


def _assert_nothing_stored(server: DevServer) -> None:
    assert server.store.count() == 0
    assert server.store.batches() == []


def _assert_still_serving(server: DevServer) -> None:
    with requests.Session() as http:
        ok = http.post(server.url + "/batch/", data=BATCH, timeout=10)
    assert ok.status_code == 200
    assert server.store.count() == 1


# -- gzip inflation: linear in the body, bounded in time -------------------------------

EMPTY_MEMBER = gzip.compress(b"", mtime=0)


@pytest.mark.timeout(120)
def test_a_20_mib_body_of_empty_gzip_members_is_answered_at_once_not_after_minutes(
    server: DevServer, http: requests.Session
) -> None:
    # Copying the rest of the input once per member made this quadratic: 4 MB took
    # ~20 s, so 20 MiB held a server thread for minutes. The read timeout is the bound.
    last = gzip.compress(BATCH)
    count = (MAX_BODY_BYTES - len(last)) // len(EMPTY_MEMBER)
    body = EMPTY_MEMBER * count + last
    assert len(body) <= MAX_BODY_BYTES
    response = http.post(
        server.url + "/batch/", data=body, headers={"Content-Encoding": "gzip"}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "too_many_gzip_members"
    _assert_nothing_stored(server)
    _assert_still_serving(server)


@pytest.mark.timeout(120)
def test_a_few_hundred_members_before_a_large_one_are_inflated_and_stored(
    server: DevServer, http: requests.Session
) -> None:
    # 12 MiB of stored (level 0) gzip after 500 members: each member used to copy the
    # 12 MiB behind it again.
    big = {"event": "big", "distinct_id": "d", "properties": {"blob": "x" * (12 << 20)}}
    last = gzip.compress(json.dumps({"api_key": TOKEN, "batch": [big]}).encode(), 0)
    body = EMPTY_MEMBER * 500 + last
    response = http.post(
        server.url + "/batch/", data=body, headers={"Content-Encoding": "gzip"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert server.store.count(event="big") == 1


# -- 4xx with a reason, never 500, for input the store or SQLite would choke on -------


def _batch_bytes(raw_event: str, token: str = f'"{TOKEN}"') -> bytes:
    return f'{{"api_key": {token}, "batch": [{raw_event}]}}'.encode()


REFUSED: list[tuple[str, str, bytes, str]] = [
    # (case id, path, body, expected code)
    ("surrogate-token", "/batch/", _batch_bytes('{"event":"e","distinct_id":"d"}', '"\\ud800"'),
     "invalid_unicode"),
    ("surrogate-event-name", "/batch/", _batch_bytes('{"event":"\\ud83d","distinct_id":"d"}'),
     "invalid_unicode"),
    ("surrogate-distinct-id", "/batch/", _batch_bytes('{"event":"e","distinct_id":"a\\udc00"}'),
     "invalid_unicode"),
    ("surrogate-property-value", "/batch/",
     _batch_bytes('{"event":"e","distinct_id":"d","properties":{"a":"\\ud800"}}'),
     "invalid_unicode"),
    ("surrogate-set-key", "/batch/",
     _batch_bytes('{"event":"e","distinct_id":"d","$set":{"\\udfff":1}}'), "invalid_unicode"),
    ("number-out-of-range", "/batch/",
     _batch_bytes('{"event":"e","distinct_id":"d","properties":{"a":1e400}}'), "invalid_json"),
    ("negative-number-out-of-range", "/e/",
     b'{"token":"phc_test","event":"e","distinct_id":"d","properties":{"a":-1e400}}',
     "invalid_json"),
    ("distinct-id-out-of-range", "/batch/", _batch_bytes('{"event":"e","distinct_id":1e400}'),
     "invalid_json"),
    ("flags-surrogate-distinct-id", "/flags/?v=2",
     b'{"api_key":"phc_test","distinct_id":"\\ud800"}', "invalid_unicode"),
    ("flags-surrogate-token", "/flags/?v=2", b'{"api_key":"\\ud800","distinct_id":"d"}',
     "invalid_unicode"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "code"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_undecodable_input_is_a_400_with_a_reason_and_stores_nothing(
    server: DevServer, http: requests.Session, path: str, body: bytes, code: str
) -> None:
    response = http.post(server.url + path, data=body, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert response.json()["detail"]
    _assert_nothing_stored(server)
    assert server.store.person("d") is None
    _assert_still_serving(server)


@pytest.mark.parametrize(
    "bad_time",
    [
        '"timestamp": "9999-12-31T23:59:59-05:00"',  # past year 9999 once in UTC
        '"timestamp": "0001-01-01T00:00:00+05:00"',  # before year 1 once in UTC
        '"offset": 1e20',
        '"offset": 99999999999999',
    ],
    ids=["after-9999", "before-year-1", "huge-float-offset", "huge-int-offset"],
)
def test_an_unrepresentable_time_falls_back_to_the_arrival_time(
    server: DevServer, http: requests.Session, bad_time: str
) -> None:
    body = _batch_bytes('{"event":"e","distinct_id":"d",' + bad_time + "}")
    response = http.post(server.url + "/batch/", data=body, timeout=10)
    assert response.status_code == 200, response.text
    (event,) = server.store.events()
    assert event["timestamp"] == event["received_at"]


@pytest.mark.parametrize(
    "query",
    [
        "after=99999999999999999999",
        "after=-99999999999999999999",
        "after=%2B5",
        "after=1_0",
        "limit=%2B5",
        "after=" + "9" * 5000,
    ],
)
def test_api_events_refuses_a_cursor_sqlite_cannot_hold(
    server: DevServer, http: requests.Session, query: str
) -> None:
    response = http.get(server.url + "/api/events?" + query, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_parameter"


def test_the_largest_cursor_sqlite_holds_is_accepted(
    server: DevServer, http: requests.Session
) -> None:
    http.post(server.url + "/batch/", data=BATCH, timeout=10)
    for cursor, expected in ((2**63 - 1, 0), (-(2**63), 1), (0, 1)):
        response = http.get(server.url + f"/api/events?after={cursor}", timeout=10)
        assert response.status_code == 200
        assert len(response.json()) == expected
