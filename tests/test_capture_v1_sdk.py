"""Our v1 client and the official posthog-python 7.x in v1 mode put the same events on
the wire: the same calls, with the same uuids and timestamps, reach the v1 server as
equal events (posthog-python's own system properties aside), in equal envelopes,
with the same v1 headers in the same formats.

Skipped where pip cannot give posthog 7.x (Python 3.9 gets an older release).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Callable, Dict, Iterator, List

import pytest

import analytics_compat
from tests.v1server import Got, V1Server

posthog = pytest.importorskip("posthog")
POSTHOG_7 = int(posthog.VERSION.split(".")[0]) >= 7 and hasattr(posthog, "capture_v1")
pytestmark = pytest.mark.skipif(not POSTHOG_7, reason="needs posthog>=7 with capture v1")

KEY = "phc_sdk_compat_key"
WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.timezone.utc)
# What posthog-python adds to every event that our client does not by default (its
# system context, and $is_server). Both send $geoip_disable: true by default.
SYSTEM = {
    "$python_runtime",
    "$python_version",
    "$os",
    "$os_version",
    "$os_distro",
    "$is_server",
}
PROPS = {
    "plan": "pro",
    "$session_id": "s-1",
    "$window_id": 3,  # not a string: dropped by both
    "$process_person_profile": "false",
    "$ignore_sent_at": 1,
    "$cookieless_mode": "yes",  # will not coerce: omitted by both
    "$product_tour_id": 7,  # not a string: omitted by both
    "$lib": "spoofed",
}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.delenv("POSTHOG_CAPTURE_COMPRESSION", raising=False)
    yield
    getattr(posthog.request, "reset_sessions", lambda: None)()


def ids() -> List[str]:
    return [str(uuid.uuid4()) for _ in range(4)]


def theirs(server: V1Server, u: List[str], **options: Any) -> Got:
    client = posthog.Posthog(
        project_api_key=KEY,
        host=server.url,
        capture_mode="v1",
        enable_local_evaluation=False,
        flush_at=10,
        flush_interval=60,
        **options,
    )
    try:
        client.capture(
            "signed_up",
            distinct_id="u1",
            properties=dict(PROPS),
            timestamp=WHEN,
            uuid=u[0],
            groups={"company": "acme"},
        )
        client.set(
            distinct_id="u1", properties={"email": "ada@example.com"}, timestamp=WHEN, uuid=u[1]
        )
        client.alias(previous_id="u1", distinct_id="user-1", timestamp=WHEN, uuid=u[2])
        client.group_identify(
            "company", "acme", {"name": "Acme"}, timestamp=WHEN, uuid=u[3], distinct_id="user-1"
        )
    finally:
        client.shutdown()
    (request,) = server.requests
    return request


def ours(server: V1Server, u: List[str], **options: Any) -> Got:
    client = analytics_compat.Client(
        {"secret": KEY, "host": server.url, "capture_mode": "v1", "flushAt": 10}, **options
    )
    client.capture("u1", "signed_up", dict(PROPS), WHEN, u[0], groups={"company": "acme"})
    client.set("u1", {"email": "ada@example.com"}, WHEN, u[1])
    client.alias(previous_id="u1", distinct_id="user-1", timestamp=WHEN, uuid=u[2])
    client.group_identify("company", "acme", {"name": "Acme"}, WHEN, u[3], distinct_id="user-1")
    client.shutdown(5.0)
    (request,) = server.requests
    return request


def without_system(event: Dict[str, Any]) -> Dict[str, Any]:
    props = {k: v for k, v in event["properties"].items() if k not in SYSTEM}
    return {**event, "properties": props}


@pytest.fixture
def two_servers() -> Iterator[Callable[[], V1Server]]:
    made: List[V1Server] = []

    def make() -> V1Server:
        made.append(V1Server())
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_the_same_calls_give_the_same_v1_events(two_servers: Callable[[], V1Server]) -> None:
    u = ids()
    official, ours_ = two_servers(), two_servers()
    sdk, us = theirs(official, u), ours(ours_, u)
    assert official.refusals() == [] and ours_.refusals() == []
    assert [e["event"] for e in us.events] == [e["event"] for e in sdk.events]
    for mine, official_event in zip(us.events, sdk.events):
        assert mine == without_system(official_event)
    assert us.events[0]["options"] == {
        "process_person_profile": False,
        "disable_skew_correction": True,
    }
    assert set(us.body) == set(sdk.body) == {"created_at", "batch"}


@pytest.mark.parametrize("compression", ["gzip", "deflate", "none"])
def test_the_same_headers_in_the_same_formats(
    two_servers: Callable[[], V1Server], compression: str
) -> None:
    u = ids()
    official, ours_ = two_servers(), two_servers()
    sdk = theirs(official, u, capture_compression=compression, historical_migration=True)
    us = ours(ours_, u, capture_compression=compression, historical_migration=True)
    assert sdk.body["historical_migration"] is us.body["historical_migration"] is True
    v1_headers = (
        "authorization",
        "content-type",
        "content-encoding",
        "posthog-attempt",
    )
    for name in v1_headers:
        assert us.headers.get(name) == sdk.headers.get(name), name
    for got in (sdk, us):
        assert re.fullmatch(r"[a-z-]+/\d+\.\d+\.\d+\S*", got.headers["posthog-sdk-info"])
        assert got.headers["user-agent"] == got.headers["posthog-sdk-info"]
        assert uuid.UUID(got.headers["posthog-request-id"]).version == 4
        stamp = dt.datetime.fromisoformat(got.headers["posthog-request-timestamp"])
        assert stamp.utcoffset() == dt.timedelta(0)
    assert us.headers["posthog-sdk-info"] == f"analytics-compat/{analytics_compat.__version__}"
