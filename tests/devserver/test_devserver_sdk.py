"""The official posthog SDK (from PyPI) delivers to the devserver exactly as to PostHog."""

from __future__ import annotations

import gzip
import json
from typing import Any, Iterator

import posthog
import pytest
import requests

from analytics_compat.devserver import DevServer

from .conftest import TOKEN

# These tests drive the official SDK's 7.x API; pip gives Python 3.9 an older posthog.
POSTHOG_7 = int(posthog.VERSION.split(".")[0]) >= 7
pytestmark = pytest.mark.skipif(not POSTHOG_7, reason="needs posthog>=7 (Python 3.10+)")


@pytest.fixture(autouse=True)
def _fresh_sdk_sessions() -> Iterator[None]:
    # posthog keeps module-level pooled sessions; close them so no socket outlives a test
    yield
    # Close the SDK's pooled sessions (older posthog releases have no such hook).
    getattr(posthog.request, "reset_sessions", lambda: None)()


def _client(server: DevServer, **options: Any) -> posthog.Posthog:
    settings: dict[str, Any] = {
        "project_api_key": TOKEN,
        "host": server.url,
        "sync_mode": True,
        "capture_mode": "v0",
        "enable_local_evaluation": False,
        "max_retries": 0,
    }
    settings.update(options)
    return posthog.Posthog(**settings)


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_sdk_capture_set_alias_group_identify_are_each_stored_once(
    server: DevServer, use_gzip: bool
) -> None:
    client = _client(server, gzip=use_gzip)
    try:
        captured = client.capture("signed_up", distinct_id="u1", properties={"plan": "pro"})
        client.set(distinct_id="u1", properties={"email": "ada@example.com"})
        client.alias(previous_id="u1", distinct_id="user-1")
        client.group_identify("company", "acme", {"name": "Acme"}, distinct_id="user-1")
    finally:
        client.shutdown()

    store = server.store
    assert [e["event"] for e in store.events()] == [
        "signed_up",
        "$set",
        "$create_alias",
        "$groupidentify",
    ]
    assert len({e["uuid"] for e in store.events()}) == 4
    signed_up = store.events(event="signed_up")[0]
    assert signed_up["uuid"] == captured
    assert signed_up["properties"]["plan"] == "pro"
    assert signed_up["properties"]["$lib"] == "posthog-python"
    person = store.person("user-1")
    assert person is not None
    assert set(person["distinct_ids"]) == {"u1", "user-1"}
    assert person["properties"]["email"] == "ada@example.com"
    group = store.group("company", "acme")
    assert group is not None and group["properties"] == {"name": "Acme"}
    log = server.capture_requests()
    assert [(r.status, r.events, r.inserted, r.gzip) for r in log] == [(200, 1, 1, use_gzip)] * 4


def test_sdk_batches_arrive_with_their_event_counts_in_order(server: DevServer) -> None:
    client = _client(server, sync_mode=False, flush_at=50, flush_interval=0.3, gzip=True)
    try:
        for i in range(7):
            client.capture("tick", distinct_id="batcher", properties={"i": i})
        client.flush()
    finally:
        client.shutdown()
    log = server.capture_requests()
    assert sum(r.events or 0 for r in log) == 7
    assert len(log) < 7, "the SDK batched, the server saw fewer requests than events"
    assert [b["event_count"] for b in server.store.batches()] == [r.events for r in log]
    assert [e["properties"]["i"] for e in server.store.events(event="tick")] == list(range(7))


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_a_retried_batch_is_not_stored_twice(
    server: DevServer, http: requests.Session, use_gzip: bool
) -> None:
    events = [
        {
            "event": "$identify",
            "distinct_id": "user-9",
            "uuid": "0190b4b5-6c1e-7a53-8c2e-2e3c9a3c0001",
            "properties": {"$anon_distinct_id": "anon-9", "$set": {"n": 1}},
        },
        {
            "event": "paid",
            "distinct_id": "user-9",
            "uuid": "0190b4b5-6c1e-7a53-8c2e-2e3c9a3c0002",
            "properties": {"amount": 5},
        },
    ]
    body = json.dumps({"api_key": TOKEN, "batch": events}).encode()
    headers = {"Content-Type": "application/json"}
    if use_gzip:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    for _ in range(2):
        response = http.post(server.url + "/batch/", data=body, headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": 1}
    assert server.store.count() == 2
    assert [(r.events, r.inserted) for r in server.capture_requests()] == [(2, 2), (2, 0)]
    person = server.store.person("anon-9")
    assert person is not None and person["properties"] == {"n": 1}


def test_the_sdk_transport_sees_a_wrong_token_as_a_401_api_error(server: DevServer) -> None:
    event = {"event": "x", "distinct_id": "d", "uuid": "0190b4b5-6c1e-7a53-8c2e-2e3c9a3c00aa"}
    with pytest.raises(posthog.request.APIError) as raised:
        posthog.request.batch_post("phc_wrong", server.url, gzip=True, batch=[event])
    assert raised.value.status == 401
    assert server.store.count() == 0
    response = posthog.request.batch_post(TOKEN, server.url, gzip=True, batch=[event])
    assert response.status_code == 200
    assert server.store.count() == 1
