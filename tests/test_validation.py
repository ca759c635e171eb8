"""Bad input raises before anything is queued, naming the field; secrets never leak."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest

from analytics_compat import Client, ConfigurationError, ValidationError
from tests.sink import Sink

EAST = dt.timezone(dt.timedelta(hours=1))
SECRET = "phc_very_secret_project_key"
PERSONAL = "phx_very_secret_personal_key"

BAD_CALLS = [
    ("track", {"event": "e"}, "userId"),
    ("track", {"userId": "", "event": "e"}, "userId"),
    ("track", {"userId": ["u"], "event": "e"}, "userId"),
    ("track", {"userId": "u"}, "event"),
    ("track", {"userId": "u", "event": 5}, "event"),
    ("track", {"userId": "u", "event": "e", "properties": [1]}, "properties"),
    ("track", {"userId": "u", "event": "e", "properties": {"x": object()}}, "properties.x"),
    ("track", {"userId": "u", "event": "e", "properties": {"x": [1, {1j}]}}, "properties.x[1][0]"),
    ("track", {"userId": "u", "event": "e", "properties": {"x": float("nan")}}, "properties.x"),
    ("track", {"userId": "u", "event": "e", "context": "ctx"}, "context"),
    ("track", {"userId": "u", "event": "e", "timestamp": "yesterday"}, "timestamp"),
    ("track", {"userId": "u", "event": "e", "timestamp": 12}, "timestamp"),
    ("track", {"userId": "u", "event": "e", "userid": "typo"}, "userid"),
    ("identify", {"traits": {}}, "userId"),
    ("identify", {"userId": "u", "traits": "x"}, "traits"),
    ("alias", {"to": "b"}, "from"),
    ("alias", {"from": "a"}, "to"),
    ("alias", {"from": "a", "to": 3.5}, "to"),
    ("group", {"userId": "u"}, "groupId"),
    ("group", {"groupId": "g"}, "userId"),
    ("group", {"groupId": "g", "userId": "u", "traits": 1}, "traits"),
    ("track", {"userId": "u", "event": "e", "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
    (
        "track",
        {"userId": "u", "event": "e", "properties": {"t": dt.datetime(1, 1, 1, tzinfo=EAST)}},
        "properties.t",
    ),
    ("track", {"userId": "u", "event": "e", "uuid": "not-a-uuid"}, "uuid"),
]


@pytest.mark.parametrize(("call", "message", "field"), BAD_CALLS)
def test_bad_message_raises_naming_the_field_and_queues_nothing(
    sink: Sink, call: str, message: Any, field: str
) -> None:
    client = Client({"secret": SECRET, "host": sink.url})
    with pytest.raises(ValidationError) as info:
        getattr(client, call)(message)
    assert info.value.field == field
    assert field.split(".")[0].split("[")[0] in str(info.value)
    assert client.queued == 0
    client.shutdown(1)
    assert sink.requests == []


def test_message_must_be_a_mapping(sink: Sink) -> None:
    client = Client({"secret": SECRET, "send": False})
    with pytest.raises(ValidationError, match="mapping"):
        client.track(["userId", "u"])


BAD_OPTIONS = [
    ({}, "secret"),
    ({"secret": ""}, "secret"),
    ({"secret": 12}, "secret"),
    ({"secret": "k", "flushAt": "20"}, "flushAt"),
    ({"secret": "k", "flushAt": 0}, "flushAt"),
    ({"secret": "k", "flush_at": True}, "flush_at"),
    ({"secret": "k", "maxQueueSize": -1}, "maxQueueSize"),
    ({"secret": "k", "flushAfer": 10}, "flushAfer"),
    ({"secret": "k", "triggers": [1]}, "triggers"),
    ({"secret": "k", "host": "example.com"}, "host"),
    ({"secret": "k", "send": "yes"}, "send"),
    ({"secret": "k", "flush_policy": "eager"}, "flush_policy"),
    ({"secret": "k", "timeout": float("inf")}, "timeout"),
    ({"secret": "k", "flushAfter": float("nan")}, "flushAfter"),
    ({"secret": "k", "groupType": ""}, "groupType"),
    ({"secret": "k", "host": "http://"}, "host"),
    ({"secret": "k", "host": "http://posthog.example..com"}, "host"),
]


@pytest.mark.parametrize(("options", "name"), BAD_OPTIONS)
def test_bad_option_raises_configuration_error_naming_it(options: Any, name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(options)
    assert info.value.option == name
    assert name in str(info.value)


def test_secrets_never_appear_in_reprs_errors_or_logs(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink.respond(401, 500, 500, 500, 500)
    client = Client(
        {"secret": SECRET, "host": sink.url, "flushAt": 1, "retry_backoff": 0.01},
        personal_api_key=PERSONAL,
    )
    texts = [repr(client), repr(client.options), str(client.options)]
    bad = client.track({"userId": "u", "event": "e"})
    retried = client.track({"userId": "u", "event": "e2"})
    assert bad.wait(10) and retried.wait(10)
    texts += [str(bad.error), repr(bad.error), str(retried.error), repr(retried.error)]
    for bad_input in ({"secret": SECRET, "flushAt": "x"}, {"secret": SECRET, "nope": 1}):
        with pytest.raises(ConfigurationError) as info:
            Client(bad_input)
        texts.append(str(info.value))
    client.shutdown(2)
    texts.append(caplog.text)
    for text in texts:
        assert SECRET not in text and PERSONAL not in text


def test_int_user_id_is_accepted_and_aware_timestamp_normalized(sink: Sink) -> None:
    client = Client({"secret": SECRET, "send": False})
    promise = client.track(
        {"userId": 42, "event": "e", "timestamp": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)}
    )
    assert promise.done()


def test_posthog_style_calls_reject_unknown_or_extra_arguments() -> None:
    client = Client({"secret": SECRET, "send": False})
    with pytest.raises(ValidationError) as info:
        client.alias("old", "new", timestmap=dt.datetime.now())
    assert info.value.field == "timestmap"
    # A third positional argument is segment-python's context: it must be a mapping.
    with pytest.raises(ValidationError) as info:
        client.identify("u1", {"a": 1}, "not a context")
    assert info.value.field == "context"
    with pytest.raises(ValidationError) as info:
        client.identify("u1", {"a": 1}, None, None, None, None, None, "one too many")
    assert "at most 7 positional arguments" in str(info.value)
    assert client.queued == 0


def test_a_segment_message_id_that_is_not_a_uuid_names_the_uuid() -> None:
    """A messageId that is a UUID is the event's uuid; any other one derives it, the same
    every time (uuid5 in the documented namespace), so a re-sent message is one event."""
    client = Client({"secret": SECRET, "send": False})
    promise = client.track({"userId": "u", "event": "e", "messageId": "node-12ab"})
    assert promise.done() and promise.error is None
    namespace = uuid.UUID("ae07bd7c-32c3-58d5-802e-6973d5c93a91")
    assert promise.uuid == str(uuid.uuid5(namespace, "node-12ab"))
    assert client.track({"userId": "u", "event": "e", "messageId": "node-12ab"}).uuid == (
        promise.uuid
    )
    given = "8f0b6c8e-7c1a-4f4e-9d5b-2a1c3e4f5a6b"
    assert client.track({"userId": "u", "event": "e", "messageId": given}).uuid == given
