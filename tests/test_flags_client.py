"""Feature flags on the client: local first, one /flags request when needed, events, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from analytics_compat import Client, FeatureFlagResult
from analytics_compat.devserver import DevServer
from tests.sink import Sink

TOKEN = "phc_flags_project"
POLL_PATHS = ("/flags/definitions", "/api/feature_flag/local_evaluation")
PERSONAL = "phx_flags_personal"

DEFINITIONS = {
    "flags": [
        {
            "id": 1,
            "key": "everyone",
            "active": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
        },
        {
            "id": 2,
            "key": "pro-only",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "operator": "exact", "value": ["pro"], "type": "person"}
                        ],
                        "rollout_percentage": 100,
                    }
                ],
                "payloads": {"true": '{"limit": 10}'},
            },
        },
        {
            "id": 3,
            "key": "variants",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {
                    "variants": [
                        {"key": "control", "rollout_percentage": 50},
                        {"key": "test", "rollout_percentage": 50},
                    ]
                },
            },
        },
    ],
    "group_type_mapping": {},
    "cohorts": {},
}


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,), personal_api_key=PERSONAL) as srv:
        srv.set_flags(DEFINITIONS)
        yield srv


@pytest.fixture
def client(server: DevServer) -> Iterator[Client]:
    c = Client(
        {"secret": TOKEN, "host": server.url, "flushAt": 50, "flush_policy": "posthog"},
        personal_api_key=PERSONAL,
        poll_interval=3600,
    )
    assert c.wait_for_local_evaluation_ready(10)
    yield c
    c.shutdown(5)


def _flag_requests(server: DevServer) -> List[str]:
    """Flag evaluations asked of the server (definition polls are not counted)."""
    return [
        r.path
        for r in server.requests_log
        if r.path.startswith(("/flags", "/decide")) and not r.path.startswith("/flags/definitions")
    ]


def test_local_evaluations_make_no_http_request(server: DevServer, client: Client) -> None:
    before = len(server.requests_log)
    for i in range(500):
        assert client.feature_enabled("everyone", f"user{i}", send_feature_flag_events=False)
        assert client.get_feature_flag("variants", f"user{i}") in ("control", "test")
        value = client.get_feature_flag(
            "pro-only",
            f"user{i}",
            person_properties={"plan": "pro"},
            send_feature_flag_events=False,
        )
        assert value is True
    # Only the $feature_flag_called batches may have been sent: no flag request at all.
    assert _flag_requests(server) == []
    assert all(r.path == "/batch/" for r in server.requests_log[before:])


def test_undecidable_flag_costs_exactly_one_flags_request(
    server: DevServer, client: Client
) -> None:
    result = client.get_feature_flag_result("pro-only", "someone", send_feature_flag_events=False)
    assert _flag_requests(server) == ["/flags/"]
    assert isinstance(result, FeatureFlagResult)
    assert result.locally_evaluated is False


def test_only_evaluate_locally_makes_no_request_and_returns_none(
    server: DevServer, client: Client
) -> None:
    got = client.get_feature_flag("pro-only", "someone", only_evaluate_locally=True)
    assert got is None
    assert _flag_requests(server) == []


def test_result_carries_value_payload_reason_and_source(client: Client) -> None:
    result = client.get_feature_flag_result(
        "pro-only", "u1", person_properties={"plan": "pro"}, send_feature_flag_events=False
    )
    assert result is not None
    assert (result.value, result.enabled, result.payload) == (True, True, {"limit": 10})
    assert result.locally_evaluated is True
    assert result.reason == "condition_match"
    assert result.flag_id == 2
    assert client.get_feature_flag_payload("pro-only", "u1", person_properties={"plan": "pro"}) == {
        "limit": 10
    }
    assert client.get_feature_flag("missing-flag", "u1", only_evaluate_locally=True) is None


def test_feature_flag_called_is_sent_once_per_id_flag_value(
    server: DevServer, client: Client
) -> None:
    for _ in range(20):
        client.feature_enabled("everyone", "dedup-user")
    client.feature_enabled("everyone", "other-user")
    assert client.flush(timeout=10)
    called = server.store.events(event="$feature_flag_called")
    assert sorted(e["distinct_id"] for e in called) == ["dedup-user", "other-user"]
    props = called[0]["properties"]
    assert props["$feature_flag"] == "everyone"
    assert props["$feature_flag_response"] is True
    assert props["$feature/everyone"] is True
    assert props["locally_evaluated"] is True


def test_get_all_flags_local_and_server_for_the_rest(server: DevServer, client: Client) -> None:
    flags = client.get_all_flags("u2", person_properties={"plan": "free"})
    assert flags["everyone"] is True and flags["pro-only"] is False
    assert _flag_requests(server) == []
    both = client.get_all_flags_and_payloads("u2", person_properties={"plan": "pro"})
    assert both["featureFlagPayloads"] == {"pro-only": {"limit": 10}}
    client.get_all_flags("u3")  # plan unknown: pro-only goes to the server
    assert _flag_requests(server) == ["/flags/"]


def test_send_feature_flags_adds_feature_properties(server: DevServer, client: Client) -> None:
    client.track({"userId": "u4", "event": "bought", "sendFeatureFlags": True})
    client.capture("u4", "viewed", send_feature_flags=True)
    assert client.flush(timeout=10)
    for name in ("bought", "viewed"):
        (event,) = server.store.events(event=name)
        props = event["properties"]
        assert props["$feature/everyone"] is True
        assert "everyone" in props["$active_feature_flags"]


def test_override_feature_flags(client: Client) -> None:
    client.override_feature_flags({"everyone": False, "new": "blue"}, payloads={"new": [1]})
    assert client.feature_enabled("everyone", "u") is False
    assert client.get_feature_flag("new", "u") == "blue"
    assert client.get_feature_flag_payload("new", "u") == [1]
    client.override_feature_flags(None)
    assert client.feature_enabled("everyone", "u") is True


def test_remote_request_shape_and_geoip_default(sink: Sink) -> None:
    """No definitions: /flags/?v=2 with the SDK contract's body and no Authorization.

    GeoIP is off by default (a server's own address must not locate its users, as in
    posthog-python 7); ``disable_geoip=False`` per call turns it on."""
    client = Client({"secret": TOKEN, "host": sink.url, "send": False})
    client.get_feature_flag("anything", "u9", groups={"company": "acme"})
    client.get_feature_flag("anything", "u9", disable_geoip=False)
    first, second = sink.requests
    assert first.path == "/flags/?v=2"
    assert "Authorization" not in first.headers
    assert first.body["api_key"] == TOKEN
    assert first.body["distinct_id"] == "u9"
    assert first.body["groups"] == {"company": "acme"}
    assert first.body["geoip_disable"] is True
    assert first.body["flag_keys_to_evaluate"] == ["anything"]
    assert second.body["geoip_disable"] is False
    client.shutdown()


def test_network_trouble_returns_none_and_reaches_error_listeners() -> None:
    client = Client({"secret": TOKEN, "host": "http://127.0.0.1:9", "send": False})
    errors: List[Any] = []
    got = threading.Event()
    client.on("error", lambda err: (errors.append(err), got.set()))
    assert client.get_feature_flag("anything", "u") is None
    assert client.feature_enabled("anything", "u") is None
    assert got.wait(5) and errors
    client.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_poller_restarts_in_a_forked_child(server: DevServer) -> None:
    """The child gets its own polling thread and session; the parent keeps its own."""
    script = Path(__file__).parent / "lifecycle_scripts" / "fork_flags.py"
    done = subprocess.run(
        [sys.executable, str(script), server.url, TOKEN, PERSONAL],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    reports = {r["who"]: r for r in map(json.loads, done.stdout.splitlines())}
    child, parent = reports["child"], reports["parent"]
    assert child == {
        "who": "child",
        "new_poller": True,
        "ready": True,
        "reload": True,
        "flag": True,
    }
    assert parent == {"who": "parent", "same_poller": True, "flag": True}
    polls = [r for r in server.requests_log if r.path.startswith(POLL_PATHS)]
    assert len(polls) >= 3, "parent load, child load and child reload all reach the server"


def test_shutdown_stops_the_poller(server: DevServer) -> None:
    """After shutdown no definitions request reaches the server, however short the interval."""
    client = Client(
        {"secret": TOKEN, "host": server.url, "send": False},
        personal_api_key=PERSONAL,
        poll_interval=0.05,
    )
    assert client.wait_for_local_evaluation_ready(10)

    def polls() -> int:
        return sum(1 for r in server.requests_log if r.path.startswith(POLL_PATHS))

    deadline = time.monotonic() + 10
    while polls() < 3:  # it is polling
        assert time.monotonic() < deadline, "the poller never polled again"
        time.sleep(0.02)
    client.shutdown(2)
    stopped_at = polls()
    time.sleep(0.3)  # six intervals
    assert polls() == stopped_at


CACHE_CHILD = """
import sys, time
from analytics_compat import Client
url, token, personal, cache = sys.argv[1:5]
options = {"secret": token, "host": url, "send": False}
extra = {"flag_definitions_cache_file": cache} if cache != "-" else {}
client = Client(options, personal_api_key=personal, poll_interval=0.1, **extra)
assert client.wait_for_local_evaluation_ready(10)
assert client.get_feature_flag("everyone", "u", only_evaluate_locally=True) is True
print("ready", flush=True)
sys.stdin.read()
client.shutdown(2)
"""


@pytest.mark.skipif(os.name != "posix", reason="the shared cache locks with fcntl")
@pytest.mark.parametrize("shared", [False, True])
def test_processes_of_one_host_share_definitions_through_the_cache_option(
    server: DevServer, tmp_path: Path, shared: bool
) -> None:
    """Four worker processes; with ``flag_definitions_cache_file`` one of them polls."""
    cache = str(tmp_path / "flags.json") if shared else "-"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CACHE_CHILD, server.url, TOKEN, PERSONAL, cache],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"

        def polls() -> int:
            return sum(1 for r in server.requests_log if r.path.startswith("/flags/definitions"))

        start = polls()
        time.sleep(1.0)  # ten poll intervals
        during = polls() - start
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        for child in children:
            child.wait(15)
            assert child.stdout is not None
            child.stdout.close()
    if shared:
        assert during <= 15, f"{during} polls in 1 s: more than one process polled"
    else:
        assert during >= 25, f"{during} polls in 1 s: four processes should poll ~40 times"
