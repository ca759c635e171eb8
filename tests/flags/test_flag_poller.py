"""DefinitionsPoller against a real local HTTP server: headers, ETag, backoff, 402, resilience.

No test sleeps for a fixed time: they call ``load_now()`` synchronously, or wait on
events and request counts with generous timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

import pytest

from analytics_compat.errors import DeliveryError, HTTPStatusError, TransportError
from analytics_compat.flags.model import FlagDefinitions
from analytics_compat.flags.poller import (
    DEFAULT_DEFINITIONS_PATH,
    LEGACY_DEFINITIONS_PATH,
    DefinitionsPoller,
    PollerState,
)

pytestmark = pytest.mark.timeout(60)  # a hung socket fails fast, never stalls the suite

PROJECT_KEY = "phc_project_SECRET_1"
PERSONAL_KEY = "phx_personal_SECRET_2"
PATH = DEFAULT_DEFINITIONS_PATH
BODY = {
    "flags": [
        {"id": 1, "key": "beta", "active": True, "filters": {"groups": [{"properties": []}]}}
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}


class Recorder:
    def __init__(self) -> None:
        self.updates: list[Optional[FlagDefinitions]] = []
        self.errors: list[DeliveryError] = []
        self.updated = threading.Event()

    def on_update(self, defs: Optional[FlagDefinitions]) -> None:
        self.updates.append(defs)
        self.updated.set()

    def on_error(self, error: DeliveryError) -> None:
        self.errors.append(error)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_poller(server: Any, session: Any, recorder: Recorder, **kw: Any) -> DefinitionsPoller:
    kw.setdefault("interval", 1.0)
    return DefinitionsPoller(
        session,
        kw.pop("host", server.url),
        PROJECT_KEY,
        PERSONAL_KEY,
        on_update=recorder.on_update,
        on_error=recorder.on_error,
        timeout=5.0,
        **kw,
    )


def test_get_sends_bearer_key_project_token_and_send_cohorts(flag_server, session, recorder):
    flag_server.script("GET", PATH, flag_server.reply(200, BODY))
    poller = make_poller(flag_server, session, recorder)
    assert poller.load_now() is True
    request = flag_server.requests[0]
    assert request.headers["authorization"] == f"Bearer {PERSONAL_KEY}"
    assert request.query["token"] == [PROJECT_KEY]
    assert "send_cohorts" in request.query
    assert "if-none-match" not in request.headers
    assert poller.ready.is_set()
    defs = poller.definitions
    assert defs is not None and list(defs.by_key) == ["beta"]
    assert recorder.updates == [defs]


def test_default_path_is_flags_definitions_as_posthog_python_7(flag_server, session, recorder):
    assert DEFAULT_DEFINITIONS_PATH == "/flags/definitions"
    flag_server.script("GET", "/flags/definitions", flag_server.reply(200, BODY))
    poller = make_poller(flag_server, session, recorder)
    assert poller.load_now() is True
    assert [r.path for r in flag_server.requests] == ["/flags/definitions"]
    assert poller.path == "/flags/definitions"


def test_a_404_on_the_default_path_falls_back_to_local_evaluation_for_good(
    flag_server, session, recorder
):
    """An older server: the same load asks the legacy path, and later polls go there only."""
    flag_server.script("GET", LEGACY_DEFINITIONS_PATH, flag_server.reply(200, BODY, ETag='"v1"'),
                       flag_server.reply(304))  # fmt: skip
    poller = make_poller(flag_server, session, recorder)  # /flags/definitions answers 404
    assert poller.load_now() is True
    assert poller.definitions is not None and list(poller.definitions.by_key) == ["beta"]
    assert poller.load_now() is True
    assert poller.load_now() is True
    paths = [r.path for r in flag_server.requests]
    assert paths == ["/flags/definitions"] + [LEGACY_DEFINITIONS_PATH] * 3
    assert poller.path == LEGACY_DEFINITIONS_PATH
    legacy = flag_server.requests[1]
    assert legacy.query["token"] == [PROJECT_KEY] and "send_cohorts" in legacy.query
    assert legacy.headers["authorization"] == f"Bearer {PERSONAL_KEY}"
    assert flag_server.requests[3].headers["if-none-match"] == '"v1"'
    assert recorder.errors == []  # the 404 was a discovery, not an error


@pytest.mark.parametrize("path", ["/flags/definitions", LEGACY_DEFINITIONS_PATH, "/custom/defs"])
def test_an_explicit_path_is_used_as_given_without_fallback(flag_server, session, recorder, path):
    poller = make_poller(flag_server, session, recorder, path=path)  # every path answers 404
    assert poller.load_now() is False
    assert [r.path for r in flag_server.requests] == [path]
    error = recorder.errors[-1]
    assert isinstance(error, HTTPStatusError) and error.status_code == 404
    flag_server.script("GET", path, flag_server.reply(200, BODY))
    assert poller.load_now() is True
    assert poller.path == path


def test_etag_is_sent_back_and_304_keeps_the_definitions(flag_server, session, recorder):
    flag_server.script(
        "GET", PATH, flag_server.reply(200, BODY, ETag='"v1"'), flag_server.reply(304)
    )
    poller = make_poller(flag_server, session, recorder)
    assert poller.load_now() is True
    first = poller.definitions
    assert poller.load_now() is True
    assert flag_server.requests[1].headers["if-none-match"] == '"v1"'
    assert poller.definitions is first
    assert recorder.updates == [first]  # a 304 is not an update


@pytest.mark.parametrize("status", [401, 403, 429])
def test_auth_and_rate_limit_errors_double_the_delay_up_to_the_cap(
    flag_server, session, recorder, status
):
    flag_server.script("GET", PATH, flag_server.reply(status), flag_server.reply(status),
                       flag_server.reply(status), flag_server.reply(status),
                       flag_server.reply(200, BODY))  # fmt: skip
    poller = make_poller(flag_server, session, recorder, interval=1.0, max_backoff=5.0)
    delays = []
    for _ in range(4):
        assert poller.load_now() is False
        delays.append(poller.next_delay)
    assert delays == [2.0, 4.0, 5.0, 5.0]
    assert [e.status_code for e in recorder.errors if isinstance(e, HTTPStatusError)] == [
        status
    ] * 4
    assert poller.load_now() is True
    assert poller.next_delay == 1.0  # success resets the backoff


def test_429_retry_after_is_honoured(flag_server, session, recorder):
    flag_server.script("GET", PATH, flag_server.reply(429, Retry_After="30"))
    poller = make_poller(flag_server, session, recorder, interval=1.0, max_backoff=60.0)
    poller.load_now()
    assert poller.next_delay == 30.0


def test_402_quota_limited_clears_the_definitions(flag_server, session, recorder):
    flag_server.script(
        "GET", PATH, flag_server.reply(200, BODY, ETag='"v1"'), flag_server.reply(402)
    )
    poller = make_poller(flag_server, session, recorder)
    poller.load_now()
    assert poller.definitions is not None
    assert poller.load_now() is False
    assert poller.definitions is None
    assert recorder.updates[-1] is None
    error = recorder.errors[-1]
    assert isinstance(error, HTTPStatusError) and error.status_code == 402
    poller.load_now()
    assert "if-none-match" not in flag_server.requests[-1].headers  # ETag dropped too


@pytest.mark.parametrize(
    ("bad", "error_type"),
    [
        ({"status": 200, "body": "{not json"}, TransportError),
        ({"status": 200, "body": "[1, 2]"}, TransportError),
        ({"status": 500, "body": {"detail": "boom"}}, HTTPStatusError),
    ],
    ids=["bad-json", "not-an-object", "500"],
)
def test_bad_responses_are_reported_and_keep_the_last_definitions(
    flag_server, session, recorder, bad, error_type
):
    flag_server.script(
        "GET", PATH, flag_server.reply(200, BODY), flag_server.reply(bad["status"], bad["body"])
    )
    poller = make_poller(flag_server, session, recorder)
    poller.load_now()
    kept = poller.definitions
    assert poller.load_now() is False
    assert poller.definitions is kept
    assert isinstance(recorder.errors[-1], error_type)
    assert poller.next_delay == 1.0  # no backoff for these


def test_network_error_is_reported_without_keys(session, recorder, closed_port_url, caplog):
    caplog.set_level(logging.DEBUG, logger="analytics_compat")
    poller = DefinitionsPoller(
        session, closed_port_url, PROJECT_KEY, PERSONAL_KEY, on_error=recorder.on_error
    )
    assert poller.load_now() is False
    (error,) = recorder.errors
    assert isinstance(error, TransportError)
    for text in (str(error), repr(poller), caplog.text):
        assert "SECRET" not in text


def test_keys_never_appear_in_repr_errors_or_logs(flag_server, session, recorder, caplog):
    caplog.set_level(logging.DEBUG, logger="analytics_compat")
    flag_server.script("GET", PATH, flag_server.reply(401), flag_server.reply(402))
    poller = make_poller(flag_server, session, recorder)
    poller.load_now()
    poller.load_now()
    texts = [repr(poller), caplog.text, *(str(e) for e in recorder.errors)]
    assert not [t for t in texts if "SECRET" in t]


def test_a_failing_callback_does_not_break_polling(flag_server, session):
    flag_server.script("GET", PATH, flag_server.reply(200, BODY))
    calls = []

    def explode(defs: Optional[FlagDefinitions]) -> None:
        calls.append(defs)
        raise RuntimeError("listener bug")

    poller = DefinitionsPoller(session, flag_server.url, PROJECT_KEY, PERSONAL_KEY,
                               on_update=explode)  # fmt: skip
    assert poller.load_now() is True
    assert poller.load_now() is True
    assert len(calls) == 2


def test_thread_survives_errors_and_sets_ready(flag_server, session, recorder):
    """The daemon thread keeps polling through bad JSON, a 500 and a dropped connection."""
    flag_server.script("GET", PATH, flag_server.reply(200, "nope"), flag_server.reply(500),
                       flag_server.DROP, flag_server.reply(200, BODY))  # fmt: skip
    poller = make_poller(flag_server, session, recorder, interval=0.01)
    poller.start()
    try:
        assert poller.ready.wait(10)
        assert recorder.updated.wait(10)
        assert len(recorder.errors) >= 3
        assert poller.state is PollerState.RUNNING
    finally:
        poller.stop(timeout=10)


def test_stop_interrupts_the_wait_between_polls(flag_server, session, recorder):
    """With a one-hour interval, stop() still returns promptly: the sleep is an Event wait."""
    flag_server.script("GET", PATH, flag_server.reply(200, BODY))
    poller = make_poller(flag_server, session, recorder, interval=3600.0)
    poller.start()
    assert poller.ready.wait(10)
    started = time.monotonic()
    poller.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert poller.state is PollerState.STOPPED
    assert poller._thread is not None and not poller._thread.is_alive()
    assert len(flag_server.requests) == 1


def test_start_is_idempotent_and_stopped_poller_does_not_restart(flag_server, session, recorder):
    flag_server.script("GET", PATH, flag_server.reply(200, BODY))
    poller = make_poller(flag_server, session, recorder, interval=3600.0)
    poller.start()
    thread = poller._thread
    poller.start()
    assert poller._thread is thread
    poller.stop(timeout=10)
    poller.start()
    assert poller.state is PollerState.STOPPED


def test_start_without_load_first_waits_one_interval(flag_server, session, recorder):
    flag_server.script("GET", PATH, flag_server.reply(200, BODY))
    poller = make_poller(flag_server, session, recorder, interval=3600.0)
    poller.start(load_first=False)
    poller.stop(timeout=10)
    assert flag_server.requests == []


@pytest.mark.parametrize("option", ["interval", "timeout", "max_backoff"])
def test_bad_intervals_are_configuration_errors(session, option):
    from analytics_compat.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as info:
        DefinitionsPoller(session, "http://x", "a", "b", **{option: 0})
    assert info.value.option == option
