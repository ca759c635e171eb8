"""Examples from PostHog's documentation, written in Python, run unchanged on our client.

The posthog-python examples are its library page's (posthog.com/docs/libraries/python)
for capture, contexts, person properties, alias, groups and error tracking; the
posthog-node ones are its reference's (identify, capture, alias, groupIdentify,
captureException, the ``*Immediate`` calls), with JavaScript objects as Python dicts.
Each runs against the real dev server, and the stored events are checked against what
PostHog stores for them (names, ids, properties, persons).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Dict, Iterator, List

import pytest

from analytics_compat import Posthog, identify_context, new_context, set_context_session, tag
from analytics_compat.devserver import DevServer

KEY = "phc_docs_examples"


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(KEY,)) as srv:
        yield srv


def events(server: DevServer, client: Any, count: int) -> List[Dict[str, Any]]:
    assert client.flush(timeout=10)
    deadline = time.monotonic() + 10
    while server.store.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.store.events(limit=1000)


def test_posthog_python_library_page(server: DevServer) -> None:
    posthog = Posthog(KEY, host=server.url)
    try:
        # Capturing events
        posthog.capture("some-anon-event")
        with new_context():
            identify_context("distinct_id_of_the_user")
            posthog.capture("user_signed_up")
            posthog.capture("user_logged_in")
        posthog.capture("some-custom-action", distinct_id="distinct_id_of_the_user")
        # Setting event properties
        posthog.capture(
            "user_signed_up",
            distinct_id="distinct_id_of_the_user",
            properties={"login_type": "email", "is_free_trial": True},
        )
        # Contexts: tags and sessions
        with new_context():
            tag("transaction_id", "abc123")
            set_context_session("session-1")
            posthog.capture("payment_processed", distinct_id="distinct_id_of_the_user")
        # Person profiles and properties
        posthog.capture(
            "event_name",
            distinct_id="distinct_id_of_the_user",
            properties={
                "$set": {"name": "Max Hedgehog"},
                "$set_once": {"initial_url": "/blog"},
            },
        )
        posthog.set(distinct_id="distinct_id_of_the_user", properties={"plan": "pro"})
        posthog.set_once(distinct_id="distinct_id_of_the_user", properties={"first": "2026"})
        # Alias
        posthog.alias(previous_id="distinct_id", distinct_id="alias_id")
        # Group analytics
        posthog.capture(
            "some_event",
            distinct_id="distinct_id_of_the_user",
            groups={"company": "company_id_in_your_db"},
        )
        posthog.group_identify(
            "company", "company_id_in_your_db", {"name": "Awesome Inc.", "employees": 11}
        )
        # Error tracking
        try:
            raise ValueError("something went wrong")
        except Exception as e:
            posthog.capture_exception(
                e, distinct_id="distinct_id_of_the_user", properties={"custom": "value"}
            )
        stored = events(server, posthog, 12)
    finally:
        posthog.shutdown()
    names = [e["event"] for e in stored]
    assert names == [
        "some-anon-event",
        "user_signed_up",
        "user_logged_in",
        "some-custom-action",
        "user_signed_up",
        "payment_processed",
        "event_name",
        "$set",
        "$set_once",
        "$create_alias",
        "some_event",
        "$groupidentify",
        "$exception",
    ]
    anon, signed, logged = stored[0], stored[1], stored[2]
    assert anon["properties"]["$process_person_profile"] is False
    assert signed["distinct_id"] == logged["distinct_id"] == "distinct_id_of_the_user"
    assert stored[4]["properties"]["login_type"] == "email"
    payment = stored[5]
    assert payment["properties"]["transaction_id"] == "abc123"
    assert payment["properties"]["$session_id"] == "session-1"
    person = server.store.person("distinct_id_of_the_user")
    assert person is not None
    assert person["properties"] == {
        "name": "Max Hedgehog",
        "initial_url": "/blog",
        "plan": "pro",
        "first": "2026",
    }
    assert stored[10]["properties"]["$groups"] == {"company": "company_id_in_your_db"}
    group = server.store.group("company", "company_id_in_your_db")
    assert group is not None and group["properties"] == {"name": "Awesome Inc.", "employees": 11}
    exception = stored[12]
    assert exception["properties"]["$exception_list"][0]["type"] == "ValueError"
    assert exception["properties"]["custom"] == "value"


def test_posthog_node_reference(server: DevServer) -> None:
    client = Posthog(KEY, host=server.url)
    try:
        client.identify(
            {
                "distinctId": "user_123",
                "properties": {"email": "user@example.com", "name": "John Doe", "plan": "premium"},
            }
        )
        client.identify(
            {
                "distinctId": "user_123",
                "properties": {
                    "$set": {"email": "user@example.com", "plan": "premium"},
                    "$set_once": {
                        "first_login": "2025-01-01T00:00:00Z",
                        "signup_source": "organic",
                    },
                },
            }
        )
        client.identify(
            {"distinctId": "user_123", "properties": {"name": "John Doe"}, "disableGeoip": True}
        )
        client.capture(
            {
                "distinctId": "user_123",
                "event": "button_clicked",
                "properties": {"button_name": "signup", "button_color": "red"},
            }
        )
        client.capture(
            {
                "distinctId": "user_123",
                "event": "purchase_completed",
                "properties": {"amount": 99.99, "currency": "USD", "product_id": "prod_456"},
                "timestamp": dt.datetime.now(dt.timezone.utc),
            }
        )
        client.capture(
            {
                "distinctId": "user_123",
                "event": "feature_used",
                "properties": {"feature_name": "export_data"},
                "groups": {"company": "acme_corp", "organization": "org_789"},
            }
        )
        client.capture({"distinctId": "user_123", "event": "privacy_event", "disableGeoip": True})
        client.alias({"distinctId": "user_123", "alias": "anon_456"})
        client.groupIdentify(
            {"groupType": "company", "groupKey": "acme_corp", "properties": {"name": "Acme"}}
        )
        try:
            raise RuntimeError("checkout failed")
        except RuntimeError as error:
            client.captureException(error, "user_123", {"cart_id": "c1"})
        now = client.captureImmediate({"distinctId": "user_123", "event": "serverless_event"})
        assert now.done()  # sent before the call returned
        stored = events(server, client, 11)
    finally:
        client.shutdown()
    # The immediate capture went on its own connection, whenever it was called; the rest
    # went through the queue, in order.
    assert [e["event"] for e in stored].count("serverless_event") == 1
    stored = [e for e in stored if e["event"] != "serverless_event"]
    names = [e["event"] for e in stored]
    assert names == [
        "$identify",
        "$identify",
        "$identify",
        "button_clicked",
        "purchase_completed",
        "feature_used",
        "privacy_event",
        "$create_alias",
        "$groupidentify",
        "$exception",
    ]
    assert stored[1]["properties"]["$set_once"] == {
        "first_login": "2025-01-01T00:00:00Z",
        "signup_source": "organic",
    }
    assert stored[2]["properties"]["$geoip_disable"] is True
    assert stored[5]["properties"]["$groups"] == {"company": "acme_corp", "organization": "org_789"}
    assert stored[7]["properties"] == {
        **stored[7]["properties"],
        "distinct_id": "user_123",
        "alias": "anon_456",
    }
    person = server.store.person("anon_456")
    assert person is not None and person == server.store.person("user_123")
    assert person["properties"]["signup_source"] == "organic"
    assert person["properties"]["plan"] == "premium"
    assert stored[9]["properties"]["cart_id"] == "c1"
    assert stored[9]["distinct_id"] == "user_123"
