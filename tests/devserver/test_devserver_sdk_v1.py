"""Real clients speaking capture v1 to the devserver: the official posthog-python 7.x
(``capture_mode="v1"``), each event stored once, also when it resends a request whose
answer was lost; and our own client in v1 mode, whose events the devserver drops
failing exactly their own promises with the server's ``details``.

The posthog-python tests skip where pip cannot give posthog 7.x (Python 3.9).
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional

import pytest

import analytics_compat
from analytics_compat.devserver import DevServer
from analytics_compat.errors import DeliveryError, EventDroppedError

from .conftest import TOKEN
from .losing_proxy import LosingProxy

posthog = pytest.importorskip("posthog")
POSTHOG_7 = int(posthog.VERSION.split(".")[0]) >= 7 and hasattr(posthog, "capture_v1")
needs_posthog_7 = pytest.mark.skipif(not POSTHOG_7, reason="needs posthog>=7 with capture v1")


@pytest.fixture(autouse=True)
def _clean_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.delenv("POSTHOG_CAPTURE_COMPRESSION", raising=False)
    yield
    getattr(posthog.request, "reset_sessions", lambda: None)()


def _posthog(host: str, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "host": host,
        "capture_mode": "v1",
        "enable_local_evaluation": False,
        "sync_mode": True,
    }
    settings.update(options)
    return posthog.Posthog(TOKEN, **settings)


@needs_posthog_7
@pytest.mark.parametrize("compression", ["none", "gzip", "deflate"])
def test_posthog_python_v1_calls_are_each_stored_once_with_their_person_effects(
    server: DevServer, compression: str
) -> None:
    client = _posthog(
        server.url,
        sync_mode=False,
        flush_at=50,
        flush_interval=0.2,
        capture_compression=compression,
    )
    try:
        captured = client.capture("signed_up", distinct_id="u1", properties={"plan": "pro"})
        client.set(distinct_id="u1", properties={"email": "ada@example.com"})
        client.alias(previous_id="u1", distinct_id="user-1")
        client.group_identify("company", "acme", {"name": "Acme"}, distinct_id="user-1")
        client.flush()
    finally:
        client.shutdown()
    events = server.store.events()
    assert sorted(e["event"] for e in events) == sorted(
        ["signed_up", "$set", "$create_alias", "$groupidentify"]
    )
    assert {(e["protocol"], e["path"]) for e in events} == {("v1", "/i/v1/analytics/events")}
    signed_up = server.store.events(event="signed_up")[0]
    assert signed_up["uuid"] == captured
    assert signed_up["properties"]["$lib"] == "posthog-python"  # from PostHog-Sdk-Info
    assert signed_up["properties"]["$lib_version"] == posthog.VERSION
    person = server.store.person("user-1")
    assert person is not None and set(person["distinct_ids"]) == {"u1", "user-1"}
    assert person["properties"]["email"] == "ada@example.com"
    group = server.store.group("company", "acme")
    assert group is not None and group["properties"] == {"name": "Acme"}
    log = server.capture_requests()
    assert sum(r.events or 0 for r in log) == sum(r.inserted or 0 for r in log) == 4
    assert {r.status for r in log} == {200}
    assert all(r.gzip is (compression == "gzip") for r in log)


@needs_posthog_7
def test_posthog_python_v1_resending_after_a_lost_answer_stores_each_event_once(
    server: DevServer,
) -> None:
    proxy = LosingProxy(server.port, lose=1)
    try:
        client = _posthog(proxy.url, max_retries=2)
        try:
            # sync_mode: each capture posts on this thread, with the SDK's v1 retry loop
            first = client.capture("first", distinct_id="u1", properties={"n": 1})
            second = client.capture("second", distinct_id="u1", properties={"n": 2})
        finally:
            client.shutdown()
    finally:
        proxy.close()
    assert proxy.lost == 1
    attempts = [(h["posthog-attempt"], h["posthog-request-id"]) for h in proxy.requests]
    assert [a for a, _ in attempts] == ["1", "2", "1"], "the lost answer made it resend"
    assert attempts[0][1] == attempts[1][1], "the resend keeps its request id"
    assert [e["uuid"] for e in server.store.events()] == [first, second]
    log = server.capture_requests()
    assert [(r.status, r.events, r.inserted) for r in log] == [
        (200, 1, 1),
        (200, 1, 0),
        (200, 1, 1),
    ]


def _ours(server: DevServer, **options: Any) -> analytics_compat.Client:
    settings: dict[str, Any] = {
        "secret": TOKEN,
        "host": server.url,
        "capture_mode": "v1",
        "flushAt": 10,
        "flush_policy": "posthog",
    }
    settings.update(options)
    return analytics_compat.Client(settings)


@pytest.mark.parametrize("compression", ["gzip", "deflate", "none"])
def test_our_v1_client_sees_exactly_the_refused_events_fail_with_the_servers_details(
    server: DevServer, compression: str
) -> None:
    client = _ours(server, capture_compression=compression)
    errors: List[DeliveryError] = []
    delivered: List[int] = []
    client.on("error", errors.append)
    client.on("flush", lambda info: delivered.append(info.count))
    try:
        fine = client.track({"userId": "u1", "event": "fine", "properties": {"n": 1}})
        long_name = client.track({"userId": "u1", "event": "x" * 201})
        long_id = client.track({"userId": "d" * 201, "event": "too_long_an_id"})
        warned = client.track({"userId": "anonymous", "event": "no_person"})
        result = client.flush(timeout=30)
        assert result.settled and (result.delivered, result.failed) == (2, 2), result
    finally:
        client.shutdown()

    def details(promise: Any) -> Optional[str]:
        error = promise.error
        assert isinstance(error, EventDroppedError), error
        assert error.reason == "server"
        return error.details

    assert fine.error is None and warned.error is None
    assert details(long_name) == "event_name_too_long"
    assert details(long_id) == "distinct_id_too_large"
    assert sorted(e.details for e in errors if isinstance(e, EventDroppedError)) == [
        "distinct_id_too_large",
        "event_name_too_long",
    ]
    assert sum(delivered) == 2, "FlushInfo counts the delivered messages only"
    assert sorted(e["event"] for e in server.store.events()) == ["fine", "no_person"]
    stored = {e["event"]: e for e in server.store.events()}
    assert stored["fine"]["uuid"] == fine.uuid and stored["fine"]["protocol"] == "v1"
    assert stored["fine"]["properties"]["$lib"] == "analytics-compat"  # from PostHog-Sdk-Info
    assert stored["no_person"]["properties"]["$process_person_profile"] is False
