"""Choosing the capture protocol and its compression: options, aliases, environment.

``capture_mode`` and ``capture_compression`` take posthog-python's spellings; when
an option is not given, ``POSTHOG_CAPTURE_MODE`` / ``POSTHOG_CAPTURE_COMPRESSION``
are read once at init. A bad option is a ``ConfigurationError`` naming it; a bad
environment value is a warning and the default, as in posthog-python.
"""

from __future__ import annotations

import gzip
import json
import logging
from typing import Any, Callable, Iterator

import pytest

import analytics_compat
from analytics_compat import CaptureMode, ConfigurationError
from tests.sink import Sink
from tests.v1server import V1Server

MODE_ENV = "POSTHOG_CAPTURE_MODE"
COMPRESSION_ENV = "POSTHOG_CAPTURE_COMPRESSION"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.delenv(COMPRESSION_ENV, raising=False)
    yield


def options(**given: Any) -> Any:
    """The delivery config a client builds from ``given`` (test mode: nothing is sent)."""
    client = analytics_compat.Client({"secret": "phc_options_key", "send": False, **given})
    try:
        return client.options.delivery
    finally:
        client.shutdown(1.0)


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("v0", CaptureMode.V0),
        ("legacy", CaptureMode.V0),
        ("v1", CaptureMode.V1),
        (" V1 ", CaptureMode.V1),
        ("ANALYTICS_V1", CaptureMode.V1),
        ("analytics_v1", CaptureMode.V1),
        (CaptureMode.V1, CaptureMode.V1),
        (None, CaptureMode.V0),
    ],
)
def test_capture_mode_spellings(value: Any, mode: CaptureMode) -> None:
    assert options(capture_mode=value).capture_mode is mode


def test_capture_mode_defaults_to_v0() -> None:
    assert options().capture_mode is CaptureMode.V0


@pytest.mark.parametrize("spelling", ["capture_mode", "captureMode"])
@pytest.mark.parametrize("value", ["v2", "", "batch", 1, True])
def test_a_bad_capture_mode_names_the_option(spelling: str, value: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        options(**{spelling: value})
    assert caught.value.option == spelling
    assert spelling in str(caught.value)


@pytest.mark.parametrize(
    ("value", "compression"),
    [("gzip", "gzip"), ("Deflate", "deflate"), ("none", "none"), (" identity ", "none")],
)
def test_capture_compression_spellings(value: str, compression: str) -> None:
    assert options(capture_compression=value).capture_compression == compression


@pytest.mark.parametrize("value", ["zstd", "br", "lz4", 1, False])
def test_a_bad_capture_compression_names_the_option(value: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        options(captureCompression=value)
    assert caught.value.option == "captureCompression"


@pytest.mark.parametrize(
    ("given", "encoding"),
    [
        ({"capture_mode": "v1"}, "gzip"),
        ({"capture_mode": "v1", "gzip": False}, None),
        ({"capture_mode": "v1", "gzip": False, "capture_compression": "deflate"}, "deflate"),
        ({"capture_mode": "v1", "capture_compression": "none"}, None),
        ({"capture_mode": "v0", "capture_compression": "deflate"}, "gzip"),  # v0: gzip only
        ({"capture_mode": "v0", "gzip": False, "capture_compression": "gzip"}, None),
    ],
)
def test_which_compression_each_protocol_uses(given: Any, encoding: Any) -> None:
    assert options(**given).compression == encoding


# -- the environment ----------------------------------------------------------------------
@pytest.mark.parametrize(("value", "mode"), [("v1", CaptureMode.V1), (" Legacy", CaptureMode.V0)])
def test_the_mode_comes_from_the_environment_when_the_option_is_not_given(
    monkeypatch: pytest.MonkeyPatch, value: str, mode: CaptureMode
) -> None:
    monkeypatch.setenv(MODE_ENV, value)
    assert options().capture_mode is mode


def test_the_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "v1")
    monkeypatch.setenv(COMPRESSION_ENV, "deflate")
    got = options(capture_mode="v0", capture_compression="none")
    assert got.capture_mode is CaptureMode.V0 and got.capture_compression == "none"


@pytest.mark.parametrize("value", ["v2", "true", "zstd"])
def test_a_bad_environment_mode_warns_and_keeps_v0(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv(MODE_ENV, value)
    assert options().capture_mode is CaptureMode.V0
    warned = [
        r for r in caplog.records if r.levelno == logging.WARNING and MODE_ENV in r.getMessage()
    ]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]


def test_an_empty_environment_mode_is_the_default_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(MODE_ENV, "  ")
    assert options().capture_mode is CaptureMode.V0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(("value", "encoding"), [("deflate", "deflate"), ("identity", None)])
def test_the_compression_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, encoding: Any
) -> None:
    monkeypatch.setenv(COMPRESSION_ENV, value)
    assert options(capture_mode="v1").compression == encoding


@pytest.mark.parametrize("gzip_option", [True, False])
def test_a_bad_environment_compression_warns_and_follows_gzip(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, gzip_option: bool
) -> None:
    monkeypatch.setenv(COMPRESSION_ENV, "zstd")  # posthog-python's, not ours
    got = options(capture_mode="v1", gzip=gzip_option)
    assert got.compression == ("gzip" if gzip_option else None)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and COMPRESSION_ENV in warned[0].getMessage()


def test_the_environment_is_read_at_init_only(
    monkeypatch: pytest.MonkeyPatch, v1: V1Server, sink: Sink
) -> None:
    """Set before init: v1 on the wire. Changed after init: the client keeps v1."""
    monkeypatch.setenv(MODE_ENV, "analytics_v1")
    monkeypatch.setenv(COMPRESSION_ENV, "deflate")
    client = analytics_compat.Client(
        {"secret": "phc_test_secret_key", "host": v1.url, "flushAt": 1, "retry_backoff": 0.01}
    )
    try:
        monkeypatch.setenv(MODE_ENV, "v0")
        assert client.track({"userId": "u", "event": "e"}).result(10) is None
    finally:
        client.shutdown(2.0)
    (request,) = v1.requests
    assert request.path == "/i/v1/analytics/events" and request.error is None
    assert request.headers["content-encoding"] == "deflate"


def test_v0_is_unchanged_by_the_compression_option(make_client: Callable[..., Any], sink: Sink):
    client = make_client(flushAt=1, capture_compression="deflate")
    assert client.track({"userId": "u", "event": "e"}).result(10) is None
    request = sink.requests[0]
    assert request.path == "/batch/" and request.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(request.raw))["api_key"] == "phc_test_secret_key"
