"""The legacy analytics-node table of DESIGN.md, one behaviour per test, against a real server."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

import analytics_compat
from analytics_compat import Client, FlushPolicy, QueueFullError, triggers
from tests.sink import Sink


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_message_is_sent_at_once_and_alone(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=20)
    client.track({"userId": "u", "event": "first"})
    sink.wait_for(1)
    for i in range(3):
        client.track({"userId": "u", "event": f"later{i}"})
    assert client.flush(timeout=10)
    assert [len(r.batch) for r in sink.requests] == [1, 3]
    assert sink.requests[0].batch[0]["event"] == "first"


def test_flush_at_5_sends_one_batch_of_5(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=5, flush_policy="posthog")
    promises = [client.track({"userId": "u", "event": f"e{i}"}) for i in range(5)]
    sink.wait_for(5)
    assert [len(r.batch) for r in sink.requests] == [5]
    assert all(p.wait(5) for p in promises)


def test_flush_at_1_sends_every_message_right_away(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1)
    for i in range(3):
        client.track({"userId": "u", "event": f"e{i}"}).wait(5)
        assert len(sink.delivered()) == i + 1


def test_posthog_policy_holds_the_first_message(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=3, flushAfter=10_000, timerInterval=20, flush_policy="posthog")
    promise = client.track({"userId": "u", "event": "held"})
    assert not promise.wait(0.3), "posthog policy must not send a lone first message"
    assert client.queued == 1
    client.track({"userId": "u", "event": "b"})
    client.track({"userId": "u", "event": "c"})
    assert [e["event"] for e in sink.wait_for(3)] == ["held", "b", "c"]


def test_time_trigger_fires_after_flush_after(make_client: Any, sink: Sink) -> None:
    """With an injected clock: nothing moves until flushAfter has passed, then the timer sends."""
    clock = FakeClock()
    client = make_client(flushAt=100, flushAfter=10_000, timerInterval=10, clock=clock)
    client.track({"userId": "u", "event": "first"})  # legacy: first goes at once
    sink.wait_for(1)
    waiting = client.track({"userId": "u", "event": "second"})
    assert not waiting.wait(0.2)
    assert client.batch_age == 0.0
    clock.now += 10.5
    assert waiting.wait(5), "the timer should have fired the time trigger"
    assert [len(r.batch) for r in sink.requests] == [1, 1]


def test_time_trigger_posthog_policy_uses_age_of_oldest(make_client: Any, sink: Sink) -> None:
    clock = FakeClock()
    client = make_client(
        flushAt=100, flushAfter=5_000, timerInterval=10, clock=clock, flush_policy="posthog"
    )
    first = client.track({"userId": "u", "event": "a"})
    clock.now += 3
    client.track({"userId": "u", "event": "b"})
    assert not first.wait(0.2)
    assert client.batch_age == pytest.approx(3)
    clock.now += 2.5
    assert first.wait(5)
    assert [len(r.batch) for r in sink.requests] == [2]


def test_custom_trigger_receives_the_client(make_client: Any, sink: Sink) -> None:
    seen: List[Any] = []

    def every_third(client: Any) -> bool:
        seen.append(client.queued)
        return bool(client.queued >= 3)

    client = make_client(triggers=[every_third], timerInterval=60_000)
    promises = [client.track({"userId": "u", "event": f"e{i}"}) for i in range(3)]
    assert promises[-1].wait(5)
    assert [len(r.batch) for r in sink.requests] == [3]
    assert seen[:3] == [1, 2, 3]
    assert triggers.size(client) is False


def test_a_raising_trigger_is_logged_and_treated_as_false(
    make_client: Any, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(client: Any) -> bool:
        raise RuntimeError("boom")

    client = make_client(triggers=[broken, triggers.size], flushAt=2, timerInterval=60_000)
    client.track({"userId": "u", "event": "a"})
    client.track({"userId": "u", "event": "b"})
    sink.wait_for(2)
    assert "flush trigger raised" in caplog.text


def test_send_false_sends_nothing_and_promises_flush(sink: Sink) -> None:
    client = Client({"secret": "phc_k", "host": sink.url, "send": False})
    fired: List[str] = []
    promise = client.track({"userId": "u", "event": "e"})
    promise.on("flush", lambda: fired.append("flush"))
    assert fired == ["flush"]
    assert client.flush(timeout=1)
    assert sink.requests == []
    client.shutdown()


def test_initialize_event_fires_inside_init() -> None:
    client = Client()
    fired: List[str] = []
    client.on("initialize", lambda: fired.append("init"))
    client.init({"secret": "phc_k", "send": False})
    assert fired == ["init"]
    with pytest.raises(analytics_compat.ConfigurationError, match="already called"):
        client.init({"secret": "phc_k"})


def test_listener_order_client_then_promise_then_flush_callback(
    make_client: Any, sink: Sink
) -> None:
    client = make_client(flushAt=10, flush_policy="posthog", timerInterval=60_000)
    order: List[str] = []
    done = threading.Event()
    client.on("flush", lambda info: order.append(f"client:{info.count}"))
    for i in range(2):
        client.track({"userId": "u", "event": f"e{i}"}).on(
            "flush", lambda i=i: order.append(f"promise:{i}")
        )
    client.flush(lambda err: (order.append(f"callback:{err}"), done.set()))
    assert done.wait(5)
    assert order == ["client:2", "promise:0", "promise:1", "callback:None"]


def test_flush_callback_runs_at_once_when_nothing_is_queued(make_client: Any, sink: Sink) -> None:
    client = make_client()
    got: List[Any] = []
    client.flush(got.append)
    assert got == [None]
    result = client.flush(timeout=1)
    assert result and (result.delivered, result.failed, result.pending) == (0, 0, 0)
    assert sink.requests == [], "an empty flush sends nothing"


def test_flush_sends_everything_queued_in_as_many_batches_as_needed(
    make_client: Any, sink: Sink
) -> None:
    client = make_client(flushAt=1000, max_batch_size=7, flush_policy="posthog")
    for i in range(20):
        client.track({"userId": "u", "event": f"e{i}"})
    assert client.flush(timeout=10)
    assert [len(r.batch) for r in sink.requests] == [7, 7, 6]
    assert [e["event"] for e in sink.delivered()] == [f"e{i}" for i in range(20)]


def test_max_queue_size_drops_new_messages_without_blocking(make_client: Any, sink: Sink) -> None:
    sink.stall.clear()
    client = make_client(maxQueueSize=3, flushAt=100, flush_policy="posthog")
    errors: List[Any] = []
    client.on("error", errors.append)
    kept = [client.track({"userId": "u", "event": f"k{i}"}) for i in range(3)]
    dropped = client.track({"userId": "u", "event": "dropped"})
    assert isinstance(dropped.error, QueueFullError)
    late: List[Any] = []
    dropped.on("error", late.append)
    assert late == [dropped.error]
    assert client.stats["dropped_queue_full"] == 1
    sink.stall.set()
    assert client.flush(timeout=10)
    assert all(p.error is None for p in kept)
    assert any(isinstance(e, QueueFullError) for e in errors)
    assert [e["event"] for e in sink.delivered()] == ["k0", "k1", "k2"]


def test_two_clients_batch_independently(make_client: Any, sink: Sink) -> None:
    fast = make_client(flushAt=1)
    bulk = make_client(flushAt=500, flush_policy="posthog", timerInterval=60_000)
    fast_flushes: List[int] = []
    bulk_flushes: List[int] = []
    fast.on("flush", lambda info: fast_flushes.append(info.count))
    bulk.on("flush", lambda info: bulk_flushes.append(info.count))
    for i in range(50):
        bulk.track({"userId": "b", "event": f"bulk{i}"})
    for i in range(3):
        fast.track({"userId": "f", "event": f"fast{i}"}).wait(5)
    assert bulk.queued == 50 and fast.queued == 0
    assert sum(fast_flushes) == 3 and bulk_flushes == []
    assert bulk.options.flush_at == 500 and fast.options.flush_at == 1
    assert bulk.flush(timeout=10)
    assert bulk_flushes == [50]
    sizes = sorted(len(r.batch) for r in sink.requests)
    assert sizes == [1, 1, 1, 50]


def test_options_accept_legacy_and_snake_case_names(sink: Sink) -> None:
    a = Client(
        {"secret": "phc_k", "flushAt": 7, "flushAfter": 500, "maxQueueSize": 9, "send": False}
    )
    b = Client(secret="phc_k", flush_at=7, flush_after=500, max_queue_size=9, send=False)
    c = Client({"api_key": "phc_k", "timerInterval": 250, "send": False})
    for client in (a, b):
        assert client.options.flush_at == 7
        assert client.options.flush_after == 0.5
        assert client.options.max_queue_size == 9
    assert c.options.timer_interval == 0.25
    assert c.options.flush_policy is FlushPolicy.LEGACY


def test_module_level_functions_act_on_the_default_client(sink: Sink) -> None:
    default = analytics_compat.default_client()
    if default.initialized:
        pytest.skip("default client already initialized in this process")
    with pytest.raises(analytics_compat.NotInitializedError):
        analytics_compat.track({"userId": "u", "event": "e"})
    client = analytics_compat.init({"secret": "phc_k", "host": sink.url, "flushAt": 3})
    assert client is default
    flushed: List[Any] = []
    analytics_compat.on("flush", flushed.append)
    analytics_compat.identify({"userId": "u", "traits": {"a": 1}})
    analytics_compat.track({"userId": "u", "event": "e"})
    analytics_compat.alias({"from": "u", "to": "v"})
    analytics_compat.group({"groupId": "g", "userId": "u"})
    done: List[Any] = []
    analytics_compat.flush(done.append)
    assert analytics_compat.shutdown(5)
    assert done == [None] and flushed
    assert {e["event"] for e in sink.delivered()} == {
        "$identify",
        "e",
        "$create_alias",
        "$groupidentify",
    }


def test_promise_result_wait_and_await(make_client: Any, sink: Sink) -> None:
    import asyncio

    client = make_client(flushAt=1)
    promise = client.track({"userId": "u", "event": "e"})
    assert promise.result(5) is None

    async def main() -> None:
        await client.track({"userId": "u", "event": "awaited"})

    asyncio.run(main())
    assert [e["event"] for e in sink.delivered()] == ["e", "awaited"]


def test_once_and_remove_listener(make_client: Any, sink: Sink) -> None:
    client = make_client(flushAt=1)
    once: List[Any] = []
    removed: List[Any] = []

    def never(info: Any) -> None:
        removed.append(info)

    client.once("flush", once.append)
    client.on("flush", never)
    client.remove_listener("flush", never)
    client.track({"userId": "u", "event": "a"}).wait(5)
    client.track({"userId": "u", "event": "b"}).wait(5)
    assert len(once) == 1 and removed == []


def test_once_accepts_an_analytics_node_listener_with_no_arguments(
    make_client: Any, sink: Sink
) -> None:
    client = make_client(flushAt=1)
    fired: List[int] = []
    client.once("flush", lambda: fired.append(1))
    client.track({"userId": "u", "event": "a"}).wait(5)
    client.track({"userId": "u", "event": "b"}).wait(5)
    assert fired == [1]
