"""Errors a person can act on (issue 14, section 3), against real servers.

- analytics-node's rule: the default ``error`` listener logs an error only while nobody
  else listens (a listener, ``err``, ``once``, an ``on_error`` callback); each error is
  logged once, never with the library's name doubled in front of it;
- every delivery error names the URL it was sent to, never a key; a 401 says the same
  thing whichever endpoint answered it, and which key to check; flag errors are called
  flag errors; queue-full drops are summarised at exit; a shutdown that could not drain
  says so in a sentence.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

import analytics_compat
from analytics_compat import Client, HTTPStatusError, ShutdownTimeoutError
from analytics_compat.devserver import DevServer
from tests.faults.servers import HungServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "phc_dev"
PERSONAL = "phx_right_personal_key"
FAST = {"retry_backoff": 0.01, "max_retry_backoff": 0.05, "timeout": 5.0, "max_retries": 0}
PROJECT_HINT = (
    "answered HTTP 401: the project API key (the 'secret' option, phc_...) was not "
    "accepted: check that it is a key of a project on this host"
)
PERSONAL_HINT = (
    "answered HTTP 401: the personal API key (the 'personal_api_key' option, phx_...) was "
    "not accepted: check that it is a key of a project on this host"
)


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,), personal_api_key=PERSONAL) as running:
        yield running


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: List[Client] = []

    def make(**options: Any) -> Client:
        client = Client({**FAST, **options})
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(2.0)


def warnings_from_the_library(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("analytics_compat") and r.levelno >= logging.WARNING
    ]


def rejected_track(client: Client) -> Any:
    promise = client.track({"userId": "u", "event": "refused"})
    assert promise.wait(5)
    assert client.flush(timeout=5).settled
    return promise


# -- the single-logging rule ------------------------------------------------------------
def test_with_no_listener_the_default_one_logs_the_error_once(
    server: DevServer, clients: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    client = clients(secret="phc_wrong_key", host=server.url, flushAt=1)
    promise = rejected_track(client)
    lines = warnings_from_the_library(caplog)
    assert lines == [f"events not delivered: {promise.error}"], lines
    assert f"{server.url}/batch/ {PROJECT_HINT}" in lines[0]
    assert "phc_wrong_key" not in lines[0]


@pytest.mark.parametrize("how", ["on error", "on err", "once error", "on_error option"])
def test_once_the_user_listens_the_library_logs_nothing_more(
    server: DevServer,
    clients: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    heard: List[Any] = []
    if how == "on_error option":
        client = clients(
            secret="phc_wrong_key",
            host=server.url,
            flushAt=1,
            on_error=lambda e, items: heard.append(e),
        )
    else:
        client = clients(secret="phc_wrong_key", host=server.url, flushAt=1)
        method, event = how.split()
        getattr(client, method)(event, heard.append)
    promise = rejected_track(client)
    assert heard == [promise.error], "the user's handler hears the error once"
    assert warnings_from_the_library(caplog) == []


def test_removing_the_users_listener_brings_the_default_log_back(
    server: DevServer, clients: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    client = clients(secret="phc_wrong_key", host=server.url, flushAt=1)
    heard: List[Any] = []
    client.on("err", heard.append)
    rejected_track(client)
    assert warnings_from_the_library(caplog) == []
    client.remove_listener("err", heard.append)
    assert client.listeners("error") and client.listeners("err") == client.listeners("error")
    rejected_track(client)
    assert len(heard) == 1 and len(warnings_from_the_library(caplog)) == 1


def test_promise_err_is_promise_error(server: DevServer, clients: Callable[..., Client]) -> None:
    """analytics-node 0.x's README: ``promise.on('err', fn)``."""
    client = clients(secret="phc_wrong_key", host=server.url, flushAt=1)
    got: List[Any] = []
    promise = client.track({"userId": "u", "event": "e"}).on("err", got.append)
    assert promise.wait(5) and got == [promise.error]


def test_no_log_line_starts_with_the_library_name_the_logger_already_gives(
    server: DevServer, clients: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    """With a format such as ``%(name)s: %(message)s`` the name was printed twice."""
    client = clients(secret="phc_wrong_key", host=server.url, flushAt=1)
    rejected_track(client)
    client.get_feature_flag("beta", "u")
    client.shutdown(1.0)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("analytics_compat")]
    assert messages
    assert not [m for m in messages if re.match(r"analytics[-_]compat\b", m)], messages


# -- wording ------------------------------------------------------------------------------
def test_a_401_names_the_url_and_the_key_to_check_whichever_endpoint_answered(
    server: DevServer, clients: Callable[..., Client]
) -> None:
    capture = clients(secret="phc_wrong_key", host=server.url, flushAt=1)
    capture_error = rejected_track(capture).error
    flags = clients(secret="phc_wrong_key", host=server.url, send=False)
    flag_errors: List[Any] = []
    flags.on("error", flag_errors.append)
    assert flags.get_feature_flag("beta", "u") is None
    polling = clients(
        secret=TOKEN, host=server.url, send=False, personal_api_key="phx_wrong_personal"
    )
    poll_errors: List[Any] = []
    got = threading.Event()
    polling.on("error", lambda e: (poll_errors.append(e), got.set()))
    polling.load_feature_flags()
    assert got.wait(5)

    errors = [capture_error, flag_errors[0], poll_errors[0]]
    keys = [("phc_wrong_key",), ("phc_wrong_key",), (TOKEN, "phx_wrong_personal", PERSONAL)]
    assert all(isinstance(e, HTTPStatusError) and e.status_code == 401 for e in errors)
    assert str(capture_error).startswith(f"{server.url}/batch/ {PROJECT_HINT}")
    assert str(flag_errors[0]).startswith(f"{server.url}/flags/ {PROJECT_HINT}")
    assert str(poll_errors[0]).startswith(f"{server.url}/flags/definitions {PERSONAL_HINT}")
    assert [e.url for e in errors] == [
        f"{server.url}/batch/",
        f"{server.url}/flags/",
        f"{server.url}/flags/definitions",
    ]
    for error, secrets in zip(errors, keys):  # the dev server's own text names phc_dev
        for secret in (*secrets, "token="):
            assert secret[:6] not in str(error), (secret, str(error))


def test_flag_errors_are_logged_as_flag_errors_not_delivery_errors(
    server: DevServer, clients: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    client = clients(secret="phc_wrong_key", host=server.url, send=False)
    assert client.get_feature_flag("beta", "u") is None
    lines = warnings_from_the_library(caplog)
    assert len(lines) == 1 and lines[0].startswith(f"feature flags: {server.url}/flags/ "), lines
    assert "delivery" not in lines[0] and "not delivered" not in lines[0]


def test_no_answer_names_the_url_and_what_happened(clients: Callable[..., Client]) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = clients(secret=TOKEN, host=f"http://127.0.0.1:{port}", flushAt=1)
    promise = client.track({"userId": "u", "event": "e"})
    assert promise.wait(5)
    assert str(promise.error) == (
        f"gave up after 1 attempt: no answer from http://127.0.0.1:{port}/batch/ "
        "(connection refused: is the server running?)"
    )
    assert promise.error.url == f"http://127.0.0.1:{port}/batch/"


def test_a_shutdown_that_cannot_drain_says_what_is_lost_in_a_sentence(
    clients: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    """Was: "shutdown deadline passed with 0 message(s) undelivered and 1 in flight",
    logged beside each error the default listener logged for the same messages."""
    hung = HungServer()
    try:
        client = clients(secret=TOKEN, host=hung.url, flushAt=1, timeout=10.0)
        first = client.track({"userId": "u", "event": "in flight"})
        hung.wait_requests(1)
        queued = [client.track({"userId": "u", "event": f"q{i}"}) for i in range(3)]
        client.shutdown(0.3)
        assert all(isinstance(p.error, ShutdownTimeoutError) for p in [first, *queued])
    finally:
        hung.close()
    url = f"{hung.url}/batch/"
    lost = str(queued[0].error)
    assert queued[1].error is queued[0].error and queued[2].error is queued[0].error
    assert lost.startswith("shutdown waited 0.3 s: 3 messages not sent yet")
    assert lost.endswith("Raise shutdown_timeout, or check that the server answers")
    assert url in lost
    lines = warnings_from_the_library(caplog)
    assert f"events not delivered: {lost}" in lines
    assert len(lines) <= 2, "each loss is said once: the queued ones', the in-flight one's"
    if len(lines) == 2:  # the worker's request was cut off at the deadline, as it should be
        assert lost == (
            f"shutdown waited 0.3 s: 3 messages not sent yet to {url} failed with "
            "ShutdownTimeoutError. Raise shutdown_timeout, or check that the server answers"
        )
        assert lines[0] == (
            "events not delivered: shutdown's deadline passed while the message was being "
            "sent; raise shutdown_timeout if the server is slow (last attempt: no answer "
            f"from {url} (timed out))"
        )


def test_queue_full_drops_are_all_reported_by_exit(tmp_path: Path) -> None:
    """The summary every 10 s left the last drops unsaid when the process ended sooner."""
    hung = HungServer()
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests/lifecycle_scripts/queue_full_at_exit.py"),
             hung.url, "40"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
    finally:
        hung.close()
    assert done.returncode == 0, done.stderr
    dropped = int(done.stdout.split()[-1])
    assert dropped >= 30
    counts = [
        int(n) for n in re.findall(r"queue full: (\d+) messages? (?:was|were) dropped", done.stderr)
    ]
    assert sum(counts) == dropped, done.stderr
    assert f"({dropped} in all)" in done.stderr, "the exit summary gives the total"
    assert "analytics_compat._emitter: queue full" in done.stderr


def test_validation_errors_say_what_was_wrong(clients: Callable[..., Client]) -> None:
    client = clients(secret=TOKEN, host="http://127.0.0.1:9", send=False)
    cases = [
        ({"userId": "u", "event": 7}, "event must be a string, not int"),
        ({"userId": "u", "event": ""}, "event must not be empty"),
        ({"userId": "u"}, "event is required (a non-empty string)"),
        ({"event": "e"}, "track() needs userId or anonymousId"),
        ({"userId": 1.5, "event": "e"}, "userId must be a string or an int, not float"),
        ({"userid": "u", "event": "e"}, "unknown field 'userid'; did you mean 'userId'?"),
        ({"user_idd": "u", "event": "e"}, "did you mean 'user_id'?"),
        ({"userId": "u", "event": "e", "propertys": {}}, "did you mean 'properties'?"),
    ]
    for message, words in cases:
        with pytest.raises(analytics_compat.ValidationError) as raised:
            client.track(message)
        assert words in str(raised.value), (message, str(raised.value))
    with pytest.raises(analytics_compat.ValidationError, match="did you mean 'traits'"):
        client.identify({"userId": "u", "trait": {}})
    with pytest.raises(
        analytics_compat.ValidationError, match="group\\(\\) needs userId or anonymousId"
    ):
        client.group({"groupId": "g"})


def test_option_near_misses_are_suggested() -> None:
    cases = [
        ({"secret": TOKEN, "flushat": 1}, "unknown option 'flushat'; did you mean 'flushAt'?"),
        ({"secret": TOKEN, "flush_att": 1}, "did you mean 'flush_at'?"),
        ({"secret": TOKEN, "maxQueueSise": 1}, "did you mean 'maxQueueSize'?"),
        ({"secret": TOKEN, "wirte_key": 1}, "did you mean 'write_key'?"),
    ]
    for options, words in cases:
        with pytest.raises(analytics_compat.ConfigurationError) as raised:
            Client(options)
        assert words in str(raised.value), (options, str(raised.value))


def test_on_error_quiets_delivery_errors_only_not_flag_errors(
    server: DevServer, clients: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    """``on_error`` is never called for a flag error: the default listener must still
    log it, or the error would go unnoticed."""
    heard: List[Any] = []
    client = clients(
        secret="phc_wrong_key",
        host=server.url,
        flushAt=1,
        on_error=lambda error, items: heard.append(error),
    )
    rejected_track(client)
    assert client.get_feature_flag("beta", "u") is None
    lines = warnings_from_the_library(caplog)
    assert len(heard) == 1 and len(lines) == 1 and lines[0].startswith("feature flags: ")
