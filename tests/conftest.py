"""Shared fixtures: a real HTTP sink on 127.0.0.1 and clients that are always shut down."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, List

import pytest

import analytics_compat
from tests.sink import Sink

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


@pytest.fixture(autouse=True)
def no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A library bug logged as 'internal error' fails the test that provoked it."""
    caplog.set_level(logging.DEBUG, logger="analytics_compat")
    yield
    bugs = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert not bugs, [r.getMessage() for r in bugs]
