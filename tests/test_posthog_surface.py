"""PostHog's server SDK surface on the same client, against the real dev server.

Call shapes (posthog-python 6.x+ keywords, posthog-node objects), personless events,
person properties as PostHog's person model applies them, super properties,
``before_send``, ``disabled``, ``sync_mode`` and the ``*_immediate`` calls, the
``$geoip_disable`` default, posthog-python's option names, and the module-level calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid as uuidlib
from typing import Any, Dict, Iterator, List

import pytest

import analytics_compat
from analytics_compat import (
    Client,
    ConfigurationError,
    EventDroppedError,
    Posthog,
    PromiseState,
    ValidationError,
)
from analytics_compat.devserver import DevServer
from tests.sink import Sink

TOKEN = "phc_surface_project"


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,)) as srv:
        yield srv


@pytest.fixture
def clients(server: DevServer) -> Iterator[List[Client]]:
    made: List[Client] = []
    yield made
    for client in made:
        if client.initialized:
            client.shutdown(2)


def make(server: DevServer, made: List[Client], **options: Any) -> Client:
    client = Client({"secret": TOKEN, "host": server.url, "flushAt": 1, **options})
    made.append(client)
    return client


def stored(server: DevServer, client: Client, count: int) -> List[Dict[str, Any]]:
    assert client.flush(timeout=10)
    deadline = time.monotonic() + 10
    while server.store.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.store.events(limit=1000, newest_first=False)


# -- call shapes --------------------------------------------------------------------------
def test_capture_in_posthog_pythons_keyword_form(server: DevServer, clients: List[Client]) -> None:
    client = make(server, clients)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    given = str(uuidlib.uuid4())
    promise = client.capture(
        "signed up",
        distinct_id="u1",
        properties={"plan": "pro"},
        groups={"company": "acme"},
        timestamp=when,
        uuid=given,
    )
    assert promise.uuid == given
    (event,) = stored(server, client, 1)
    assert event["event"] == "signed up" and event["distinct_id"] == "u1"
    assert event["uuid"] == given
    assert event["properties"]["plan"] == "pro"
    assert event["properties"]["$groups"] == {"company": "acme"}
    assert event["timestamp"].startswith("2026-01-02T03:04:05")


def test_capture_in_the_older_positional_form_and_posthog_nodes_object(
    server: DevServer, clients: List[Client]
) -> None:
    client = make(server, clients)
    client.capture("u1", "positional", {"a": 1})
    client.capture(distinct_id="u2", event="all keywords")
    client.capture({"distinctId": "u3", "event": "node", "properties": {"b": 2}})
    events = stored(server, client, 3)
    assert [(e["distinct_id"], e["event"]) for e in events] == [
        ("u1", "positional"),
        ("u2", "all keywords"),
        ("u3", "node"),
    ]
    assert events[2]["properties"]["b"] == 2
    with pytest.raises(ValidationError) as info:
        client.capture({"distinctId": "u", "event": "e", "userId": "x"})
    assert info.value.field == "userId"


def test_the_uuid_is_known_when_the_call_returns_and_is_the_one_sent(
    server: DevServer, clients: List[Client]
) -> None:
    client = make(server, clients, flushAt=50, flush_policy="posthog")
    promises = [client.capture(f"e{i}", distinct_id="u") for i in range(5)]
    uuids = [p.uuid for p in promises]  # read before anything was sent
    assert all(uuidlib.UUID(u).version == 4 for u in uuids)
    events = stored(server, client, 5)
    assert [e["uuid"] for e in events] == uuids


def test_a_call_without_a_distinct_id_is_personless(
    server: DevServer, clients: List[Client]
) -> None:
    client = make(server, clients)
    client.capture("anonymous thing", properties={"x": 1})
    dropped = client.set(properties={"plan": "pro"})
    (event,) = stored(server, client, 1)
    assert uuidlib.UUID(event["distinct_id"])
    assert event["properties"]["$process_person_profile"] is False
    assert isinstance(dropped.error, EventDroppedError) and dropped.error.reason == "personless"
    assert client.stats["dropped_personless"] == 1


# -- person properties ------------------------------------------------------------------------
def test_set_once_and_set_once_inside_identify_reach_the_person_as_posthog_applies_them(
    server: DevServer, clients: List[Client]
) -> None:
    client = make(server, clients)
    client.set_once("u1", {"first_plan": "free"})
    client.set_once("u1", {"first_plan": "pro"})  # already set: no change
    client.identify("u1", {"plan": "pro", "$set_once": {"signup_source": "ads"}})
    client.set("u1", {"theme": "dark", "$set_once": {"signup_source": "later"}})
    events = stored(server, client, 4)
    identify = events[2]
    assert identify["properties"]["$set"] == {"plan": "pro"}
    assert identify["properties"]["$set_once"] == {"signup_source": "ads"}
    person = server.store.person("u1")
    assert person is not None
    assert person["properties"] == {
        "first_plan": "free",
        "plan": "pro",
        "signup_source": "ads",
        "theme": "dark",
    }


def test_anon_distinct_id_in_posthog_nodes_identify_merges_the_anonymous_person(
    server: DevServer, clients: List[Client]
) -> None:
    client = make(server, clients)
    client.capture("browsed", distinct_id="anon-9", properties={"$set": {"seen": True}})
    client.identify(
        {"distinctId": "user-9", "properties": {"$anon_distinct_id": "anon-9", "email": "a@b.c"}}
    )
    events = stored(server, client, 2)
    assert events[1]["properties"]["$anon_distinct_id"] == "anon-9"
    assert events[1]["properties"]["$set"] == {"email": "a@b.c"}
    assert events[0]["properties"]["$set"] == {"seen": True}  # untouched inside capture
    person = server.store.person("anon-9")
    assert person is not None and person == server.store.person("user-9")
    assert person["properties"] == {"seen": True, "email": "a@b.c"}


# -- hooks and switches -------------------------------------------------------------------
def test_super_properties_from_the_option_and_at_run_time_win_over_the_calls(
    server: DevServer, clients: List[Client]
) -> None:
    client = make(server, clients, super_properties={"app": "shop", "plan": "super"})
    client.capture("one", distinct_id="u", properties={"plan": "mine"})
    client.register({"release": "1.2"})
    client.capture("two", distinct_id="u")
    client.unregister("app")
    client.unregister("plan")
    client.unregister("release")
    client.capture("three", distinct_id="u", properties={"plan": "mine"})
    one, two, three = stored(server, client, 3)
    assert one["properties"]["app"] == "shop" and one["properties"]["plan"] == "super"
    assert two["properties"]["release"] == "1.2"
    assert "app" not in three["properties"] and three["properties"]["plan"] == "mine"


def test_before_send_can_change_drop_and_fails_closed_when_it_raises(
    server: DevServer, clients: List[Client], caplog: pytest.LogCaptureFixture
) -> None:
    def hook(event: Dict[str, Any]) -> Any:
        props = event["properties"]
        if event["event"] == "drop me":
            return None
        if event["event"] == "crash":
            raise RuntimeError("scrubber bug")
        if event["event"] == "not a dict":
            return ["nope"]
        props.pop("email", None)
        event["event"] = event["event"].upper()
        return event

    client = make(server, clients, before_send=hook)
    kept = client.capture("kept", distinct_id="u", properties={"email": "secret@x", "ok": 1})
    drops = [client.capture(name, distinct_id="u") for name in ("drop me", "crash", "not a dict")]
    (event,) = stored(server, client, 1)
    assert event["event"] == "KEPT" and "email" not in event["properties"]
    assert kept.state is PromiseState.FLUSHED
    assert all(isinstance(p.error, EventDroppedError) for p in drops)
    assert {p.error.reason for p in drops if p.error} == {"before_send"}  # type: ignore[union-attr]
    assert client.stats["dropped_before_send"] == 3
    assert any("before_send raised" in r.getMessage() for r in caplog.records)


def test_disabled_makes_every_call_a_no_op_and_touches_no_network() -> None:
    sink = Sink()
    try:
        client = Client(
            {"secret": TOKEN, "host": sink.url, "disabled": True},
            personal_api_key="phx_personal",
        )
        promises = [
            client.capture("e", distinct_id="u"),
            client.track({"userId": "u", "event": "t"}),
            client.identify({"userId": "u", "traits": {"a": 1}}),
        ]
        assert all(p.state is PromiseState.FLUSHED for p in promises)
        assert client.get_feature_flag("flag", "u") is None
        assert client.get_all_flags("u") == {}
        assert client.flush(timeout=1) and client.shutdown(1)
        time.sleep(0.2)
        assert sink.requests == [] and sink.arrived == 0
    finally:
        sink.close()


def test_sync_mode_returns_after_the_server_answered(sink: Sink) -> None:
    client = Client({"secret": TOKEN, "host": sink.url, "sync_mode": True})
    try:
        promise = client.capture("now", distinct_id="u")
        assert promise.state is PromiseState.FLUSHED  # settled before the call returned
        assert [e["event"] for e in sink.delivered()] == ["now"]
        sink.respond(400)
        failed = client.capture("refused", distinct_id="u")
        assert failed.state is PromiseState.FAILED
    finally:
        client.shutdown(2)


def test_capture_immediate_on_a_batching_client_waits_for_the_answer(sink: Sink) -> None:
    client = Client({"secret": TOKEN, "host": sink.url, "flushAt": 100, "flush_policy": "posthog"})
    try:
        queued = client.capture("queued", distinct_id="u")
        now = client.capture_immediate("right now", distinct_id="u")
        assert now.state is PromiseState.FLUSHED
        assert [e["event"] for e in sink.delivered()] == ["right now"]
        assert queued.state is PromiseState.PENDING
        alias = client.alias_immediate("anon", "u")
        identified = client.identify_immediate({"distinctId": "u", "properties": {"a": 1}})
        grouped = client.groupIdentifyImmediate({"groupType": "company", "groupKey": "acme"})
        assert all(p.state is PromiseState.FLUSHED for p in (alias, identified, grouped))
        assert client.flush(timeout=5) and queued.state is PromiseState.FLUSHED
    finally:
        client.shutdown(2)


def test_geoip_is_disabled_by_default_and_can_be_turned_on(
    server: DevServer, clients: List[Client]
) -> None:
    default = make(server, clients)
    default.capture("default", distinct_id="u")
    default.capture("on for this call", distinct_id="u", disable_geoip=False)
    located = make(server, clients, disable_geoip=False)
    located.capture("located", distinct_id="u")
    stored(server, default, 2)
    events = {e["event"]: e for e in stored(server, located, 3)}
    assert events["default"]["properties"]["$geoip_disable"] is True
    assert events["on for this call"]["properties"]["$geoip_disable"] is False
    assert "$geoip_disable" not in events["located"]["properties"]


# -- posthog-python's constructor and option names -------------------------------------------
def test_posthog_pythons_constructor_and_option_names(server: DevServer) -> None:
    failures: List[Any] = []
    got = threading.Event()
    client = Posthog(
        TOKEN,
        host=server.url,
        flush_at=100,
        flush_interval=0.2,
        thread=2,
        on_error=lambda error, items: (failures.append((error, items)), got.set()),
        feature_flags_request_timeout_seconds=1.5,
        enable_local_evaluation=False,
        secret_key="phx_personal",
    )
    try:
        assert client.options is not None
        assert client.options.flush_after == 0.2 and client.options.timer_interval == 0.2
        assert client.options.flags.request_timeout == 1.5
        assert client.options.flags.personal_api_key == "phx_personal"
        promise = client.capture("interval", distinct_id="u")
        assert promise.wait(5) and promise.state is PromiseState.FLUSHED  # flush_interval
        assert not client.is_local_evaluation_ready()  # enable_local_evaluation=False
        assert client.flush(timeout_seconds=5)
    finally:
        assert client.join() is True
    bad = Client(TOKEN, "http://127.0.0.1:9", on_error=lambda e, items: failures.append(items))
    bad.capture("lost", distinct_id="u")
    bad.shutdown(1)
    assert failures and failures[-1][0]["event"] == "lost"


def test_options_we_do_not_implement_say_what_to_use_instead() -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(TOKEN, flag_fallback_cache_url="memory://local/")
    assert info.value.option == "flag_fallback_cache_url"
    assert "flag_definitions_cache_file" in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        Client(TOKEN, before_send="not callable")
    assert info.value.option == "before_send"


def test_debug_shows_this_librarys_debug_records(sink: Sink) -> None:
    log = logging.getLogger("analytics_compat")
    before = (log.level, list(log.handlers))
    try:
        client = Client(TOKEN, host=sink.url, debug=True)
        assert log.level == logging.DEBUG and log.handlers
        client.shutdown(1)
    finally:
        log.setLevel(before[0])
        log.handlers[:] = before[1]


@pytest.fixture
def fresh_default_client() -> Iterator[None]:
    """The module-level client is one per process: give this test a new one."""
    module = analytics_compat._default  # type: ignore[attr-defined]
    previous, module._default = module._default, Client()
    yield
    module._default = previous


@pytest.mark.usefixtures("fresh_default_client")
def test_module_level_calls_act_on_the_default_client(server: DevServer) -> None:
    default = analytics_compat.default_client()
    assert not default.initialized
    analytics_compat.init({"secret": TOKEN, "host": server.url, "flushAt": 1})
    try:
        analytics_compat.capture("module", distinct_id="u")
        analytics_compat.set_once("u", {"first": 1})
        assert analytics_compat.get_feature_flag("missing", "u", only_evaluate_locally=True) is None
        assert analytics_compat.flush(timeout=5)
        names = [e["event"] for e in server.store.events(limit=10, newest_first=False)]
        assert names == ["module", "$set_once"]
    finally:
        analytics_compat.shutdown(2)
