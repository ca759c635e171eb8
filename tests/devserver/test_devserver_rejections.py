"""Requests the devserver refuses: each gets its documented status and changes nothing."""

from __future__ import annotations

import gzip
import itertools
import json
import socket
import time
import tracemalloc
from typing import Any, Optional

import pytest
import requests

from analytics_compat.devserver import MAX_BODY_BYTES, MAX_DECODED_BYTES, DevServer
from analytics_compat.devserver._decoding import inflate
from analytics_compat.devserver._errors import RequestError

from .conftest import TOKEN

GOOD_EVENT = {"event": "e", "distinct_id": "d", "properties": {"$set": {"a": 1}}}


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _bomb(decoded_size: int) -> bytes:
    """A valid gzip stream of ``decoded_size`` zero bytes (a few hundred KiB at most)."""
    return gzip.compress(b"\0" * decoded_size, compresslevel=9)


_BOMB = _bomb(MAX_DECODED_BYTES + 64 * 1024 * 1024)
_TRUNCATED = gzip.compress(_json({"api_key": TOKEN, "batch": [GOOD_EVENT]}))[:-12]

# (case id, method, path, headers, body, documented status)
CASES: list[tuple[str, str, str, dict[str, str], Optional[bytes], int]] = [
    ("wrong-token", "POST", "/batch/", {}, _json({"api_key": "phc_x", "batch": [GOOD_EVENT]}), 401),
    ("no-token", "POST", "/batch/", {}, _json({"batch": [GOOD_EVENT]}), 401),
    ("empty-token", "POST", "/e/", {}, _json({**GOOD_EVENT, "token": ""}), 401),
    ("bad-json", "POST", "/batch/", {}, b'{"api_key": "phc_test", "batch": [', 400),
    ("nan-is-not-json", "POST", "/batch/", {}, b'{"api_key":"phc_test","batch":[{"x":NaN}]}', 400),
    ("not-utf8", "POST", "/batch/", {}, b'{"api_key": "\xff"}', 400),
    ("empty-body", "POST", "/batch/", {}, b"", 400),
    ("bad-gzip", "POST", "/batch/", {"Content-Encoding": "gzip"}, b"\x1f\x8bnot gzip at all", 400),
    ("truncated-gzip", "POST", "/batch/", {"Content-Encoding": "gzip"}, _TRUNCATED, 400),
    ("gzip-bomb", "POST", "/batch/", {"Content-Encoding": "gzip"}, _BOMB, 413),
    ("gzip-js-bomb", "POST", "/i/v0/e/?compression=gzip-js", {}, _BOMB, 413),
    ("oversize-body", "POST", "/batch/", {}, b" " * (MAX_BODY_BYTES + 1), 413),
    ("unknown-encoding", "POST", "/batch/", {"Content-Encoding": "br"}, b"{}", 415),
    ("empty-batch", "POST", "/batch/", {}, _json({"api_key": TOKEN, "batch": []}), 400),
    ("batch-not-list", "POST", "/batch/", {}, _json({"api_key": TOKEN, "batch": {}}), 400),
    (
        "one-bad-event-fails-the-batch",
        "POST",
        "/batch/",
        {},
        _json({"api_key": TOKEN, "batch": [GOOD_EVENT, {"distinct_id": "d"}]}),
        400,
    ),
    (
        "no-distinct-id",
        "POST",
        "/capture/",
        {},
        _json({"api_key": TOKEN, "event": "e", "properties": {}}),
        400,
    ),
    (
        "bad-uuid",
        "POST",
        "/batch/",
        {},
        _json({"api_key": TOKEN, "batch": [{**GOOD_EVENT, "uuid": "not-a-uuid"}]}),
        400,
    ),
    (
        "mixed-tokens",
        "POST",
        "/e/",
        {},
        _json([{**GOOD_EVENT, "token": TOKEN}, {**GOOD_EVENT, "token": "phc_other"}]),
        400,
    ),
    ("get-on-capture", "GET", "/batch/", {}, None, 405),
    ("put-on-capture", "PUT", "/capture/", {}, _json({"api_key": TOKEN, **GOOD_EVENT}), 405),
    ("post-on-events-api", "POST", "/api/events", {}, b"{}", 405),
    ("unknown-path", "POST", "/track/nowhere", {}, _json({"api_key": TOKEN, **GOOD_EVENT}), 404),
    ("unknown-get", "GET", "/admin", {}, None, 404),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_refused_request_gets_its_status_and_leaves_the_store_unchanged(
    server: DevServer,
    http: requests.Session,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Optional[bytes],
    status: int,
) -> None:
    response = http.request(method, server.url + path, data=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    if status != 405 and status != 404:
        assert response.headers["Content-Type"] == "application/json"
        assert set(response.json()) == {"type", "code", "detail"}
    if status == 401:
        # the accepted dev token is named to help; what the client sent never is
        assert f"accepts {TOKEN}" in response.json()["detail"]
        assert "phc_x" not in response.text
    else:
        assert TOKEN not in response.text
    assert server.store.count() == 0
    assert server.store.batches() == []
    assert server.store.person("d") is None
    assert [(r.method, r.status) for r in server.requests_log] == [(method, status)]
    # the connection is still usable afterwards (or was cleanly closed and reopened)
    ok = http.post(
        server.url + "/batch/", json={"api_key": TOKEN, "batch": [GOOD_EVENT]}, timeout=10
    )
    assert ok.status_code == 200
    assert server.store.count() == 1


def test_wrong_method_names_the_allowed_ones(server: DevServer, http: requests.Session) -> None:
    response = http.get(server.url + "/batch/", timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, OPTIONS"


def test_a_huge_declared_length_is_answered_413_without_reading_the_body(
    server: DevServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /batch/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10737418240\r\n\r\n{"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert server.store.count() == 0


def test_inflate_refuses_a_bomb_without_inflating_it() -> None:
    bomb = _bomb(200 * 1024 * 1024)
    cap = 1024 * 1024
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(RequestError) as raised:
            inflate(bomb, cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.status == 413
    assert peak < 8 * cap, f"peak {peak} bytes: the bomb was inflated"
    assert time.perf_counter() - started < 5.0


def test_inflate_accepts_concatenated_members_up_to_the_cap() -> None:
    data = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    assert inflate(data, 8) == b'{"a": 1}'
    with pytest.raises(RequestError) as raised:
        inflate(data, 7)
    assert raised.value.status == 413


def test_inflate_gives_up_when_its_time_budget_is_spent_by_the_injected_clock() -> None:
    # stored (level 0) so the input spans several 64 KiB slices, one clock tick each
    data = gzip.compress(bytes(range(256)) * 2048, compresslevel=0)
    ticks = itertools.count()
    with pytest.raises(RequestError) as raised:
        inflate(data, max_seconds=3, clock=lambda: float(next(ticks)))
    assert raised.value.status == 413
    assert "took over 3 s" in raised.value.detail
    assert inflate(data) == bytes(range(256)) * 2048


def test_inflate_counts_members_and_accepts_nul_padding_after_the_last() -> None:
    member = gzip.compress(b"{}")
    assert inflate(member * 3 + b"\0" * 100, max_members=3) == b"{}" * 3
    with pytest.raises(RequestError) as raised:
        inflate(member * 4, max_members=3)
    assert (raised.value.status, raised.value.code) == (400, "too_many_gzip_members")
    with pytest.raises(RequestError) as raised:
        inflate(member + b"\0\0garbage")
    assert raised.value.code == "invalid_gzip"
