"""What reaches the server: PostHog's event and batch shapes, and the legacy mapping."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import gzip
import json
import uuid
from typing import Any

from tests.sink import Sink


class Plan(enum.Enum):
    PRO = "pro"


def test_migration_example_delivers_four_posthog_events(make_client: Any, sink: Sink) -> None:
    """The seed's analytics-node migration example, in Python."""
    client = make_client(flushAt=20)
    client.track(
        {"userId": "anonymous_user", "event": "Viewed Pricing", "properties": {"plan": "pro"}}
    )
    client.alias({"from": "anonymous_user", "to": "user_42"})
    client.identify({"userId": "user_42", "traits": {"email": "a@example.com", "name": "Ada"}})
    client.track({"userId": "user_42", "event": "Signed Up", "properties": {"plan": "pro"}})
    assert client.flush(timeout=10)
    events = sink.delivered()
    assert [e["event"] for e in events] == [
        "Viewed Pricing",
        "$create_alias",
        "$identify",
        "Signed Up",
    ]
    viewed, alias, ident, signed = events
    assert viewed["distinct_id"] == "anonymous_user"
    assert alias["distinct_id"] == "anonymous_user"
    assert alias["properties"]["distinct_id"] == "anonymous_user"
    assert alias["properties"]["alias"] == "user_42"
    assert ident["distinct_id"] == "user_42"
    assert ident["properties"]["$set"] == {"email": "a@example.com", "name": "Ada"}
    assert signed["properties"]["plan"] == "pro"


def test_every_event_has_uuid_utc_timestamp_and_lib(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1)
    given = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    client.track({"userId": "u", "event": "past", "timestamp": given}).wait(5)
    client.track({"userId": "u", "event": "now"}).wait(5)
    past, now = sink.delivered()
    assert past["timestamp"] == "2024-05-01T10:00:00+00:00"
    parsed = dt.datetime.fromisoformat(now["timestamp"])
    assert parsed.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.timezone.utc) - parsed).total_seconds()) < 60
    for event in (past, now):
        assert uuid.UUID(event["uuid"]).version == 4
        assert event["properties"]["$lib"] == "analytics-compat"
        assert event["properties"]["$lib_version"] == __import__("analytics_compat").__version__


def test_batch_body_is_gzipped_posthog_batch(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1, historical_migration=True)
    client.track({"userId": "u", "event": "e"}).wait(5)
    request = sink.requests[0]
    assert request.path == "/batch/"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["User-Agent"].startswith("analytics-compat/")
    body = json.loads(gzip.decompress(request.raw))
    assert set(body) == {"api_key", "batch", "sent_at", "historical_migration"}
    assert body["api_key"] == "phc_test_secret_key"
    assert body["historical_migration"] is True
    assert dt.datetime.fromisoformat(body["sent_at"]).utcoffset() == dt.timedelta(0)


def test_gzip_off_sends_plain_json(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1, gzip=False)
    client.track({"userId": "u", "event": "e"}).wait(5)
    assert "Content-Encoding" not in sink.requests[0].headers
    assert json.loads(sink.requests[0].raw)["batch"][0]["event"] == "e"


def test_group_maps_to_groupidentify_with_group_type_option(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1, group_type="organization")
    client.group({"groupId": "acme", "userId": "u1", "traits": {"seats": 5}}).wait(5)
    client.group({"groupId": "beta", "userId": "u1", "groupType": "team"}).wait(5)
    first, second = sink.delivered()
    assert first["event"] == "$groupidentify"
    assert first["distinct_id"] == "u1"
    assert first["properties"]["$group_type"] == "organization"
    assert first["properties"]["$group_key"] == "acme"
    assert first["properties"]["$group_set"] == {"seats": 5}
    assert second["properties"]["$group_type"] == "team"


def test_context_ip_and_user_agent_map_and_the_rest_is_kept(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1)
    client.track(
        {
            "userId": "u",
            "event": "e",
            "context": {"ip": "1.2.3.4", "userAgent": "curl/8", "locale": "fr-FR"},
        }
    ).wait(5)
    props = sink.delivered()[0]["properties"]
    assert props["$ip"] == "1.2.3.4"
    assert props["$raw_user_agent"] == "curl/8"
    assert props["$context"] == {"locale": "fr-FR"}


def test_snake_case_keywords_and_positional_alias(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1)
    client.track(user_id=7, event="kw", properties={"a": 1}).wait(5)
    client.alias("old", "new").wait(5)
    client.identify(user_id="new", traits={"x": True}).wait(5)
    kw, alias, ident = sink.delivered()
    assert kw["distinct_id"] == "7", "an int userId is stringified"
    assert alias["properties"] == {**alias["properties"], "distinct_id": "old", "alias": "new"}
    assert ident["properties"]["$set"] == {"x": True}


def test_posthog_core_calls_on_the_same_client(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=10, flush_policy="posthog")
    given = str(uuid.uuid4())
    client.capture("d1", "clicked", {"button": "buy"}, uuid=given, groups={"company": "acme"})
    client.set("d1", {"plan": "pro"})
    client.alias(previous_id="anon", distinct_id="d1")
    client.group_identify("company", "acme", {"name": "Acme"})
    client.identify("d1", {"email": "x@y.z"})
    assert client.flush(timeout=10)
    cap, st, al, grp, ident = sink.delivered()
    assert cap["uuid"] == given
    assert cap["properties"]["$groups"] == {"company": "acme"}
    assert st["event"] == "$set" and st["properties"]["$set"] == {"plan": "pro"}
    assert al["event"] == "$create_alias" and al["properties"]["alias"] == "d1"
    assert grp["distinct_id"] == "$company_acme"
    assert grp["properties"]["$group_set"] == {"name": "Acme"}
    assert ident["event"] == "$identify" and ident["properties"]["$set"] == {"email": "x@y.z"}


def test_values_json_cannot_carry_are_converted(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1)
    the_uuid = uuid.uuid4()
    props = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "day": dt.date(2024, 1, 2),
        "price": decimal.Decimal("9.99"),
        "id": the_uuid,
        "plan": Plan.PRO,
        "tags": {"b", "a"},
        "pair": (1, 2),
        "blob": b"raw",
        "nested": {"deep": [dt.date(2020, 1, 1)]},
    }
    client.track({"userId": "u", "event": "e", "properties": props}).wait(5)
    got = sink.delivered()[0]["properties"]
    assert got["when"] == "2024-01-02T03:04:05+00:00"
    assert got["day"] == "2024-01-02"
    assert got["price"] == 9.99
    assert got["id"] == str(the_uuid)
    assert got["plan"] == "pro"
    assert got["tags"] == ["a", "b"]
    assert got["pair"] == [1, 2]
    assert got["blob"] == "raw"
    assert got["nested"] == {"deep": ["2020-01-01"]}


def test_properties_are_snapshotted_at_call_time(make_client: Any, sink: Sink) -> None:
    sink.stall.clear()
    client = make_client(flushAt=1)
    props = {"count": 1}
    promise = client.track({"userId": "u", "event": "e", "properties": props})
    props["count"] = 2
    sink.stall.set()
    promise.wait(5)
    assert sink.delivered()[0]["properties"]["count"] == 1
