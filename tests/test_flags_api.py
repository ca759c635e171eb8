"""posthog-python 7's flag API and posthog-node's forms, against a real dev server.

Every client talks to the dev server through ``FlagProxy`` (a real loopback proxy that
keeps the body of each ``/flags`` request): snapshots (``evaluate_flags``), ``flags=``
on capture and track, ``flag_keys_to_evaluate``, ``device_id``, ``get_value()``,
override forms, ``send_feature_flags`` options and the camelCase methods.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List

import pytest

from analytics_compat import Client
from analytics_compat.devserver import DevServer
from analytics_compat.errors import ValidationError
from tests.flagproxy import FlagProxy

TOKEN = "phc_flag_api"
PERSONAL = "phx_flag_api_personal"


def _flag(key: str, *props: Dict[str, Any], rollout: int = 100, **filters: Any) -> Dict[str, Any]:
    groups = [{"properties": list(props), "rollout_percentage": rollout}]
    return {"id": len(key), "key": key, "active": True, "filters": {"groups": groups, **filters}}


def _person(key: str, value: Any, operator: str = "exact") -> Dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": "person"}


VARIANTS = {"variants": [{"key": "control", "rollout_percentage": 50},
                         {"key": "test", "rollout_percentage": 50}]}  # fmt: skip
DEFINITIONS = {
    "flags": [
        _flag("everyone"),
        _flag("pro-only", _person("plan", ["pro"]), payloads={"true": '{"limit": 10}'}),
        _flag("variants", multivariate=VARIANTS, payloads={"test": '"T"', "control": '"C"'}),
        _flag("rx-lookahead", _person("email", "(?=a)a", "regex")),
        _flag("rx-value", _person("email", "a.c", "regex")),
        _flag("by-device", rollout=50, bucketing_identifier="device_id"),
    ],
    "group_type_mapping": {},
    "cohorts": {},
}
ALL_KEYS = [f["key"] for f in DEFINITIONS["flags"]]


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,), personal_api_key=PERSONAL) as srv:
        srv.set_flags(DEFINITIONS)
        yield srv


@pytest.fixture
def proxy(server: DevServer) -> Iterator[FlagProxy]:
    p = FlagProxy(server.url)
    yield p
    p.close()


@pytest.fixture
def client(proxy: FlagProxy) -> Iterator[Client]:
    """With definitions loaded (local evaluation), events on."""
    c = Client(
        {"secret": TOKEN, "host": proxy.url, "flushAt": 100, "flush_policy": "posthog"},
        personal_api_key=PERSONAL,
        poll_interval=3600,
    )
    assert c.wait_for_local_evaluation_ready(10)
    yield c
    c.shutdown(5)


@pytest.fixture
def remote_client(proxy: FlagProxy) -> Iterator[Client]:
    """No personal API key: every answer comes from ``/flags``."""
    c = Client({"secret": TOKEN, "host": proxy.url, "flushAt": 100, "flush_policy": "posthog"})
    yield c
    c.shutdown(5)


def _called(server: DevServer, client: Client) -> List[tuple[str, str, Any]]:
    assert client.flush(timeout=10)
    events = server.store.events(event="$feature_flag_called")
    props = [(e["distinct_id"], e["properties"]) for e in events]
    return sorted((d, p["$feature_flag"], p["$feature_flag_response"]) for d, p in props)


# ------------------------------------------------------------------ evaluate_flags


def test_snapshot_is_local_first_then_one_request_for_the_unresolved(
    proxy: FlagProxy, client: Client
) -> None:
    snapshot = client.evaluate_flags("u1", person_properties={"email": "abc"})
    (body,) = proxy.flag_requests()  # exactly one /flags request
    assert sorted(body["flag_keys_to_evaluate"]) == ["by-device", "pro-only", "rx-lookahead"]
    assert body["distinct_id"] == "u1"
    assert snapshot.keys == list(snapshot) and sorted(snapshot) == sorted(ALL_KEYS)
    assert len(snapshot) == len(ALL_KEYS) and "everyone" in snapshot
    assert snapshot.get_result("everyone").locally_evaluated is True  # type: ignore[union-attr]
    assert snapshot.get_result("pro-only").locally_evaluated is False  # type: ignore[union-attr]
    assert snapshot.get_flag("rx-value", send_feature_flag_events=False) is True  # a.c: "abc"
    assert snapshot.unresolved_flags == {}  # the server filled every one in


def test_snapshot_with_only_evaluate_locally_asks_nothing_and_says_why(
    proxy: FlagProxy, client: Client
) -> None:
    snapshot = client.evaluate_flags(
        "u1", person_properties={"email": {"not": "text"}}, only_evaluate_locally=True
    )
    assert proxy.flag_requests() == []
    assert dict(snapshot.unresolved_flags) == {
        "pro-only": "missing_property",
        "rx-lookahead": "unsupported_regex",
        "rx-value": "undecidable_regex_value",
        "by-device": "missing_device_id",
    }
    assert sorted(snapshot) == ["everyone", "variants"]
    assert snapshot.get_flag("pro-only") is None
    assert snapshot.is_enabled("pro-only", default_value=True) is True
    miss = snapshot.miss("rx-value")
    assert miss is not None and miss.reason == "undecidable_regex_value"
    assert snapshot.miss("nope").reason == "flag_unknown"  # type: ignore[union-attr]
    assert snapshot.miss("everyone") is None


def test_snapshot_reads_send_deduplicated_called_events_and_payload_reads_none(
    server: DevServer, proxy: FlagProxy, client: Client
) -> None:
    snapshot = client.evaluate_flags("u2", person_properties={"plan": "pro"}, flag_keys=[
        "everyone", "pro-only", "variants"])  # fmt: skip
    assert proxy.flag_requests() == []  # all three decided locally
    assert _called(server, client) == []  # evaluating is not reading
    for _ in range(3):
        assert snapshot.is_enabled("everyone") is True
    variant = snapshot.get_flag("variants")
    assert snapshot.get_flag_payload("pro-only") == {"limit": 10}
    assert snapshot.get_payload("variants") == variant[0].upper()  # "C" / "T"
    assert snapshot.is_enabled("pro-only", send_feature_flag_events=False) is True
    client.feature_enabled("everyone", "u2")  # the same dedup as the single-flag calls
    assert _called(server, client) == [("u2", "everyone", True), ("u2", "variants", variant)]
    assert sorted(snapshot.only_accessed()) == ["everyone", "pro-only", "variants"]
    fresh = client.evaluate_flags("u2", flag_keys=["everyone", "variants"])
    fresh.get_flag("everyone")
    assert fresh.only_accessed().keys == ["everyone"]
    assert fresh.only(["variants", "nope"]).keys == ["variants"]
    assert fresh.miss("pro-only").reason == "not_requested"  # type: ignore[union-attr]
    assert client.evaluate_flags("u2", flag_keys=[]).keys == []


# ------------------------------------------------------------ flags= on capture/track


def test_capture_and_track_with_a_snapshot_attach_its_values_and_ask_nothing(
    server: DevServer, proxy: FlagProxy, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = client.evaluate_flags(
        "u3", person_properties={"plan": "free"}, flag_keys=["variants", "pro-only", "everyone"]
    )
    variant = snapshot.get_result("variants").value  # type: ignore[union-attr]
    client.capture("u3", "viewed", {"$feature/everyone": "mine"}, flags=snapshot)
    client.track({"userId": "u3", "event": "bought", "flags": snapshot})
    client.capture({"distinctId": "u3", "event": "node", "flags": snapshot})
    with caplog.at_level(logging.WARNING, logger="analytics_compat"):
        client.capture("both", distinct_id="u3", flags=snapshot, send_feature_flags=True)
    assert "ignoring send_feature_flags" in caplog.text
    assert proxy.flag_requests() == []
    assert _called(server, client) == []  # attaching is not reading
    expected = {"$feature/everyone": True, "$feature/pro-only": False,
                "$feature/variants": variant,
                "$active_feature_flags": ["everyone", "variants"]}  # fmt: skip
    for name in ("viewed", "bought", "node", "both"):
        (event,) = server.store.events(event=name)
        props = event["properties"]
        got = {k: v for k, v in props.items() if k.startswith(("$feature/", "$active_"))}
        want = dict(expected, **({"$feature/everyone": "mine"} if name == "viewed" else {}))
        assert got == want, name
    with pytest.raises(ValidationError):
        client.capture("u3", "bad", flags={"everyone": True})  # type: ignore[arg-type]


# ------------------------------------------------- flag_keys_to_evaluate, device_id


def test_flag_keys_to_evaluate_limits_local_evaluation_and_the_request_body(
    proxy: FlagProxy, client: Client, remote_client: Client
) -> None:
    flags = client.get_all_flags("u4", flag_keys_to_evaluate=["pro-only", "everyone"])
    assert sorted(flags) == ["everyone", "pro-only"]
    ((body,),) = [proxy.flag_requests()]
    assert body["flag_keys_to_evaluate"] == ["pro-only"]  # what was left undecided
    both = remote_client.get_all_flags_and_payloads(
        "u4", flag_keys_to_evaluate=["variants", "everyone"]
    )
    assert sorted(both["featureFlags"]) == ["everyone", "variants"]
    assert proxy.flag_requests()[1]["flag_keys_to_evaluate"] == ["variants", "everyone"]
    assert sorted(remote_client.getAllFlags("u4", {"flagKeys": ["everyone"]})) == ["everyone"]
    assert proxy.flag_requests()[2]["flag_keys_to_evaluate"] == ["everyone"]
    remote_client.get_all_flags("u4")
    assert "flag_keys_to_evaluate" not in proxy.flag_requests()[3]  # no keys: every flag


def test_device_id_is_sent_to_flags_and_buckets_device_flags_locally(
    proxy: FlagProxy, client: Client, remote_client: Client
) -> None:
    remote_client.get_feature_flag("by-device", "u5", device_id="dev-1")
    remote_client.evaluate_flags("u5", device_id="dev-2")
    remote_client.get_all_flags("u5", device_id="dev-3")
    assert [b.get("device_id") for b in proxy.flag_requests()] == ["dev-1", "dev-2", "dev-3"]
    before = len(proxy.flag_requests())
    # Locally: the device decides, whoever the person is; no device: the server is asked.
    for device in (f"device-{i}" for i in range(30)):
        values = {
            client.get_feature_flag("by-device", f"person-{j}", device_id=device,
                                    send_feature_flag_events=False)
            for j in range(5)
        }  # fmt: skip
        assert len(values) == 1, device
    seen = {
        client.get_feature_flag("by-device", "p", device_id=f"device-{i}",
                                send_feature_flag_events=False)
        for i in range(30)
    }  # fmt: skip
    assert seen == {True, False}
    assert len(proxy.flag_requests()) == before
    client.get_feature_flag("by-device", "p", send_feature_flag_events=False)
    assert len(proxy.flag_requests()) == before + 1


def test_result_get_value_is_the_variant_or_whether_enabled(client: Client) -> None:
    variant = client.get_feature_flag_result("variants", "u6", send_feature_flag_events=False)
    assert variant is not None and variant.get_value() == variant.variant in ("control", "test")
    on = client.get_feature_flag_result("everyone", "u6", send_feature_flag_events=False)
    off = client.get_feature_flag_result(
        "pro-only", "u6", person_properties={"plan": "free"}, send_feature_flag_events=False
    )
    assert (on.get_value(), off.get_value()) == (True, False)  # type: ignore[union-attr]


# ------------------------------------------------------------------------ overrides


def test_override_forms_of_posthog_node(client: Client) -> None:
    def state() -> tuple[Any, Any, Any]:
        return (
            client.get_feature_flag("everyone", "u7", send_feature_flag_events=False),
            client.get_feature_flag("extra", "u7", only_evaluate_locally=True),
            client.get_feature_flag_payload("everyone", "u7"),
        )

    client.override_feature_flags(["extra"])
    assert state() == (True, True, None)
    client.override_feature_flags({"flags": {"everyone": False}, "payloads": {"everyone": [1]}})
    assert state() == (False, None, [1])
    client.overrideFeatureFlags({"payloads": {"everyone": [2]}})  # flags left as they are
    assert state() == (False, None, [2])
    client.override_feature_flags({"flags": False})  # flags cleared, payloads kept
    assert state() == (True, None, [2])
    client.override_feature_flags({"flags": ["extra"], "payloads": False})
    assert state() == (True, True, None)
    client.override_feature_flags({"everyone": "blue"}, payloads={"everyone": "p"})
    assert state() == ("blue", None, "p")
    client.override_feature_flags(False)  # both cleared
    assert state() == (True, None, None)


# ---------------------------------------------------------- send_feature_flags options


def test_send_feature_flags_as_an_options_object(
    server: DevServer, proxy: FlagProxy, client: Client
) -> None:
    python = {"only_evaluate_locally": True, "person_properties": {"plan": "pro"},
              "flag_keys_filter": ["pro-only", "everyone"]}  # fmt: skip
    node = {"onlyEvaluateLocally": True, "personProperties": {"plan": "pro"},
            "flagKeys": ["pro-only"]}  # fmt: skip
    client.capture("u8", "py", send_feature_flags=python)
    client.track({"userId": "u8", "event": "node-track", "sendFeatureFlags": node})
    client.capture({"distinctId": "u8", "event": "node-capture", "sendFeatureFlags": node})
    assert proxy.flag_requests() == []
    client.capture("u8", "remote", send_feature_flags={"only_evaluate_locally": False,
                                                       "flag_keys": ["everyone"]})  # fmt: skip
    (body,) = proxy.flag_requests()
    assert body["flag_keys_to_evaluate"] == ["everyone"]
    assert client.flush(timeout=10)

    def flag_props(name: str) -> Dict[str, Any]:
        (event,) = server.store.events(event=name)
        return {k: v for k, v in event["properties"].items() if k.startswith("$feature/")}

    assert flag_props("py") == {"$feature/pro-only": True, "$feature/everyone": True}
    assert flag_props("node-track") == flag_props("node-capture") == {"$feature/pro-only": True}
    assert flag_props("remote") == {"$feature/everyone": True}
    with pytest.raises(ValidationError):
        client.capture("u8", "bad", send_feature_flags={"flagKeyz": ["x"]})


# ------------------------------------------------------------------ camelCase methods


def test_posthog_node_camel_case_methods_take_its_options_object(
    server: DevServer, proxy: FlagProxy, client: Client
) -> None:
    pro = {"personProperties": {"plan": "pro"}, "sendFeatureFlagEvents": False}
    assert client.isFeatureEnabled("pro-only", "u9", pro) is True
    assert client.getFeatureFlag("pro-only", "u9", {"onlyEvaluateLocally": True}) is None
    assert proxy.flag_requests() == []
    assert client.getFeatureFlagPayload("pro-only", "u9", None, pro) == {"limit": 10}
    both = client.getAllFlagsAndPayloads("u9", {"personProperties": {"plan": "pro"},
                                                "onlyEvaluateLocally": True})  # fmt: skip
    assert both["featureFlagPayloads"]["pro-only"] == {"limit": 10}
    assert client.getAllFlags("u9", {"onlyEvaluateLocally": True})["everyone"] is True
    assert _called(server, client) == []
    assert client.isFeatureEnabled("everyone", "u9") is True  # events on by default
    assert _called(server, client) == [("u9", "everyone", True)]
    polls = sum(1 for p in proxy.paths if p.startswith("/flags/definitions"))
    assert client.reloadFeatureFlags() is True
    assert sum(1 for p in proxy.paths if p.startswith("/flags/definitions")) == polls + 1
    with pytest.raises(ValidationError):
        client.isFeatureEnabled("everyone", "u9", {"flagKeys": ["everyone"]})
