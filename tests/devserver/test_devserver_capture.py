"""The capture shapes PostHog accepts besides the server SDK batch, and /api/events."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from typing import Any
from urllib.parse import quote

import pytest
import requests

from analytics_compat.devserver import DevServer

from .conftest import TOKEN, PostBatch


def _js_event(i: int) -> dict[str, Any]:
    return {
        "event": "$pageview",
        "properties": {"distinct_id": f"anon-{i}", "token": TOKEN, "$current_url": "/p"},
        "timestamp": "2024-05-01T12:00:00.000Z",
        "uuid": f"0190b4b5-6c1e-7a53-8c2e-2e3c9a3c{i:04d}",
    }


def test_posthog_js_form_body_with_base64_data_on_e(
    server: DevServer, http: requests.Session
) -> None:
    payload = base64.b64encode(json.dumps([_js_event(1), _js_event(2)]).encode()).decode()
    response = http.post(
        server.url + "/e/?compression=base64&ver=1.0",
        data="data=" + quote(payload),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json() == {"status": 1}
    events = server.store.events()
    assert [e["distinct_id"] for e in events] == ["anon-1", "anon-2"]
    assert events[0]["timestamp"] == "2024-05-01T12:00:00.000+00:00"
    assert "token" not in events[0]["properties"], "the token is not kept as event data"


def test_posthog_js_gzip_js_query_on_i_v0_e(server: DevServer, http: requests.Session) -> None:
    body = gzip.compress(json.dumps([_js_event(3)]).encode())
    response = http.post(
        server.url + "/i/v0/e/?compression=gzip-js",
        data=body,
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert response.status_code == 200
    assert server.store.count(event="$pageview") == 1


def test_single_event_on_capture_with_the_token_in_properties(
    server: DevServer, http: requests.Session
) -> None:
    event = {"event": "clicked", "distinct_id": 42, "properties": {"token": TOKEN, "x": 1}}
    assert http.post(server.url + "/capture", json=event, timeout=10).status_code == 200
    (stored,) = server.store.events()
    assert stored["distinct_id"] == "42"
    assert stored["properties"] == {"x": 1}
    assert stored["uuid"], "a uuid is generated when the client sends none"


def test_cors_preflight_is_answered_for_browser_sdks(
    server: DevServer, http: requests.Session
) -> None:
    response = http.options(server.url + "/e/", timeout=10)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_historical_migration_and_sent_at_are_kept(
    server: DevServer, post_batch: PostBatch
) -> None:
    body = {
        "api_key": TOKEN,
        "historical_migration": True,
        "sent_at": "2024-01-01T00:00:00+00:00",
        "batch": [{"event": "old", "distinct_id": "d", "timestamp": "2023-12-31T23:59:00Z"}],
    }
    with requests.Session() as http:
        assert http.post(server.url + "/batch/", json=body, timeout=10).status_code == 200
    (batch,) = server.store.batches()
    assert batch["historical_migration"] is True
    (event,) = server.store.events()
    assert event["sent_at"] == "2024-01-01T00:00:00+00:00"
    assert event["timestamp"] == "2023-12-31T23:59:00.000+00:00"


def test_concurrent_batches_from_many_threads_are_all_stored(server: DevServer) -> None:
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            with requests.Session() as http:
                for n in range(5):
                    batch = [
                        {
                            "event": "load",
                            "distinct_id": f"w{worker}",
                            "properties": {"n": n, "k": k},
                        }
                        for k in range(10)
                    ]
                    response = http.post(
                        server.url + "/batch/", json={"api_key": TOKEN, "batch": batch}, timeout=30
                    )
                    assert response.status_code == 200
        except BaseException as error:  # collected: an assert in a thread would vanish
            errors.append(error)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert server.store.count(event="load") == 8 * 5 * 10
    assert len(server.store.batches()) == 40


def _seed(post_batch: PostBatch) -> None:
    post_batch(
        [
            {"event": "a", "distinct_id": "x", "properties": {"n": 1}},
            {"event": "b", "distinct_id": "y", "properties": {"n": 2}},
            {"event": "a", "distinct_id": "y", "properties": {"n": 3}},
            {"event": "c", "distinct_id": "x", "properties": {"n": 4}},
        ]
    )


def _get(http: requests.Session, server: DevServer, query: str) -> list[dict[str, Any]]:
    response = http.get(server.url + "/api/events" + query, timeout=10)
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()
    return result


def test_api_events_lists_newest_first_with_filters_limit_and_cursor(
    server: DevServer, http: requests.Session, post_batch: PostBatch
) -> None:
    _seed(post_batch)
    every = _get(http, server, "")
    assert [e["properties"]["n"] for e in every] == [4, 3, 2, 1]
    assert set(every[0]) >= {"seq", "uuid", "event", "distinct_id", "properties", "timestamp"}
    assert [e["properties"]["n"] for e in _get(http, server, "?event=a")] == [3, 1]
    assert [e["properties"]["n"] for e in _get(http, server, "?distinct_id=y")] == [3, 2]
    assert [e["properties"]["n"] for e in _get(http, server, "?event=a&distinct_id=y")] == [3]
    assert [e["properties"]["n"] for e in _get(http, server, "?limit=2")] == [4, 3]
    cursor = every[2]["seq"]  # the event with n=2
    assert [e["properties"]["n"] for e in _get(http, server, f"?after={cursor}")] == [4, 3]
    assert [e["properties"]["n"] for e in _get(http, server, f"?after={cursor}&order=asc")] == [
        3,
        4,
    ]


@pytest.mark.parametrize("query", ["?limit=ten", "?after=x", "?order=sideways"])
def test_api_events_rejects_bad_parameters(
    server: DevServer, http: requests.Session, query: str
) -> None:
    assert http.get(server.url + "/api/events" + query, timeout=10).status_code == 400


def test_stop_closes_idle_keep_alive_connections_promptly(tmp_path: Any) -> None:
    server = DevServer(db_path=tmp_path / "db.sqlite3", tokens=(TOKEN,)).start()
    with requests.Session() as http:
        assert http.get(server.url + "/_health", timeout=10).json() == {"status": "ok"}
        server.stop()  # the session still holds an idle keep-alive connection
        with pytest.raises(requests.ConnectionError):
            http.get(server.url + "/_health", timeout=5)
    server.stop()  # idempotent
