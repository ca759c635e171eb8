"""The processor pipeline: order, drops by reason, failing open or closed, dormant stages.

The stages of the shipped features are tested through the public API where they are
used; these tests pin the mechanism every one of them relies on, through a real client
whose engine is handed a pipeline built here (the one seam a stage plugs into).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, List, Optional

import pytest

from analytics_compat import Client, EventDroppedError, PromiseState
from analytics_compat._engine import Engine
from analytics_compat._events import Message
from analytics_compat._pipeline import Hint, Pipeline, Stage, wake


def _client_with(*stages: Stage) -> Client:
    """A send=False client whose pipeline is exactly ``stages``."""
    client = Client({"secret": "phc_pipeline", "send": False})
    engine = client._engine
    assert isinstance(engine, Engine)
    client._engine = Engine(engine.options, client._emitter, Pipeline(stages), client)  # type: ignore[arg-type]
    return client


def _tagging(name: str, seen: List[str]) -> Stage:
    def run(message: Message, hint: Optional[Hint]) -> Optional[Message]:
        seen.append(name)
        message.properties[name] = True
        return message

    return Stage(name, run)


def test_stages_run_in_order_on_the_callers_thread() -> None:
    seen: List[str] = []
    threads: List[int] = []

    def record_thread(message: Message, hint: Optional[Hint]) -> Message:
        threads.append(threading.get_ident())
        return message

    client = _client_with(_tagging("a", seen), _tagging("b", seen), Stage("t", record_thread))
    promise = client.track({"userId": "u", "event": "e"})
    assert seen == ["a", "b"]
    assert threads == [threading.get_ident()]
    assert promise.state is PromiseState.FLUSHED


def test_a_stage_returning_none_drops_the_message_with_its_reason_and_counts_it() -> None:
    client = _client_with(Stage("sampler", lambda message, hint: None))
    promise = client.track({"userId": "u", "event": "e"})
    assert isinstance(promise.error, EventDroppedError)
    assert promise.error.reason == "sampler"
    assert client.stats["dropped_sampler"] == 1


def test_a_raising_stage_fails_open_unless_it_fails_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(message: Message, hint: Optional[Hint]) -> Message:
        raise RuntimeError("bug")

    caplog.set_level(logging.ERROR, logger="analytics_compat")
    open_client = _client_with(Stage("enricher", broken))
    assert open_client.track({"userId": "u", "event": "e"}).state is PromiseState.FLUSHED
    closed_client = _client_with(Stage("scrubber", broken, fails_closed=True))
    dropped = closed_client.track({"userId": "u", "event": "e"})
    assert isinstance(dropped.error, EventDroppedError) and dropped.error.reason == "scrubber"
    assert [r.getMessage() for r in caplog.records].count(
        "internal error in the enricher stage"
    ) == 1
    caplog.clear()  # the stages were broken on purpose: not a library bug


def test_hinted_stages_run_only_for_calls_that_ask() -> None:
    seen: List[Any] = []

    def flags(message: Message, hint: Optional[Hint]) -> Message:
        seen.append(hint)
        return message

    client = _client_with(Stage("feature_flags", flags, needs_hint=True))
    client.track({"userId": "u", "event": "plain"})
    assert seen == []
    client.track({"userId": "u", "event": "asks", "sendFeatureFlags": True})
    assert len(seen) == 1 and isinstance(seen[0], Hint)


def test_a_dormant_stage_costs_nothing_until_woken_then_runs_everywhere() -> None:
    seen: List[str] = []
    stage = Stage("test_dormant_feature", _tagging("late", seen).run, dormant=True)
    first = _client_with(stage)
    assert first._engine._pipeline.plain == ()  # type: ignore[union-attr]
    first.track({"userId": "u", "event": "before"})
    assert seen == []
    wake("test_dormant_feature")
    second = _client_with(stage)  # built after the wake: awake from the start
    first.track({"userId": "u", "event": "after"})
    second.track({"userId": "u", "event": "after"})
    assert seen == ["late", "late"]
