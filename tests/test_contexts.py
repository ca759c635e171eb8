"""Contexts: tags, distinct id and session on events; isolation; capture once, re-raise.

Events are read at a real HTTP server on 127.0.0.1; concurrency is real threads and
a real asyncio loop, interleaved with barriers and events so each side is inside its
context while the other captures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, List

import pytest

import analytics_compat
from analytics_compat import (
    Client,
    ValidationError,
    get_context_distinct_id,
    get_context_session_id,
    get_tags,
    identify_context,
    new_context,
    scoped,
    set_context_session,
    tag,
)
from tests.sink import Sink
from tests.test_lifecycle import ROOT, script_env


def by_event(events: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {e["event"]: e for e in events}


def test_events_inside_a_context_get_its_tags_session_and_distinct_id(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)
    with client.new_context():
        identify_context("ctx-user")
        set_context_session("sess-1")
        tag("t1", "v1")
        client.tag("plan", "pro")
        client.capture("explicit-user", "captured", {"t1": "override"})
        client.track({"userId": "legacy-user", "event": "tracked"})
        client.capture_exception(ValueError("no id given"))
        client.alias("old-id", "new-id")
        assert get_tags() == {"t1": "v1", "plan": "pro"}
        assert (get_context_distinct_id(), get_context_session_id()) == ("ctx-user", "sess-1")
    client.capture("u", "after")
    events = by_event(sink.wait_for(5))
    captured = events["captured"]
    assert captured["distinct_id"] == "explicit-user"  # an explicit id wins
    assert captured["properties"]["t1"] == "override"  # so do explicit properties
    assert captured["properties"]["plan"] == "pro"
    assert captured["properties"]["$context_tags"] == ["t1", "plan"]
    assert captured["properties"]["$session_id"] == "sess-1"
    assert events["tracked"]["properties"]["t1"] == "v1"
    exception = events["$exception"]
    assert exception["distinct_id"] == "ctx-user"  # the context's id fills a missing one
    assert "$process_person_profile" not in exception["properties"]
    assert exception["properties"]["plan"] == "pro"
    alias = events["$create_alias"]["properties"]
    assert alias["$session_id"] == "sess-1" and "plan" not in alias  # posthog: session only
    after = events["after"]["properties"]
    assert not {"t1", "plan", "$session_id", "$context_tags"} & set(after)


def test_outside_any_context_the_setters_do_nothing() -> None:
    tag("ignored", 1)
    identify_context("nobody")
    set_context_session("none")
    assert get_tags() == {}
    assert get_context_distinct_id() is None and get_context_session_id() is None


def test_nesting_inherits_and_fresh_starts_empty() -> None:
    with new_context():
        tag("outer", 1)
        identify_context("outer-user")
        with new_context():
            tag("inner", 2)
            assert get_tags() == {"outer": 1, "inner": 2}
            assert get_context_distinct_id() == "outer-user"
            identify_context("inner-user")
            assert get_context_distinct_id() == "inner-user"
        with new_context(fresh=True):
            assert get_tags() == {} and get_context_distinct_id() is None
            tag("fresh", 3)
            assert get_tags() == {"fresh": 3}
        assert get_tags() == {"outer": 1}  # the children's changes stayed in them
        assert get_context_distinct_id() == "outer-user"
    assert get_tags() == {}


def test_tags_are_checked_when_set() -> None:
    with new_context():
        with pytest.raises(ValidationError):
            tag("when", object())
        with pytest.raises(ValidationError):
            tag("", 1)
        tag("items", [1, 2])
        assert get_tags() == {"items": [1, 2]}
        # An event gets its own copy: changing it (as before_send may) leaves the tag be.
        sent = Client({"secret": "phc_x", "send": False}).capture("u", "e")
        sent.properties["items"].append(3)  # type: ignore[attr-defined]
        assert get_tags() == {"items": [1, 2]}


def test_two_threads_never_see_each_others_tags_or_ids(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)
    barrier = threading.Barrier(2, timeout=10)
    seen: Dict[str, Any] = {}

    def request(name: str) -> None:
        with client.new_context():
            identify_context(f"user-{name}")
            tag("who", name)
            barrier.wait()  # both inside their contexts now
            client.capture_exception(RuntimeError(name))
            client.capture(f"user-{name}", f"event-{name}")
            barrier.wait()
            seen[name] = (get_tags(), get_context_distinct_id())

    threads = [threading.Thread(target=request, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"a": ({"who": "a"}, "user-a"), "b": ({"who": "b"}, "user-b")}
    events = sink.wait_for(4)
    for event in events:
        name = event["properties"]["who"]
        assert event["distinct_id"] == f"user-{name}"
        if event["event"] == "$exception":
            assert event["properties"]["$exception_list"][0]["value"] == name


def test_two_asyncio_tasks_never_see_each_others_tags_or_ids(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)

    async def request(name: str, mine: asyncio.Event, theirs: asyncio.Event) -> Any:
        with client.new_context():
            identify_context(f"user-{name}")
            tag("who", name)
            mine.set()
            await theirs.wait()  # the other task is inside its context too
            client.capture_exception(RuntimeError(name))
            return get_tags(), get_context_distinct_id()

    async def shared_parent() -> Any:
        # Tasks started inside one context share its values, but a tag one task sets
        # is its own: the parent and the sibling never see it.
        with new_context():
            tag("parent", True)

            async def child(name: str) -> Dict[str, Any]:
                tag("child", name)
                await asyncio.sleep(0)
                return get_tags()

            results = await asyncio.gather(child("x"), child("y"))
            return results, get_tags()

    async def main() -> Any:
        a, b = asyncio.Event(), asyncio.Event()
        pair = await asyncio.gather(request("a", a, b), request("b", b, a))
        return pair, await shared_parent()

    (first, second), (children, parent) = asyncio.run(main())
    assert first == ({"who": "a"}, "user-a") and second == ({"who": "b"}, "user-b")
    assert children == [{"parent": True, "child": "x"}, {"parent": True, "child": "y"}]
    assert parent == {"parent": True}
    for event in sink.wait_for(2):
        name = event["properties"]["$exception_list"][0]["value"]
        assert event["distinct_id"] == f"user-{name}" and event["properties"]["who"] == name


def test_an_escaping_exception_is_captured_once_then_re_raised(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)
    with pytest.raises(KeyError), client.new_context(capture_exceptions=True):
        tag("depth", "outer")
        with client.new_context(capture_exceptions=True):
            tag("depth", "inner")
            identify_context("inner-user")
            raise KeyError("escapes both")
    with pytest.raises(ZeroDivisionError), client.new_context(capture_exceptions=False):
        _ = 1 / 0
    client.flush(timeout=10)
    events = [e for e in sink.delivered() if e["event"] == "$exception"]
    assert len(events) == 1, events
    (event,) = events
    assert event["properties"]["depth"] == "inner"  # captured where it was raised
    assert event["distinct_id"] == "inner-user"
    assert event["properties"]["$exception_list"][0]["type"] == "KeyError"


def test_capture_exceptions_follows_the_clients_autocapture_by_default(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    quiet = make_client(flushAt=1)
    loud = make_client(flushAt=1, enable_exception_autocapture=True)
    for client in (quiet, loud):
        with pytest.raises(ValueError), client.new_context():
            raise ValueError("who captures?")
    (event,) = sink.wait_for(1)
    assert event["event"] == "$exception"
    assert len(sink.delivered()) == 1


def test_scoped_runs_sync_and_async_functions_in_their_own_context(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)

    @scoped()
    def handler(n: int) -> Dict[str, Any]:
        tag("n", n)
        return get_tags()

    @client.scoped(capture_exceptions=True)
    async def failing() -> None:
        tag("async", True)
        await asyncio.sleep(0)
        raise LookupError("from a coroutine")

    assert handler(1) == {"n": 1} and handler(2) == {"n": 2}
    assert get_tags() == {}
    with pytest.raises(LookupError):
        asyncio.run(failing())
    (event,) = sink.wait_for(1)
    assert event["properties"]["async"] is True
    assert handler.__name__ == "handler"


def test_module_level_new_context_captures_with_the_default_client(sink: Sink) -> None:
    client = analytics_compat.default_client()
    assert not client.initialized  # the default client is not set up in this process
    with pytest.raises(ValueError), new_context(capture_exceptions=True):
        raise ValueError("the default client is not initialized: logged, not raised")


def test_contexts_cost_nothing_until_first_used_in_a_process() -> None:
    """The context stage is dormant (out of the pipeline) until a context is entered."""
    code = (
        "import analytics_compat as a\n"
        "c = a.Client({'secret': 'phc_x', 'send': False})\n"
        "print([s.name for s in c._engine._pipeline.plain])\n"
        "a.tag('outside', 1)\n"
        "print([s.name for s in c._engine._pipeline.plain])\n"
        "with a.new_context(): pass\n"
        "print([s.name for s in c._engine._pipeline.plain])\n"
        "d = a.Client({'secret': 'phc_y', 'send': False})\n"
        "print([s.name for s in d._engine._pipeline.plain])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:4] == ["[]", "[]", "['context']", "['context']"]


def test_at_the_dev_server_a_context_id_makes_a_person_and_none_makes_a_personless_event() -> None:
    from analytics_compat.devserver import DevServer

    with DevServer(tokens=("phc_ctx",)) as server:
        client = Client({"secret": "phc_ctx", "host": server.url, "flushAt": 1})
        try:
            with client.new_context():
                identify_context("ctx-person")
                client.capture_exception(ValueError("has a person")).result(10)
            client.capture_exception(ValueError("has nobody")).result(10)
        finally:
            client.shutdown(5)
        stored = {e["properties"]["$exception_list"][0]["value"]: e for e in server.store.events()}
        assert stored["has a person"]["distinct_id"] == "ctx-person"
        assert server.store.person("ctx-person") is not None
        nobody = stored["has nobody"]
        assert nobody["properties"]["$process_person_profile"] is False
        assert server.store.person(nobody["distinct_id"]) is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_outside_the_parents_context() -> None:
    code = (
        "import os, analytics_compat as a\n"
        "with a.new_context():\n"
        "    a.tag('parent', 1)\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        print('child', a.get_tags(), flush=True)\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    print('parent', a.get_tags(), flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["child {}", "parent {'parent': 1}"]
