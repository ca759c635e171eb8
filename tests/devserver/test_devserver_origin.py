"""Other web pages in the same browser: capture is open to them, reads are not.

Pins the fix of a defect: ``Access-Control-Allow-Origin: *`` went out on every
response (``/api/events`` included) and ``Host`` was never checked, so any page, or
a DNS-rebinding one, could read every stored event.
"""

from __future__ import annotations

import json

import pytest
import requests

from analytics_compat.devserver import DevServer

from . import rawhttp
from .conftest import PERSONAL_KEY, TOKEN

EVIL = "http://evil.example"
BATCH = {"api_key": TOKEN, "batch": [{"event": "e", "distinct_id": "d"}]}
READS = ["/api/events", "/", "/_health", "/flags/definitions"]


def _get(http: requests.Session, server: DevServer, path: str, **headers: str) -> requests.Response:
    headers.setdefault("Authorization", f"Bearer {PERSONAL_KEY}")
    return http.get(server.url + path, headers=headers, timeout=10)


@pytest.mark.parametrize("path", READS)
def test_read_apis_and_the_page_send_no_cors_headers(
    server: DevServer, http: requests.Session, path: str
) -> None:
    response = _get(http, server, path)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Origin": "http://localhost:3000"},  # the developer's own app: same site, other origin
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"},
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"},
    ],
    ids=["evil-origin", "null-origin", "other-port", "script-tag", "same-site-fetch", "iframe"],
)
def test_a_read_a_browser_makes_for_another_origin_is_refused(
    server: DevServer, http: requests.Session, path: str, headers: dict[str, str]
) -> None:
    http.post(server.url + "/batch/", json=BATCH, timeout=10)
    response = _get(http, server, path, **headers)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "cross_origin"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert '"distinct_id"' not in response.text


def test_the_page_and_its_own_fetches_are_same_origin(
    server: DevServer, http: requests.Session
) -> None:
    host = server.url.removeprefix("http://")
    page_fetch = {"Origin": server.url, "Sec-Fetch-Site": "same-origin", "Host": host}
    assert _get(http, server, "/api/events", **page_fetch).status_code == 200
    # a link from another site opens the page (a top-level navigation cannot read it)
    link = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
    }
    page = _get(http, server, "/", **link)
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_capture_and_flag_evaluation_answer_any_origin(
    server: DevServer, http: requests.Session
) -> None:
    captured = http.post(server.url + "/batch/", json=BATCH, headers={"Origin": EVIL}, timeout=10)
    assert captured.status_code == 200
    assert captured.headers["Access-Control-Allow-Origin"] == "*"
    flags = http.post(
        server.url + "/flags/?v=2",
        json={"api_key": TOKEN, "distinct_id": "d"},
        headers={"Origin": EVIL},
        timeout=10,
    )
    assert flags.status_code == 200
    assert flags.headers["Access-Control-Allow-Origin"] == "*"
    preflight = http.options(
        server.url + "/i/v0/e/",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_a_preflight_for_a_read_api_grants_nothing(
    server: DevServer, http: requests.Session
) -> None:
    response = http.options(
        server.url + "/api/events",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/api/events", "/", "/batch/", "/_health"])
def test_a_dns_rebinding_host_is_refused(server: DevServer, path: str) -> None:
    method, body = ("POST", json.dumps(BATCH).encode()) if path == "/batch/" else ("GET", b"")
    data = rawhttp.request(
        method,
        path,
        server.port,
        host=f"evil.example:{server.port}",
        headers=[("Content-Length", str(len(body)))],
        body=body,
    )
    (response,) = rawhttp.exchange(server.port, data, expect=1).responses
    assert response.status == 403
    assert response.json()["code"] == "host_not_allowed"
    assert server.store.count() == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "127.0.0.2"])
def test_every_loopback_name_is_accepted(server: DevServer, host: str) -> None:
    data = rawhttp.request("GET", "/api/events", server.port, host=f"{host}:{server.port}")
    (response,) = rawhttp.exchange(server.port, data, expect=1).responses
    assert response.status == 200


def test_http_11_without_a_host_is_a_400_and_http_10_is_served(server: DevServer) -> None:
    bare = b"GET /_health HTTP/1.1\r\n\r\n"
    (response,) = rawhttp.exchange(server.port, bare, expect=1).responses
    assert response.status == 400
    old = b"GET /_health HTTP/1.0\r\n\r\n"
    (response,) = rawhttp.exchange(server.port, old, expect=1).responses
    assert response.status == 200


def test_allow_remote_serves_any_host_name_but_keeps_reads_same_origin() -> None:
    with DevServer(tokens=(TOKEN,), allow_remote=True) as server:
        for origin, status in ((None, 200), ("http://devbox.lan:1", 200), (EVIL, 403)):
            headers = [("Origin", origin)] if origin else []
            data = rawhttp.request(
                "GET", "/api/events", server.port, host="devbox.lan:1", headers=headers
            )
            (response,) = rawhttp.exchange(server.port, data, expect=1).responses
            assert response.status == status, origin
