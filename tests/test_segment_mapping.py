"""Segment messages -> PostHog events (``_segment_export`` over ``_segment``): the
mapping, the uuid rule, the time.

Pure functions, so these tests call them directly; the last ones check that the
call ``legacy_fields`` names, made on a real ``Client``, builds the same event as
``segment_message`` (the import command sends through those calls). That live calls
and the import store the same events is ``test_import_live``'s.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List

import pytest

from analytics_compat import Client, ValidationError
from analytics_compat._segment import (
    MESSAGE_ID_NAMESPACE,
    message_uuid,
    page_properties,
    screen_properties,
)
from analytics_compat._segment_export import (
    SEGMENT_TYPES,
    content_uuid,
    legacy_fields,
    segment_message,
    segment_timestamp,
    segment_uuid,
)

WHEN = "2021-03-24T18:12:01.123Z"
WHEN_UTC = "2021-03-24T18:12:01.123000+00:00"


def test_the_namespace_is_the_documented_one_and_never_changes() -> None:
    spec = "https://segment.com/docs/connections/spec/common/#messageid"
    assert uuid.uuid5(uuid.NAMESPACE_URL, spec) == MESSAGE_ID_NAMESPACE
    assert str(MESSAGE_ID_NAMESPACE) == "ae07bd7c-32c3-58d5-802e-6973d5c93a91"
    # a fixed vector: a change of the rule would make every re-import a duplicate
    assert message_uuid("ajs-next-1616620800000-abc") == "db29ec6e-ec19-5d07-bcc3-cc1675577368"


def test_a_message_id_that_is_a_uuid_is_that_uuid() -> None:
    assert message_uuid("0F0E0D0C-0B0A-4908-8706-050403020100") == (
        "0f0e0d0c-0b0a-4908-8706-050403020100"
    )
    assert message_uuid(uuid.UUID(int=5)) == str(uuid.UUID(int=5))


def test_other_message_ids_give_a_name_based_uuid() -> None:
    made = message_uuid("node-5d41402abc4b2a76b9719d911017c592-x")
    assert made is not None and uuid.UUID(made).version == 5
    assert made == str(uuid.uuid5(MESSAGE_ID_NAMESPACE, "node-5d41402abc4b2a76b9719d911017c592-x"))
    assert message_uuid(12345) == str(uuid.uuid5(MESSAGE_ID_NAMESPACE, "12345"))
    assert message_uuid("a") != message_uuid("b")


@pytest.mark.parametrize(
    "message_id",
    [
        "ajs-next-1616620800000-5d41402abc4b2a76b9719d911017c592",
        "0f0e0d0c-0b0a-4908-8706-050403020100",
        "0F0E0D0C0B0A49088706050403020100",
        "{0f0e0d0c-0b0a-4908-8706-050403020100}",
        "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100",
        "0f0e-0d0c0b0a-4908-8706-0504-03020100",
        "0f0e0d0c-0b0a-4908-8706-05040302010",  # 31 digits
        "0f0e0d0c-0b0a-4908-8706-05040302010g",  # 32, not hex
        "+f0e0d0c0b0a49088706050403020100",  # int() reads a sign: uuid.UUID decides
        "ünïcode-✓",
        "   ",
    ],
)
def test_the_fast_path_gives_what_uuid_gives(message_id: str) -> None:
    try:
        expected = str(uuid.UUID(message_id))
    except ValueError:
        expected = str(uuid.uuid5(MESSAGE_ID_NAMESPACE, message_id))
    assert message_uuid(message_id) == expected


@pytest.mark.parametrize("message_id", ["", True, 1.5, {"a": 1}, ["m"]])
def test_a_message_id_that_is_not_a_name_is_refused(message_id: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        message_uuid(message_id)
    assert caught.value.field == "messageId"


def test_a_message_without_message_id_gets_a_uuid_from_its_content() -> None:
    one = {"type": "track", "event": "E", "userId": "u", "timestamp": WHEN}
    same = {"timestamp": WHEN, "userId": "u", "event": "E", "type": "track"}
    other = {**one, "event": "F"}
    assert segment_uuid(one) == segment_uuid(same) == content_uuid(one)
    assert segment_uuid(one) != segment_uuid(other)
    assert segment_uuid({**one, "messageId": ""}) == content_uuid({**one, "messageId": ""})
    assert segment_uuid({**one, "messageId": "m1"}) == message_uuid("m1")
    assert segment_uuid({**one, "messageId": 0}) == message_uuid("0")  # 0 is an id


def test_the_timestamp_is_segments_corrected_one_then_the_fallbacks() -> None:
    assert segment_timestamp({"timestamp": "a", "originalTimestamp": "b"}) == "a"
    assert segment_timestamp({"originalTimestamp": "b", "receivedAt": "c"}) == "b"
    assert segment_timestamp({"receivedAt": "c", "sentAt": "d"}) == "c"
    assert segment_timestamp({"timestamp": "", "sentAt": "d"}) == "d"
    assert segment_timestamp({"type": "track"}) is None


def test_fractions_of_any_length_become_six_digits() -> None:
    assert segment_timestamp({"timestamp": "2021-03-24T18:12:01.1Z"}) == (
        "2021-03-24T18:12:01.100000Z"
    )
    assert segment_timestamp({"timestamp": "2021-03-24T18:12:01.123456789+02:00"}) == (
        "2021-03-24T18:12:01.123456+02:00"
    )
    assert segment_timestamp({"timestamp": WHEN}) == WHEN  # 3 digits: untouched


def _event(message: Dict[str, Any], group_type: str = "company") -> Dict[str, Any]:
    return segment_message(message, group_type).as_event()


def test_track() -> None:
    event = _event(
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "u1",
            "anonymousId": "a1",
            "properties": {"total": 9.5},
            "context": {"ip": "10.0.0.1", "userAgent": "UA", "library": {"name": "analytics.js"}},
            "integrations": {"All": True},
            "timestamp": WHEN,
            "receivedAt": "2021-03-24T18:12:02.000Z",
            "messageId": "m-1",
        }
    )
    assert event == {
        "event": "Order Completed",
        "distinct_id": "u1",
        "properties": {
            "total": 9.5,
            "$ip": "10.0.0.1",
            "$raw_user_agent": "UA",
            "$context": {"library": {"name": "analytics.js"}},
            "$integrations": {"All": True},  # as a live call keeps them
        },
        "timestamp": WHEN_UTC,
        "uuid": message_uuid("m-1"),
    }


def test_identify_with_both_ids_joins_the_anonymous_history() -> None:
    event = _event(
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "a1",
            "traits": {"email": "ada@example.com"},
            "timestamp": WHEN,
        }
    )
    assert event["event"] == "$identify"
    assert event["distinct_id"] == "u1"
    assert event["properties"] == {"$set": {"email": "ada@example.com"}, "$anon_distinct_id": "a1"}


def test_identify_of_an_anonymous_user_and_an_empty_user_id() -> None:
    event = _event({"type": "identify", "userId": "", "anonymousId": "a1", "timestamp": WHEN})
    assert event["distinct_id"] == "a1"
    assert event["properties"] == {"$set": {}}


def test_page_becomes_a_pageview_with_its_url() -> None:
    event = _event(
        {
            "type": "page",
            "anonymousId": "a1",
            "name": "Pricing",
            "category": "Docs",
            "properties": {"title": "Pricing | Initech", "url": "https://x.test/pricing?a=1"},
            "context": {"page": {"url": "https://ignored.test/", "path": "/pricing"}},
            "timestamp": WHEN,
        }
    )
    assert event["event"] == "$pageview"
    assert event["distinct_id"] == "a1"
    props = event["properties"]
    assert props["$current_url"] == "https://x.test/pricing?a=1"  # properties.url wins
    assert props["$pathname"] == "/pricing"  # from context.page
    assert props["name"] == "Pricing" and props["category"] == "Docs"
    assert props["url"] == "https://x.test/pricing?a=1"  # kept as given
    assert props["title"] == "Pricing | Initech"


def test_page_properties_fall_back_to_the_context_and_never_overwrite() -> None:
    context = {"page": {"url": "https://ctx.test/", "referrer": "https://ref.test/"}}
    props = page_properties({"$current_url": "https://own.test/"}, "Home", None, context)
    assert props == {
        "$current_url": "https://own.test/",  # set by the caller: kept
        "$referrer": "https://ref.test/",
        "name": "Home",
    }
    props = page_properties({"path": "/own", "name": "Own"}, "Home", "Docs", {"page": "x"})
    assert props == {"path": "/own", "$pathname": "/own", "name": "Own", "category": "Docs"}


def test_screen_becomes_a_screen_event_with_its_name() -> None:
    event = _event(
        {
            "type": "screen",
            "userId": "u1",
            "name": "Home",
            "category": "Feed",
            "properties": {"Feed Type": "private"},
            "timestamp": WHEN,
        }
    )
    assert event["event"] == "$screen"
    assert event["properties"] == {
        "Feed Type": "private",
        "$screen_name": "Home",
        "category": "Feed",
    }
    assert screen_properties({"name": "From props"}, None, None) == {"name": "From props"}


def test_group_and_alias() -> None:
    group = _event(
        {"type": "group", "groupId": "acme", "userId": "u1", "traits": {"plan": "pro"}},
        group_type="organization",
    )
    assert group["event"] == "$groupidentify"
    assert group["distinct_id"] == "u1"
    assert group["properties"] == {
        "$group_type": "organization",
        "$group_key": "acme",
        "$group_set": {"plan": "pro"},
    }
    alias = _event({"type": "alias", "previousId": "a1", "userId": "u1", "timestamp": WHEN})
    assert alias["event"] == "$create_alias"
    assert alias["distinct_id"] == "a1"
    assert alias["properties"] == {"distinct_id": "a1", "alias": "u1"}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (["not", "an", "object"], "message"),
        ({"userId": "u1", "event": "E"}, "type"),
        ({"type": "batch", "userId": "u1"}, "type"),
        ({"type": 7, "userId": "u1"}, "type"),
        ({"type": "track", "userId": "u1"}, "event"),
        ({"type": "track", "event": "E"}, "userId"),
        ({"type": "track", "event": "E", "userId": "u", "timestamp": "yesterday"}, "timestamp"),
        ({"type": "track", "event": "E", "userId": "u", "properties": [1]}, "properties"),
        ({"type": "identify", "traits": {"a": 1}}, "userId"),
        ({"type": "alias", "userId": "u1"}, "previousId"),
        ({"type": "group", "userId": "u1"}, "groupId"),
        ({"type": "page", "userId": "u1", "properties": "x"}, "properties"),
        ({"type": "page", "userId": "u1", "category": 7}, "category"),
        ({"type": "track", "event": "E", "userId": "u", "messageId": {"a": 1}}, "messageId"),
    ],
)
def test_a_message_that_cannot_be_sent_names_the_field(message: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        segment_message(message)
    assert caught.value.field == field


def test_every_type_is_named_in_the_unknown_type_error() -> None:
    with pytest.raises(ValidationError) as caught:
        legacy_fields({"type": "batch"})
    for kind in SEGMENT_TYPES:
        assert kind in str(caught.value)


def test_the_clients_own_calls_build_the_same_events() -> None:
    """What the import command sends (``getattr(client, call)(fields)``) equals
    ``segment_message``: one mapping, whichever way a Segment message enters."""
    seen: List[Dict[str, Any]] = []

    def keep(event: Dict[str, Any]) -> Dict[str, Any]:
        seen.append(event)
        return event

    messages = [
        {"type": "track", "event": "E", "userId": "u", "properties": {"a": 1}, "timestamp": WHEN},
        {"type": "identify", "userId": "u", "anonymousId": "a", "traits": {"b": 2}},
        {"type": "page", "anonymousId": "a", "name": "P", "context": {"page": {"url": "u"}}},
        {"type": "page", "userId": "u", "properties": {"url": "v"}, "integrations": {"A": 1}},
        {"type": "screen", "userId": "u", "name": "S", "messageId": "s-1", "timestamp": WHEN},
        {"type": "group", "userId": "u", "groupId": "g", "traits": {"c": 3}, "timestamp": WHEN},
        {"type": "alias", "previousId": "a", "userId": "u", "timestamp": WHEN},
    ]
    client = Client({"secret": "phc_test", "send": False, "before_send": keep, "group_type": "org"})
    try:
        for message in messages:
            call, fields = legacy_fields({**message, "timestamp": WHEN})
            getattr(client, call)(fields)
    finally:
        client.shutdown(1)
    expected = [_event({**m, "timestamp": WHEN}, "org") for m in messages]
    assert seen == expected
