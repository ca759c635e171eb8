"""Message framing on keep-alive connections: no request is smuggled inside another.

Each test sends raw bytes (a client library would normalise these requests) and
pins a defect found in the devserver: a body on a GET read as the next request, the
first of two Content-Lengths winning, ``+106`` accepted as a length.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from analytics_compat.devserver import DevServer

from . import rawhttp
from .conftest import TOKEN

EVENT = {"event": "e", "distinct_id": "d", "properties": {"n": 1}}
BATCH = json.dumps({"api_key": TOKEN, "batch": [EVENT]}).encode()


def _assert_nothing_stored(server: DevServer) -> None:
    assert server.store.count() == 0
    assert server.store.batches() == []


def _assert_still_serving(server: DevServer) -> None:
    with requests.Session() as http:
        ok = http.post(server.url + "/batch/", data=BATCH, timeout=10)
    assert ok.status_code == 200
    assert server.store.count() == 1


# -- framing on keep-alive connections: nothing is smuggled ---------------------------


def _smuggled_post(port: int) -> bytes:
    return rawhttp.request(
        "POST",
        "/batch/",
        port,
        headers=[("Content-Type", "application/json"), ("Content-Length", str(len(BATCH)))],
        body=BATCH,
    )


def _assert_refused_and_closed(exchange: rawhttp.Exchange, status: int = 400) -> None:
    assert [r.status for r in exchange.responses] == [status], exchange.responses
    assert exchange.responses[0].header("Connection") == "close"
    assert exchange.closed
    assert set(exchange.responses[0].json()) == {"type", "code", "detail"}


def test_a_body_on_a_get_is_refused_not_read_as_the_next_request(server: DevServer) -> None:
    inner = _smuggled_post(server.port)
    outer = rawhttp.request(
        "GET", "/_health", server.port, headers=[("Content-Length", str(len(inner)))]
    )
    exchange = rawhttp.exchange(server.port, outer + inner)
    _assert_refused_and_closed(exchange)
    assert exchange.responses[0].json()["code"] == "unexpected_body"
    _assert_nothing_stored(server)
    _assert_still_serving(server)


def test_a_chunked_body_on_a_get_is_refused_not_read_as_the_next_request(
    server: DevServer,
) -> None:
    inner = _smuggled_post(server.port)
    chunked = f"{len(inner):x}\r\n".encode() + inner + b"\r\n0\r\n\r\n"
    outer = rawhttp.request(
        "GET", "/api/events", server.port, headers=[("Transfer-Encoding", "chunked")]
    )
    exchange = rawhttp.exchange(server.port, outer + chunked)
    _assert_refused_and_closed(exchange, 411)
    _assert_nothing_stored(server)


def test_two_different_content_lengths_are_refused(server: DevServer) -> None:
    inner = _smuggled_post(server.port)
    body = BATCH + inner
    # read with the first length, the rest would be a second, smuggled request
    data = rawhttp.request(
        "POST",
        "/batch/",
        server.port,
        headers=[("Content-Length", str(len(BATCH))), ("Content-Length", str(len(body)))],
        body=body,
    )
    exchange = rawhttp.exchange(server.port, data)
    _assert_refused_and_closed(exchange)
    assert exchange.responses[0].json()["code"] == "invalid_content_length"
    _assert_nothing_stored(server)


@pytest.mark.parametrize(
    "spelling", ["+{n}", "{n}_", "{n}, {m}", " {n}.0", "0x{n:x}"], ids=str.strip
)
def test_a_content_length_that_is_not_plain_digits_is_refused(
    server: DevServer, spelling: str
) -> None:
    n = len(BATCH)
    value = spelling.format(n=n, m=n + 1)
    if value.endswith("_"):
        value = f"{str(n)[:-1]}_{str(n)[-1]}"  # int() reads "10_6" as 106
    data = rawhttp.request(
        "POST", "/batch/", server.port, headers=[("Content-Length", value)], body=BATCH
    )
    exchange = rawhttp.exchange(server.port, data)
    _assert_refused_and_closed(exchange)
    _assert_nothing_stored(server)


def test_the_same_content_length_twice_is_one_length(server: DevServer) -> None:
    n = str(len(BATCH))
    data = rawhttp.request(
        "POST", "/batch/", server.port, headers=[("Content-Length", n)] * 2, body=BATCH
    )
    exchange = rawhttp.exchange(server.port, data, expect=1)
    assert [r.status for r in exchange.responses] == [200]
    assert server.store.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Encoding", "gzip"), ("Content-Encoding", "identity")],
        [("Content-Encoding", "identity"), ("Content-Encoding", "gzip")],
        [("Content-Type", "application/json"), ("Content-Type", "text/plain")],
        [("Host", "localhost:1")],  # a second, different Host
    ],
    ids=["gzip-then-identity", "identity-then-gzip", "two-content-types", "two-hosts"],
)
def test_conflicting_copies_of_a_header_are_refused(
    server: DevServer, headers: list[tuple[str, str]]
) -> None:
    data = rawhttp.request(
        "POST",
        "/batch/",
        server.port,
        headers=[*headers, ("Content-Length", str(len(BATCH)))],
        body=BATCH,
    )
    exchange = rawhttp.exchange(server.port, data)
    _assert_refused_and_closed(exchange)
    assert exchange.responses[0].json()["code"] == "conflicting_headers"
    _assert_nothing_stored(server)


def test_a_malformed_header_line_cannot_hide_a_content_length(server: DevServer) -> None:
    inner = _smuggled_post(server.port)
    # "Content-Length : n" is not a header line: the parser used to drop it and every
    # header after it, so the body looked absent and was read as the next request
    outer = (
        f"GET /_health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Length : {len(inner)}\r\n\r\n"
    ).encode()
    exchange = rawhttp.exchange(server.port, outer + inner)
    _assert_refused_and_closed(exchange)
    assert exchange.responses[0].json()["code"] == "malformed_headers"
    _assert_nothing_stored(server)


def test_keep_alive_still_works_for_well_framed_requests(server: DevServer) -> None:
    port = server.port
    data = (
        rawhttp.request("GET", "/_health", port, headers=[("Content-Length", "0")])
        + _smuggled_post(port)
        + rawhttp.request("GET", "/api/events", port)
    )
    exchange = rawhttp.exchange(server.port, data, expect=3)
    assert [r.status for r in exchange.responses] == [200, 200, 200]
    assert not exchange.closed
    events: list[dict[str, Any]] = exchange.responses[2].json()
    assert [e["event"] for e in events] == ["e"]
