"""Delivery rules: retries, Retry-After, non-retryable 4xx, 413 split, one bad event alone."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from analytics_compat import (
    EncodingError,
    HTTPStatusError,
    RetriesExhaustedError,
    TransportError,
)
from tests.sink import Sink


def test_503_503_200_delivers_once_with_the_same_uuid_and_timestamp(
    make_client: Any, sink: Sink
) -> None:
    sink.respond(503, 503)
    client = make_client(flushAt=1, max_retries=3)
    promise = client.track({"userId": "u", "event": "e"})
    assert promise.result(10) is None
    attempts = [r.batch[0] for r in sink.requests]
    assert [r.status for r in sink.requests] == [503, 503, 200]
    assert len({a["uuid"] for a in attempts}) == 1
    assert len({a["timestamp"] for a in attempts}) == 1
    assert len(sink.delivered()) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_retryable_statuses_are_retried(make_client: Any, sink: Sink, status: int) -> None:
    sink.respond(status)
    client = make_client(flushAt=1)
    assert client.track({"userId": "u", "event": "e"}).result(10) is None
    assert [r.status for r in sink.requests] == [status, 200]


def test_retry_after_is_honoured(make_client: Any, sink: Sink) -> None:
    sink.respond(429, headers={"Retry-After": "1"})
    client = make_client(flushAt=1, retry_backoff=0.0)
    assert client.track({"userId": "u", "event": "e"}).result(10) is None
    first, second = sink.requests
    assert second.at - first.at >= 0.9, "the retry came before Retry-After allowed"


@pytest.mark.parametrize("status", [400, 401, 403])
def test_other_4xx_are_not_retried_and_reach_promise_and_client(
    make_client: Any, sink: Sink, status: int
) -> None:
    sink.respond(status)
    client = make_client(flushAt=1)
    errors: List[Any] = []
    got = threading.Event()
    client.on("error", lambda err: (errors.append(err), got.set()))
    promise = client.track({"userId": "u", "event": "e"})
    assert promise.wait(10)
    assert isinstance(promise.error, HTTPStatusError)
    assert promise.error.status_code == status and promise.error.retryable is False
    assert got.wait(5)
    assert errors == [promise.error]
    assert len(sink.requests) == 1


def test_retries_are_bounded(make_client: Any, sink: Sink) -> None:
    sink.respond(500, 500, 500)
    client = make_client(flushAt=1, max_retries=2)
    promise = client.track({"userId": "u", "event": "e"})
    assert promise.wait(10)
    assert isinstance(promise.error, RetriesExhaustedError)
    assert promise.error.attempts == 3
    assert isinstance(promise.error.last_error, HTTPStatusError)
    assert len(sink.requests) == 3


def test_network_error_is_retried_then_reported(make_client: Any) -> None:
    client = make_client(flushAt=1, host="http://127.0.0.1:9", max_retries=1)
    promise = client.track({"userId": "u", "event": "e"})
    assert promise.wait(10)
    assert isinstance(promise.error, RetriesExhaustedError)
    assert isinstance(promise.error.last_error, TransportError)


def test_413_splits_the_batch_and_an_oversized_event_fails_alone(
    make_client: Any, sink: Sink
) -> None:
    # 4 events in one batch: 413 for the 4, then 413 for the first half (2), then 200s.
    sink.respond(413, 413)
    client = make_client(flushAt=4, flush_policy="posthog", timerInterval=60_000)
    promises = [client.track({"userId": "u", "event": f"e{i}"}) for i in range(4)]
    assert client.flush(timeout=10)
    assert [len(r.batch) for r in sink.requests] == [4, 2, 1, 1, 2]
    assert [e["event"] for e in sink.delivered()] == ["e0", "e1", "e2", "e3"]
    assert all(p.error is None for p in promises)

    sink.respond(413, 413)
    client2 = make_client(flushAt=2, flush_policy="posthog", timerInterval=60_000)
    big = client2.track({"userId": "u", "event": "big"})
    small = client2.track({"userId": "u", "event": "small"})
    result = client2.flush(timeout=10)
    assert not result and (result.delivered, result.failed, result.pending) == (1, 1, 0)
    assert result.error is big.error
    assert isinstance(big.error, HTTPStatusError) and big.error.status_code == 413
    assert small.error is None


def test_an_event_over_the_size_cap_fails_alone(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=3, flush_policy="posthog", max_event_bytes=2000)
    ok1 = client.track({"userId": "u", "event": "ok1"})
    huge = client.track({"userId": "u", "event": "huge", "properties": {"x": "y" * 5000}})
    ok2 = client.track({"userId": "u", "event": "ok2"})
    result = client.flush(timeout=10)
    assert not result and (result.delivered, result.failed, result.pending) == (2, 1, 0)
    assert isinstance(huge.error, EncodingError)
    assert ok1.error is None and ok2.error is None
    assert [e["event"] for e in sink.delivered()] == ["ok1", "ok2"]


def test_batches_respect_the_byte_cap(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=10, flush_policy="posthog", max_batch_bytes=4096)
    for i in range(10):
        client.track({"userId": "u", "event": f"e{i}", "properties": {"pad": "p" * 900}})
    assert client.flush(timeout=10)
    assert len(sink.delivered()) == 10
    assert len(sink.requests) > 1
    assert all(len(r.batch) <= 4 for r in sink.requests)


def test_flush_callback_gets_the_first_error(make_client: Any, sink: Sink) -> None:
    sink.respond(400)
    client = make_client(flushAt=10, flush_policy="posthog")
    client.track({"userId": "u", "event": "e"})
    got: List[Any] = []
    done = threading.Event()
    client.flush(lambda err: (got.append(err), done.set()))
    assert done.wait(10)
    assert isinstance(got[0], HTTPStatusError) and got[0].status_code == 400
