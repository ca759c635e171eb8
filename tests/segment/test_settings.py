"""Options and settings of segment-python and later analytics-node versions: each
honoured (mapped in ``_spellings``) or refused with what to use instead."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from analytics_compat import Client, ConfigurationError, _options
from analytics_compat.devserver import DevServer
from tests.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "phc_dev"


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,)) as running:
        yield running


def test_module_settings_start_the_default_client_as_segment_python_does(
    server: DevServer,
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/segment/scripts/module_settings.py"), server.url],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["unset"] == [None, None, None]
    assert seen["not_started"].startswith(
        "the default client is not initialized: set analytics_compat.write_key = 'phc_...'"
    )
    assert seen["refused_max_queue_size"] == "option 'max_queue_size' must be an integer, not str"
    assert "Segment's OAuth has no PostHog equivalent" in seen["refused_oauth_client_id"]
    assert "is Segment's API" in seen["refused_host"]
    assert seen["read_back"] == [True, True, 3]
    assert seen["initialized_before_first_call"] is False, "lazily, at the first call"
    assert seen["initialized"] is True
    assert seen["options"] == [True, 3, 0]
    assert seen["after_start"] == [True, "http://127.0.0.1:9"], "read back as assigned"
    assert seen["warnings"] == [
        "analytics_compat.host was set after the default client started, so it has no "
        "effect on it: set it before the first call, or pass it to Client(...)",
        "analytics_compat.debug was set after the default client started, so it has no "
        "effect on it: set it before the first call, or pass it to Client(...)",
    ]
    assert seen["flushed"] is True and seen["on_error"] == []
    assert [(e["event"], e["distinct_id"]) for e in server.store.events()] == [
        ("first", "u"),
        ("$pageview", "u"),
    ]
    assert "phc_dev" not in done.stderr


def test_segment_pythons_client_options_from_its_docs() -> None:
    """``Client('YOUR_WRITE_KEY', debug=True, on_error=on_error, send=True,
    max_queue_size=100000, upload_interval=5, upload_size=500, gzip=True)``."""

    def on_error(error: Any, items: Any) -> None:
        pass

    client = Client(
        "phc_key", debug=False, on_error=on_error, send=True, max_queue_size=100000,
        upload_interval=5, upload_size=500, gzip=True, timeout=15, max_retries=10, thread=1,
        sync_mode=False,
    )  # fmt: skip
    options = client.options
    assert options is not None
    assert (options.max_queue_size, options.flush_at, options.flush_after) == (100000, 500, 5.0)
    assert options.timer_interval == 5.0
    assert (options.delivery.gzip, options.delivery.timeout, options.delivery.max_retries) == (
        True,
        15,
        10,
    )
    assert options.capture.on_error is on_error and options.send is True
    client.shutdown()


@pytest.mark.parametrize(
    ("options", "check"),
    [
        ({"flushInterval": 2500}, lambda o: (o.flush_after, o.timer_interval) == (2.5, 2.5)),
        ({"flush_interval": 2}, lambda o: (o.flush_after, o.timer_interval) == (2, 2)),
        ({"upload_interval": 0}, lambda o: o.timer_interval == 0.001),
        ({"maxEventsInBatch": 15}, lambda o: o.flush_at == 15),
        ({"retryCount": 5}, lambda o: o.delivery.max_retries == 5),
        ({"httpRequestTimeout": 2000}, lambda o: o.delivery.timeout == 2.0),
        ({"enable": False}, lambda o: o.capture.disabled is True),
        ({"enable": True}, lambda o: o.capture.disabled is False),
        ({"disable": True}, lambda o: o.capture.disabled is True),
        ({"errorHandler": print}, lambda o: o.capture.on_error is print),
        ({"writeKey": "phc_other"}, lambda o: o.secret == "phc_other"),
        ({"proxies": {"https": "http://proxy:3128"}}, lambda o: o.delivery.proxies is not None),
    ],
)
def test_later_analytics_node_and_segment_python_options_are_honoured(
    options: Any, check: Any
) -> None:
    client = Client({"secret": TOKEN, "send": False, **options})
    assert check(client.options), client.options
    client.shutdown()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("path", "/v1/batch", "put the prefix in host"),
        ("oauth_client_id", "x", "capture is authenticated by the project API key"),
        ("axiosConfig", {}, "set timeout, proxies or gzip"),
        ("max_total_backoff_duration", 60, "bounded by max_retries and max_retry_backoff"),
        ("max_rate_limit_duration", 60, "max_retry_after"),
        ("host", "https://api.segment.io", "set host to your PostHog host"),
        ("host", "https://events.eu1.segmentapis.com", "is Segment's API"),
        ("proxies", {"https": 3128}, "a mapping of scheme to proxy URL"),
        ("log_handler", "stderr", "a logging.Handler"),
    ],
)
def test_options_without_a_meaning_here_are_refused_with_what_to_use(
    name: str, value: Any, words: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Client({"secret": TOKEN, name: value})
    assert words in str(raised.value) and raised.value.option == name


def test_the_0x_endpoints_option_is_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_options, "_WARNED", set())
    endpoints = {"identify": "/v1/identify", "track": "/v1/track", "batch": "/v1/import"}
    for _ in range(2):
        Client({"secret": TOKEN, "send": False, "endpoints": endpoints}).shutdown()
    warned = [r.getMessage() for r in caplog.records if "endpoints" in r.getMessage()]
    assert warned == [
        "option 'endpoints' is ignored: analytics-compat posts to PostHog's capture endpoint "
        "under host (analytics-node 0.x's Segment endpoints do not apply)"
    ]


def test_proxies_route_capture_through_the_proxy(sink: Sink) -> None:
    """The sink plays the proxy: a plain-HTTP request to a proxy names the whole URL."""
    client = Client(
        {"secret": TOKEN, "host": "http://capture.invalid", "proxies": {"http": sink.url}}
    )
    assert client.track("u", "through the proxy").wait(10)
    client.shutdown(2)
    (request,) = sink.requests
    assert request.path == "http://capture.invalid:80/batch/"
    assert request.batch[0]["event"] == "through the proxy"


def test_log_handler_gets_the_librarys_records(sink: Sink) -> None:
    got: List[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record.getMessage())

    handler = Keep()
    library = logging.getLogger("analytics_compat")
    try:
        sink.respond(400)
        client = Client({"secret": TOKEN, "host": sink.url, "log_handler": handler, "flushAt": 1})
        client.track("u", "refused").wait(5)
        client.shutdown(2)
        assert library.handlers.count(handler) == 1
        assert [m for m in got if m.startswith("events not delivered:")], got
    finally:
        library.removeHandler(handler)
