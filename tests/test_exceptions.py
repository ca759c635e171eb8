"""Error tracking: ``capture_exception`` sends ``$exception`` as posthog-python 7.x does.

Events are read where they arrive: at a real HTTP server on 127.0.0.1 (``Sink``).
The shape of ``$exception_list`` is compared with what the installed posthog-python
produces for the very same exception, so "as posthog-python sends it" is checked
against posthog-python itself, not against a copy of its output.
"""

from __future__ import annotations

import builtins
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import requests

import analytics_compat
from analytics_compat import Client, EventDroppedError, PromiseState
from analytics_compat._exceptions import MAX_FRAMES, InAppRule, exception_list
from tests.sink import Sink

ROOT = str(Path(__file__).resolve().parent.parent)
HERE = str(Path(__file__).resolve())


def _frames(entry: Dict[str, Any]) -> List[Dict[str, Any]]:
    return list(entry.get("stacktrace", {}).get("frames", []))


def _exceptions(sink: Sink, count: int = 1) -> List[Dict[str, Any]]:
    events = [e for e in sink.wait_for(count) if e["event"] == "$exception"]
    assert len(events) == count, events
    return events


def level_three() -> None:
    raise ValueError("three frames deep")


def level_two() -> None:
    level_three()


def level_one() -> None:
    level_two()


def _line_of(function: Callable[..., Any], text: str) -> int:
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(lines) if text in line)


# -- shape and frames ---------------------------------------------------------------------
def test_an_exception_three_frames_deep_arrives_with_those_frames_and_in_app(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT)
    try:
        level_one()
    except ValueError as exc:
        promise = client.capture_exception(exc, distinct_id="u1", properties={"plan": "pro"})
    promise.result(10)
    (event,) = _exceptions(sink)
    assert event["distinct_id"] == "u1"
    props = event["properties"]
    assert props["plan"] == "pro" and props["$exception_level"] == "error"
    (entry,) = props["$exception_list"]
    assert entry["type"] == "ValueError" and entry["value"] == "three frames deep"
    assert entry["module"] is None
    assert entry["mechanism"] == {
        "exception_id": 0,
        "type": "generic",
        "handled": True,
        "synthetic": False,
    }
    assert entry["stacktrace"]["type"] == "raw"
    frames = _frames(entry)
    assert [f["function"] for f in frames] == [
        "test_an_exception_three_frames_deep_arrives_with_those_frames_and_in_app",
        "level_one",
        "level_two",
        "level_three",
    ]
    for frame in frames:
        assert frame["in_app"] is True
        assert frame["platform"] == "python"
        assert frame["abs_path"] == HERE
        assert frame["filename"] == "tests/test_exceptions.py"
        assert frame["module"] == "tests.test_exceptions"
        assert len(frame["pre_context"]) == 5 and len(frame["post_context"]) == 5
    assert frames[-1]["lineno"] == _line_of(level_three, "raise ValueError")
    assert frames[-1]["context_line"] == '    raise ValueError("three frames deep")'
    assert frames[2]["context_line"] == "    level_three()"


def test_library_and_stdlib_frames_are_not_in_app(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT)
    try:
        requests.models.PreparedRequest().prepare_url("example.com/no-scheme", None)
    except requests.exceptions.MissingSchema as exc:
        client.capture_exception(exc).result(10)
    try:
        json.loads("{")
    except ValueError as exc:
        client.capture_exception(exc).result(10)
    site, stdlib = (e["properties"]["$exception_list"][0] for e in _exceptions(sink, 2))
    assert _frames(site)[0]["in_app"] is True  # this test
    assert {f["in_app"] for f in _frames(site)[1:]} == {False}
    assert all("site-packages" in f["abs_path"] for f in _frames(site)[1:])
    assert site["module"] == "requests.exceptions" and site["type"] == "MissingSchema"
    assert _frames(stdlib)[0]["in_app"] is True
    assert {f["in_app"] for f in _frames(stdlib)[1:]} == {False}
    assert _frames(stdlib)[-1]["module"] == "json.decoder"


def test_in_app_modules_and_project_root_decide_in_app() -> None:
    try:
        level_one()
    except ValueError:
        exc_info = sys.exc_info()
    elsewhere = exception_list(exc_info, InAppRule(project_root="/nonexistent"))  # type: ignore[arg-type]
    assert all("in_app" not in f for f in _frames(elsewhere[0]))  # undecided: left out
    # A root that is only a string prefix of the path is not the project (wt vs wt-errors).
    partial = exception_list(exc_info, InAppRule(project_root=ROOT[:-1]))  # type: ignore[arg-type]
    assert all("in_app" not in f for f in _frames(partial[0]))
    by_module = exception_list(
        exc_info,  # type: ignore[arg-type]
        InAppRule(project_root="/nonexistent", modules=("tests",)),
    )
    assert {f["in_app"] for f in _frames(by_module[0])} == {True}


def test_the_list_is_what_posthog_python_builds_for_the_same_exception() -> None:
    from posthog import exception_utils as ph

    def inner() -> None:
        raise KeyError("k")

    def wrapped() -> None:
        try:
            inner()
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc

    try:
        try:
            wrapped()
        except RuntimeError:
            raise OSError(2, "no such file")  # noqa: B904 - the implicit context is the point
    except OSError:
        exc_info = sys.exc_info()
    theirs = ph.exceptions_from_error_tuple(exc_info)
    ph.handle_in_app({"exception": {"values": theirs}}, project_root=ROOT)
    ours = exception_list(exc_info, InAppRule(project_root=ROOT))  # type: ignore[arg-type]
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    assert [e["type"] for e in ours] == ["FileNotFoundError", "RuntimeError", "KeyError"]
    assert ours[0]["mechanism"]["meta"] == {"errno": {"number": 2}}
    assert ours[1]["mechanism"] == {
        "exception_id": 1,
        "source": "context",
        "parent_id": 0,
        "type": "chained",
        "synthetic": False,
    }
    assert ours[2]["mechanism"]["source"] == "cause" and ours[2]["mechanism"]["parent_id"] == 1
    assert "handled" not in ours[1]["mechanism"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_exception_group_members_follow_their_group_as_posthog_python_orders_them() -> None:
    from posthog import exception_utils as ph

    group = getattr(builtins, "ExceptionGroup")  # noqa: B009 - absent before 3.11
    try:
        raise group("several", [ValueError("a"), TypeError("b")])
    except Exception:
        exc_info = sys.exc_info()
    theirs = ph.exceptions_from_error_tuple(exc_info)
    ours = exception_list(exc_info, InAppRule())  # type: ignore[arg-type]
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    assert [e["type"] for e in ours] == ["ExceptionGroup", "ValueError", "TypeError"]
    assert ours[0]["mechanism"]["is_exception_group"] is True
    assert [e["mechanism"].get("source") for e in ours[1:]] == ["member", "member"]


def test_chained_causes_arrive_in_posthog_pythons_order(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT)
    try:
        try:
            level_one()
        except ValueError as exc:
            raise RuntimeError("while handling") from exc
    except RuntimeError as exc:
        client.capture_exception(exc, distinct_id="u").result(10)
    (event,) = _exceptions(sink)
    outer, cause = event["properties"]["$exception_list"]
    assert (outer["type"], cause["type"]) == ("RuntimeError", "ValueError")
    assert cause["mechanism"]["type"] == "chained" and cause["mechanism"]["source"] == "cause"
    assert [f["function"] for f in _frames(cause)][-3:] == ["level_one", "level_two", "level_three"]


# -- what is not sent -------------------------------------------------------------------
def test_no_local_variable_values_are_sent_by_default(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT, gzip=False)
    # Built at run time: the source lines around the raise are sent as context.
    password = "-".join(("hunter2", "correct", "horse"))
    counter = 41_000_000 + 417
    try:
        raise ValueError("boom")
    except ValueError as exc:
        client.capture_exception(exc, distinct_id="u").result(10)
    raw = sink.requests[-1].raw.decode()
    assert password not in raw and str(counter) not in raw
    (event,) = _exceptions(sink)
    assert not any(
        "code_variables" in f for f in _frames(event["properties"]["$exception_list"][0])
    )


def test_opt_in_code_variables_are_masked_and_truncated(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT, capture_exception_code_variables=True)
    password = "-".join(("hunter2", "correct", "horse"))
    dsn_url = "postgresql://admin:" + "pa55" + "word@db.internal/app"
    plain = "x" * 3000
    settings = {"api_key": "phc_abcdefghijklmnop", "region": "eu"}
    connection = "postgresql://admin:" + "s3cr3t" + "@db.internal/app"
    header = "Bearer " + "abcdefghij0123456789"
    count = 7
    try:
        raise ValueError("boom")
    except ValueError as exc:
        client.capture_exception(exc, distinct_id="u").result(10)
    (event,) = _exceptions(sink)
    variables = _frames(event["properties"]["$exception_list"][0])[-1]["code_variables"]
    redacted = "$$_posthog_redacted_based_on_masking_rules_$$"
    assert variables["password"] == redacted
    assert variables["count"] == 7
    assert variables["dsn_url"] == redacted  # the name matches "dsn"
    assert variables["plain"] == "$$_posthog_value_too_long_$$"
    assert json.loads(variables["settings"]) == {"api_key": redacted, "region": "eu"}
    assert variables["connection"] == f"postgresql://{redacted}@db.internal/app"
    assert variables["header"] == f"Bearer {redacted}"
    assert "__builtins__" not in variables
    sent = json.dumps(event)
    assert "pa55word" not in sent and "hunter2-correct" not in sent
    del password, dsn_url, plain, settings, connection, header, count


def test_a_missing_source_file_gives_frames_without_context(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT)
    code = compile(
        "def gone():\n    raise LookupError('no file')\n", "/nonexistent/gone.py", "exec"
    )
    namespace: Dict[str, Any] = {"__name__": "gone_module"}
    exec(code, namespace)
    try:
        namespace["gone"]()
    except LookupError as exc:
        client.capture_exception(exc).result(10)
    (event,) = _exceptions(sink)
    last = _frames(event["properties"]["$exception_list"][0])[-1]
    assert last["abs_path"] == "/nonexistent/gone.py" and last["lineno"] == 2
    assert (last["pre_context"], last["context_line"], last["post_context"]) == ([], None, [])


def test_a_recursion_error_keeps_both_ends_of_a_bounded_stack() -> None:
    def recurse(n: int) -> int:
        return recurse(n + 1) + 1

    try:
        recurse(0)
    except RecursionError:
        exc_info = sys.exc_info()
    (entry,) = exception_list(exc_info, InAppRule(project_root=ROOT))  # type: ignore[arg-type]
    frames = _frames(entry)
    assert len(frames) == MAX_FRAMES
    assert frames[0]["function"] == "test_a_recursion_error_keeps_both_ends_of_a_bounded_stack"
    assert frames[-1]["function"] == "recurse"


def test_a_never_raised_exception_gets_the_callers_stack_marked_synthetic(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1, project_root=ROOT)
    error = RuntimeError("constructed, not raised")
    client.capture_exception(error, distinct_id="u").result(10)
    assert error.__traceback__ is None  # the caller's exception is left as it was
    (event,) = _exceptions(sink)
    (entry,) = event["properties"]["$exception_list"]
    assert entry["mechanism"]["synthetic"] is True
    frames = _frames(entry)
    assert frames[-1]["function"] == (
        "test_a_never_raised_exception_gets_the_callers_stack_marked_synthetic"
    )
    assert not any(f["module"].startswith("analytics_compat") for f in frames)


def test_capture_exception_with_no_argument_takes_the_exception_being_handled(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)
    try:
        level_one()
    except ValueError:
        client.capture_exception(distinct_id="u").result(10)
    (event,) = _exceptions(sink)
    assert event["properties"]["$exception_list"][0]["value"] == "three frames deep"


# -- never raising into user code -----------------------------------------------------------
class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    def __repr__(self) -> str:
        raise RuntimeError("nor a repr")


def test_capture_exception_never_raises_and_returns_a_failed_promise(
    make_client: Callable[..., Client], sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="analytics_compat")
    client = make_client(flushAt=1)
    nothing = client.capture_exception()  # no exception being handled
    assert isinstance(nothing.error, EventDroppedError) and nothing.error.reason == "no_exception"
    bad_props = client.capture_exception(ValueError("x"), properties="not a mapping")  # type: ignore[arg-type]
    assert isinstance(bad_props.error, EventDroppedError) and bad_props.error.reason == "invalid"
    not_an_exception = client.capture_exception(42)
    assert not_an_exception.state is PromiseState.FAILED
    unprintable = client.capture_exception(Unprintable())
    unprintable.result(10)  # still sent, with a placeholder for its text
    (event,) = _exceptions(sink)
    assert event["properties"]["$exception_list"][0]["value"] == "<broken repr>"
    assert event["properties"]["$exception_list"][0]["type"] == "Unprintable"
    ignored = client.capture_exception(ValueError("still sent"), disable_geoip=True)  # type: ignore[call-arg]
    ignored.result(10)
    assert "capture_exception ignores disable_geoip" in caplog.text
    uninitialized = Client().capture_exception(ValueError("before init"))
    assert uninitialized.state is PromiseState.FAILED
    client.shutdown(5)
    closed = client.capture_exception(ValueError("after shutdown"))
    assert isinstance(closed.error, EventDroppedError) and closed.error.reason == "client_closed"


def test_one_client_captures_one_exception_once(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)
    other = make_client(flushAt=1)
    error = ValueError("once per client")
    first = client.capture_exception(error, distinct_id="u")
    again = client.capture_exception(error, distinct_id="u")
    elsewhere = other.capture_exception(error, distinct_id="u")
    first.result(10)
    elsewhere.result(10)
    assert isinstance(again.error, EventDroppedError) and again.error.reason == "already_captured"
    assert len(_exceptions(sink, 2)) == 2


def test_personless_exception_without_any_distinct_id(
    make_client: Callable[..., Client], sink: Sink
) -> None:
    client = make_client(flushAt=1)
    client.capture_exception(ValueError("nobody")).result(10)
    client.capture_exception(ValueError("empty id"), distinct_id="").result(10)  # as posthog
    first, second = _exceptions(sink, 2)
    for event in (first, second):
        assert len(event["distinct_id"]) == 36
        assert event["properties"]["$process_person_profile"] is False
    assert first["distinct_id"] != second["distinct_id"]


def test_module_level_capture_exception_uses_the_default_client() -> None:
    result = analytics_compat.capture_exception(ValueError("no default client yet"))
    assert result.state is PromiseState.FAILED  # the default client was never initialized


def test_options_are_checked() -> None:
    with pytest.raises(analytics_compat.ConfigurationError) as info:
        Client({"secret": "phc_x", "send": False, "in_app_modules": "app", "project_root": 3})
    assert info.value.option == "project_root"
    with pytest.raises(analytics_compat.ConfigurationError):
        Client({"secret": "phc_x", "send": False, "code_variables_mask_patterns": ["("]})
    client = Client({"secret": "phc_x", "send": False, "in_app_modules": "app"})
    assert client.options is not None
    assert client.options.exceptions.in_app_modules == ("app",)
    assert client.options.exceptions.project_root == os.getcwd()
