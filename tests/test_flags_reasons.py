"""Why a flag call got no value: the README's table, each row observed through a real server.

The dev server answers behind ``FlagProxy``, which can also answer ``/flags`` with a
quota limit, a 500, or a closed connection; a closed port is a server nobody runs.
Each row checks the return value of the calls and the reason the caller can read
(``last_flag_miss``, ``FeatureFlagEvaluations.miss``). Also: the
``$feature_flag_called`` deduplication under threads and when its cache is full.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any, Iterator, Optional

import pytest

from analytics_compat import Client
from analytics_compat._flag_events import SeenCache
from analytics_compat.devserver import DevServer
from analytics_compat.errors import HTTPStatusError, RetriesExhaustedError
from tests.flagproxy import FlagProxy
from tests.test_flags_api import DEFINITIONS, PERSONAL, TOKEN


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


def _client(host: str, *, local: bool) -> Client:
    extra: dict[str, Any] = {"personal_api_key": PERSONAL, "poll_interval": 3600} if local else {}
    c = Client({"secret": TOKEN, "host": host, "send": False}, flags_request_timeout=2, **extra)
    if local:
        assert c.wait_for_local_evaluation_ready(10)
    return c


def _reason(client: Client) -> tuple[Optional[str], Optional[str]]:
    miss = client.last_flag_miss
    assert miss is not None
    return miss.reason, miss.local_reason


def test_unknown_flag(proxy: FlagProxy) -> None:
    client = _client(proxy.url, local=True)
    try:
        assert client.get_feature_flag("nope", "u") is None
        assert _reason(client) == ("flag_unknown", None)
        assert len(proxy.flag_requests()) == 1  # the server may know it
        assert client.feature_enabled("nope", "u", only_evaluate_locally=True) is None
        assert _reason(client) == ("flag_unknown", None)
        assert client.get_feature_flag_payload("nope", "u") is None
        assert len(proxy.flag_requests()) == 2  # the payload call asked too, not the local one
        assert "nope" not in client.get_all_flags("u")
        assert client.evaluate_flags("u").miss("nope").reason == "flag_unknown"  # type: ignore[union-attr]
    finally:
        client.shutdown(2)


@pytest.mark.parametrize(
    ("key", "person", "reason"),
    [
        ("pro-only", {}, "missing_property"),
        ("rx-lookahead", {"email": "abc"}, "unsupported_regex"),
        ("rx-value", {"email": {"an": "object"}}, "undecidable_regex_value"),
        ("by-device", {}, "missing_device_id"),
    ],
)
def test_not_decidable_locally_with_only_evaluate_locally(
    proxy: FlagProxy, key: str, person: dict[str, Any], reason: str
) -> None:
    client = _client(proxy.url, local=True)
    try:
        local = {"person_properties": person, "only_evaluate_locally": True}
        assert client.get_feature_flag(key, "u", **local) is None
        assert _reason(client) == (reason, reason)
        snapshot = client.evaluate_flags("u", person_properties=person, only_evaluate_locally=True)
        assert snapshot.unresolved_flags[key] == reason
        assert snapshot.miss(key).reason == reason  # type: ignore[union-attr]
        assert proxy.flag_requests() == []
        # Without only_evaluate_locally the server decides it: one request, a value.
        value = client.get_feature_flag(key, "u", person_properties=person)
        assert value is not None and len(proxy.flag_requests()) == 1
    finally:
        client.shutdown(2)


def test_definitions_not_loaded_with_only_evaluate_locally(proxy: FlagProxy) -> None:
    client = _client(proxy.url, local=False)
    try:
        assert client.get_feature_flag("everyone", "u", only_evaluate_locally=True) is None
        assert _reason(client) == ("definitions_not_loaded", None)
        assert proxy.flag_requests() == []
    finally:
        client.shutdown(2)


@pytest.mark.parametrize(
    ("mode", "reason", "error"),
    [
        ("quota", "quota_limited", None),
        ("errors", "evaluation_failed", None),
        ("500", "server_error", HTTPStatusError),
        ("drop", "server_unreachable", RetriesExhaustedError),
    ],
)
def test_server_faults(proxy: FlagProxy, mode: str, reason: str, error: Any) -> None:
    client = _client(proxy.url, local=True)
    errors: list[Any] = []
    client.on("error", errors.append)
    proxy.flags_mode = mode
    try:
        assert client.get_feature_flag("pro-only", "u") is None
        miss = client.last_flag_miss
        assert miss is not None and (miss.reason, miss.local_reason) == (reason, "missing_property")
        assert (miss.error is None) if error is None else isinstance(miss.error, error)
        assert client.feature_enabled("pro-only", "u") is None
        snapshot = client.evaluate_flags("u")
        assert snapshot.get_flag("everyone") is True  # local values survive the fault
        assert snapshot.miss("pro-only").reason == reason  # type: ignore[union-attr]
        assert snapshot.unresolved_flags["pro-only"] == "missing_property"
        assert "pro-only" not in client.get_all_flags("u")
        assert client.get_feature_flag("everyone", "u") is True  # a later success is unaffected
        assert (error is None) == (errors == [])
    finally:
        client.shutdown(2)


def test_server_unreachable_without_definitions() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    client = _client(url, local=False)
    try:
        assert client.get_feature_flag("everyone", "u") is None
        miss = client.last_flag_miss
        assert miss is not None and miss.reason == "server_unreachable"
        assert isinstance(miss.error, RetriesExhaustedError)
        assert client.evaluate_flags("u").miss("everyone").reason == "server_unreachable"  # type: ignore[union-attr]
        assert client.get_all_flags("u") == {}
    finally:
        client.shutdown(2)


def test_disabled_client_answers_none_with_its_reason() -> None:
    client = Client({"secret": TOKEN, "host": "http://127.0.0.1:9", "disabled": True})
    assert client.get_feature_flag("everyone", "u") is None
    assert _reason(client) == ("disabled", None)
    assert client.evaluate_flags("u").miss("everyone").reason == "disabled"  # type: ignore[union-attr]
    client.shutdown(1)


# ----------------------------------------------------- $feature_flag_called dedup


def test_seen_cache_forgets_the_oldest_key_first_never_all() -> None:
    """As on main and in posthog-python 7.91: a full cache forgets one key at a time."""
    cache = SeenCache(3)
    assert [cache.add(k) for k in "abcd"] == [True] * 4  # "a" is forgotten
    assert [cache.add(k) for k in "bcd"] == [False] * 3
    assert cache.add("a") is True


def test_one_report_per_key_however_many_threads_race_for_it() -> None:
    cache = SeenCache(50_000)
    keys = [("user", f"flag-{i}", True) for i in range(20_000)]
    wins = [0] * 8
    start = threading.Barrier(8)

    def race(slot: int) -> None:
        start.wait()
        for key in keys:
            if cache.add(key):
                wins[slot] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        sys.setswitchinterval(interval)
    assert sum(wins) == len(keys)  # each key reported once: none twice, none lost


def test_concurrent_reads_of_one_flag_send_one_event(server: DevServer) -> None:
    client = Client(
        {"secret": TOKEN, "host": server.url, "flushAt": 100, "flush_policy": "posthog"},
        personal_api_key=PERSONAL,
        poll_interval=3600,
    )
    assert client.wait_for_local_evaluation_ready(10)
    snapshot = client.evaluate_flags("racer")
    start = threading.Barrier(6)

    def read() -> None:
        start.wait()
        for _ in range(200):
            client.feature_enabled("everyone", "racer")
            snapshot.is_enabled("everyone")

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert client.flush(timeout=10)
    called = server.store.events(event="$feature_flag_called")
    assert [(e["distinct_id"], e["properties"]["$feature_flag"]) for e in called] == [
        ("racer", "everyone")
    ]
    client.shutdown(5)
