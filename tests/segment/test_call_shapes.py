"""Every Segment call shape, next to the analytics-node and PostHog shapes it must not break.

The rules (``_legacy.fields_of``, ``_segment.segment_fields``):

1. a mapping first is analytics-node's message (posthog-node's object for identify /
   alias when it has ``distinctId``); snake_case keywords merge into it;
2. a string or an int first, or any second positional argument, is segment-python's
   positional order for that call (``track(user_id, event, properties, context,
   timestamp, anonymous_id, integrations, message_id)``, ...); keywords fill the rest;
3. keywords alone are either spelling (``user_id=`` or ``userId``);
4. anything else first (a float, a bool, a list) is refused, naming both forms; so is
   a keyword repeating a positional argument, and one argument too many.

Events are checked where they land: a real dev server's store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Callable, Dict, Iterator, List

import pytest

from analytics_compat import Client, ValidationError
from analytics_compat.devserver import DevServer

TOKEN = "phc_dev"
NAMESPACE = uuid.UUID("ae07bd7c-32c3-58d5-802e-6973d5c93a91")
HOLD = {"flushAt": 1000, "flush_policy": "posthog", "flushAfter": 60_000}
WHEN = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,)) as running:
        yield running


@pytest.fixture
def client(server: DevServer) -> Iterator[Client]:
    made = Client({"secret": TOKEN, "host": server.url, **HOLD})
    yield made
    made.shutdown(2.0)


def stored(server: DevServer, client: Client) -> List[Dict[str, Any]]:
    assert client.flush(timeout=10), "every call must be delivered"
    events = server.store.events()
    for event in events:
        for key in ("$lib", "$lib_version", "$geoip_disable"):
            event["properties"].pop(key, None)
    return events


def test_segment_pythons_positional_forms_of_every_call(server: DevServer, client: Client) -> None:
    context = {"ip": "10.0.0.1", "userAgent": "curl/8", "locale": "en-GB"}
    client.identify(
        "u1", {"email": "ada@example.com"}, context, WHEN, "anon-1", {"All": True}, "m-1"
    )
    client.track(
        "u1", "Signed Up", {"plan": "pro"}, context, WHEN, None, {"Mixpanel": False}, "m-2"
    )
    client.page("u1", "Docs", "Python", {"url": "http://segment.com", "title": "Docs"}, None, WHEN)
    client.screen("u1", "Settings", "Brightness", {"from": "Home Screen"})
    client.group("u1", "acme", {"name": "Acme"}, None, WHEN)
    client.alias("anon-1", "u1", {"ip": "10.0.0.2"}, WHEN, None, "m-3")
    identify, track, page, screen, group, alias = stored(server, client)

    assert (identify["event"], identify["distinct_id"]) == ("$identify", "u1")
    assert identify["properties"] == {
        "$set": {"email": "ada@example.com"},
        "$anon_distinct_id": "anon-1",
        "$ip": "10.0.0.1",
        "$raw_user_agent": "curl/8",
        "$context": {"locale": "en-GB"},
        "$integrations": {"All": True},
    }
    assert identify["uuid"] == str(uuid.uuid5(NAMESPACE, "m-1"))
    assert identify["timestamp"].startswith("2026-03-01T12:30:00")

    assert (track["event"], track["distinct_id"]) == ("Signed Up", "u1")
    assert track["properties"]["plan"] == "pro"
    assert track["properties"]["$integrations"] == {"Mixpanel": False}
    assert track["uuid"] == str(uuid.uuid5(NAMESPACE, "m-2"))

    assert (page["event"], page["distinct_id"]) == ("$pageview", "u1")
    assert page["properties"] == {
        "$current_url": "http://segment.com",
        "url": "http://segment.com",
        "title": "Docs",
        "name": "Python",
        "category": "Docs",
    }
    assert (screen["event"], screen["properties"]) == (
        "$screen",
        {"from": "Home Screen", "$screen_name": "Brightness", "category": "Settings"},
    )
    assert (group["event"], group["distinct_id"]) == ("$groupidentify", "u1")
    assert group["properties"]["$group_key"] == "acme"
    assert group["properties"]["$group_set"] == {"name": "Acme"}
    assert (alias["event"], alias["distinct_id"]) == ("$create_alias", "anon-1")
    assert alias["properties"]["alias"] == "u1" and alias["properties"]["$ip"] == "10.0.0.2"
    person = server.store.person("u1")
    assert person is not None and {"u1", "anon-1"} <= set(person["distinct_ids"])


def test_segment_pythons_keyword_forms_give_the_same_events(
    server: DevServer, client: Client
) -> None:
    client.identify(user_id="u1", traits={"a": 1}, message_id="k-1")
    client.track(user_id="u1", event="e", properties={"b": 2}, message_id="k-2")
    client.page(user_id="u1", name="Home", properties={"url": "https://x.test/"}, message_id="k-3")
    client.screen(anonymous_id="a1", name="Feed", message_id="k-4")
    client.group(user_id="u1", group_id="g", traits={"c": 3}, message_id="k-5")
    client.alias(previous_id="a1", user_id="u1", message_id="k-6")
    client.track("u1", "e", {"b": 2}, message_id="k-7")
    events = stored(server, client)
    assert [(e["event"], e["distinct_id"]) for e in events] == [
        ("$identify", "u1"),
        ("e", "u1"),
        ("$pageview", "u1"),
        ("$screen", "a1"),
        ("$groupidentify", "u1"),
        ("$create_alias", "a1"),
        ("e", "u1"),
    ]
    assert events[1]["properties"] == events[6]["properties"] == {"b": 2}
    assert [e["uuid"] for e in events] == [
        str(uuid.uuid5(NAMESPACE, f"k-{i}")) for i in range(1, 8)
    ]


def test_the_analytics_node_and_posthog_shapes_still_mean_what_they_meant(
    server: DevServer, client: Client
) -> None:
    client.track({"userId": "u", "event": "node track", "properties": {"n": 1}})
    client.track({"event": "node anon"}, anonymous_id="anon")
    client.identify("u", {"$set_once": {"first": 1}, "plan": "pro"})  # posthog's lifting
    client.identify({"distinctId": "u", "properties": {"k": "v"}})  # posthog-node
    client.alias({"from": "anon", "to": "u"})
    client.alias(previous_id="anon", distinct_id="u")  # posthog-python
    client.capture("u", "posthog positional")
    client.page({"userId": "u", "name": "Home", "properties": {"url": "https://x.test/"}})
    node, anon, ph_identify, node_identify, alias1, alias2, capture, page = stored(server, client)
    assert (node["event"], node["properties"]) == ("node track", {"n": 1})
    assert anon["distinct_id"] == "anon"
    assert ph_identify["properties"] == {"$set": {"plan": "pro"}, "$set_once": {"first": 1}}
    assert node_identify["properties"] == {"$set": {"k": "v"}}
    assert alias1["distinct_id"] == alias2["distinct_id"] == "anon"
    assert alias1["properties"]["alias"] == alias2["properties"]["alias"] == "u"
    assert capture["event"] == "posthog positional"
    assert page["event"] == "$pageview" and page["properties"]["$current_url"] == "https://x.test/"


def test_session_id_is_accepted_wherever_anonymous_id_is(server: DevServer, client: Client) -> None:
    """analytics-node 0.x's README: ``sessionId`` is the id before the user logs in."""
    client.track({"sessionId": "DKGXt384hFDT82D", "event": "Listened to a song"})
    client.identify({"sessionId": "DKGXt384hFDT82D", "userId": "019mr8mf4r", "traits": {"a": 1}})
    client.page({"sessionId": "s2", "name": "Home"})
    client.group({"sessionId": "s3", "groupId": "g"})
    client.track(session_id="s4", event="snake")
    track, identify, page, group, snake = stored(server, client)
    assert track["distinct_id"] == "DKGXt384hFDT82D"
    assert identify["distinct_id"] == "019mr8mf4r"
    assert identify["properties"]["$anon_distinct_id"] == "DKGXt384hFDT82D"
    assert (page["distinct_id"], group["distinct_id"], snake["distinct_id"]) == ("s2", "s3", "s4")
    person = server.store.person("019mr8mf4r")
    assert person is not None and "DKGXt384hFDT82D" in person["distinct_ids"]


def test_a_page_takes_its_url_from_the_context_unless_its_properties_have_one(
    server: DevServer, client: Client
) -> None:
    page = {"url": "https://ctx.test/a", "path": "/a", "referrer": "https://ref.test/"}
    client.page("u", None, "A", None, {"page": page})
    client.page("u", None, "B", {"url": "https://own.test/b"}, {"page": page})
    first, second = stored(server, client)
    assert first["properties"]["$current_url"] == "https://ctx.test/a"
    assert first["properties"]["$pathname"] == "/a"
    assert first["properties"]["$referrer"] == "https://ref.test/"
    assert first["properties"]["$context"] == {"page": page}, "the context is kept too"
    assert second["properties"]["$current_url"] == "https://own.test/b"
    assert second["properties"]["url"] == "https://own.test/b", "the user's url is kept"
    assert second["properties"]["$pathname"] == "/a", "no path of its own: the context's"


def test_a_resent_message_id_is_one_event(server: DevServer, client: Client) -> None:
    """The same Segment message sent twice (a retry of the caller's, an import run
    again) has one uuid, so it is stored once."""
    for _ in range(3):
        client.track("u", "Bought", {"sku": 1}, message_id="node-3f1c0d")
    client.track("u", "Bought", {"sku": 1}, message_id="node-other")
    events = stored(server, client)
    assert len(events) == 2
    assert events[0]["uuid"] == str(uuid.uuid5(NAMESPACE, "node-3f1c0d"))


def test_empty_integrations_add_nothing(server: DevServer, client: Client) -> None:
    client.track("u", "e", integrations={})
    (event,) = stored(server, client)
    assert "$integrations" not in event["properties"]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.track("u"), "event is required (a non-empty string)"),
        (lambda c: c.track("u", "e", "not a dict"), "properties must be a mapping (dict), not str"),
        (lambda c: c.track(1.5, "e"), "segment-python's (user_id, event, properties, ...)"),
        (lambda c: c.track(True, "e"), "with user_id a string or an int, not bool"),
        (lambda c: c.track(["u"]), "takes a message mapping (analytics-node), or segment"),
        (lambda c: c.track({"userId": "u", "event": "e"}, "extra"), "with user_id a string"),
        (lambda c: c.track("u", "e", user_id="v"), "got two values for 'user_id'"),
        (lambda c: c.track("u", "e", None, None, None, None, None, None, 9), "at most 8"),
        (lambda c: c.alias("a", "b", "not a context"), "context must be a mapping"),
        (lambda c: c.alias("a", None, {}), "userId is required"),
        (lambda c: c.page("u", 7), "category must be a string, not int"),
        (lambda c: c.screen("u", None, {"a": 1}), "name must be a string, not dict"),
        (lambda c: c.group("u"), "groupId is required"),
        (lambda c: c.page(name="Home"), "page() needs userId or anonymousId"),
        (lambda c: c.track("u", "e", message_id=""), "messageId must not be empty"),
        (lambda c: c.track("u", "e", message_id=1.5), "messageId must be a string or an int"),
    ],
)
def test_the_boundaries_between_the_shapes_are_refused_with_a_reason(
    client: Client, call: Callable[[Client], Any], words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        call(client)
    assert words in str(raised.value), str(raised.value)
    assert client.queued == 0


def test_two_strings_in_track_are_user_and_event_and_an_int_user_is_a_string(
    server: DevServer, client: Client
) -> None:
    client.track("Order Completed", "u")  # segment-python's order, whatever the words say
    client.track(42, "Answered")
    first, second = stored(server, client)
    assert (first["distinct_id"], first["event"]) == ("Order Completed", "u")
    assert (second["distinct_id"], second["event"]) == ("42", "Answered")


def test_alias_direction_decides_whether_the_persons_merge(server: DevServer) -> None:
    """The migration guide's rule: PostHog merges the person of ``alias`` into the person
    of ``distinct_id`` (the first id of every alias form here), and refuses when the
    ``alias`` person is already identified. The dev server applies PostHog's rule."""
    client = Client({"secret": TOKEN, "host": server.url, "flushAt": 1})
    try:
        client.identify("user-1", {"plan": "pro"}).wait(5)  # user-1 is identified
        client.track("anon-1", "browsed").wait(5)
        client.alias("anon-1", "user-1").wait(5)  # alias = user-1, identified: refused
        assert server.store.person("user-1")["distinct_ids"] == ["user-1"]
        client.alias("user-1", "anon-1").wait(5)  # alias = anon-1, anonymous: merged
        assert set(server.store.person("anon-1")["distinct_ids"]) == {"user-1", "anon-1"}
        client.track("anon-2", "browsed").wait(5)
        client.identify("user-1", anonymous_id="anon-2").wait(5)  # $anon_distinct_id
        assert "anon-2" in server.store.person("user-1")["distinct_ids"]
    finally:
        client.shutdown(2)
