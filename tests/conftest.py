"""Shared fixtures: real HTTP servers on 127.0.0.1 (the v0 sink, the v1 endpoint) and
clients that are always shut down."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, List

import pytest

import analytics_compat
from tests.sink import Sink
from tests.v1server import V1Server

FAST = {"retry_backoff": 0.01, "max_retry_backoff": 0.05, "timeout": 5.0}


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.close()


@pytest.fixture
def make_client(sink: Sink) -> Iterator[Callable[..., analytics_compat.Client]]:
    """Build clients against the sink (fast retries); shut them all down afterwards."""
    made: List[analytics_compat.Client] = []

    def make(options: Any = None, **kwargs: Any) -> analytics_compat.Client:
        merged = {"secret": "phc_test_secret_key", "host": sink.url, **FAST}
        merged.update(options or {})
        merged.update(kwargs)
        client = analytics_compat.Client(merged)
        made.append(client)
        return client

    yield make
    sink.stall.set()
    for client in made:
        if client.initialized:
            client.shutdown(2.0)


@pytest.fixture
def v1() -> Iterator[V1Server]:
    server = V1Server()
    yield server
    server.close()


@pytest.fixture
def make_v1(
    v1: V1Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., analytics_compat.Client]]:
    """Clients speaking capture v1 to the v1 server (fast retries, no environment).

    GeoIP is left on so the event shapes asserted are the protocol's alone; the
    ``$geoip_disable`` default has its own test."""
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.delenv("POSTHOG_CAPTURE_COMPRESSION", raising=False)
    made: List[analytics_compat.Client] = []

    def make(**options: Any) -> analytics_compat.Client:
        merged = {
            "secret": "phc_test_secret_key",
            "host": v1.url,
            "capture_mode": "v1",
            "disable_geoip": False,
            **FAST,
        }
        merged.update(options)
        client = analytics_compat.Client(merged)
        made.append(client)
        return client

    yield make
    for client in made:
        if client.initialized:
            client.shutdown(2.0)


@pytest.fixture(autouse=True)
def no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A library bug logged as 'internal error' fails the test that provoked it."""
    caplog.set_level(logging.DEBUG, logger="analytics_compat")
    yield
    bugs = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert not bugs, [r.getMessage() for r in bugs]
