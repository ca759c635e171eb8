"""The live events page, driven by a real headless chromium."""

from __future__ import annotations

import html
import re
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from analytics_compat.devserver import DevServer

from . import v1wire
from .conftest import TOKEN, PostBatch

_ROW = re.compile(r'<tr class="event-row[^"]*" data-uuid="([^"]+)" data-event="([^"]+)"[^>]*>')
_SEQ = re.compile(r'<tr class="event-row[^"]*"[^>]* data-seq="(\d+)"')


def _dump_dom(chromium: str, url: str, profile: Path, budget_ms: int = 4000) -> str:
    """Load ``url`` headless, let the page run ``budget_ms`` of virtual time, return the DOM."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _event(name: str, who: str, **properties: object) -> dict[str, object]:
    return {"event": name, "distinct_id": who, "properties": properties}


@pytest.mark.timeout(60)
def test_page_shows_stored_events_newest_first_and_picks_up_a_new_one_by_polling(
    server: DevServer, post_batch: PostBatch, chromium: str, tmp_path: Path
) -> None:
    post_batch([_event("first_event", "user-a", n=1), _event("second_event", "user-b", n=2)])
    polls: list[str] = []
    posted = threading.Event()

    def post_after_the_page_loaded(method: str, path: str) -> None:
        # Runs on the server before it answers. On the page's second poll of
        # /api/events, an SDK-like client sends a new event; the poll must show it.
        if path != "/api/events":
            return
        polls.append(path)
        if len(polls) == 2 and not posted.is_set():
            with requests.Session() as http:
                body = {
                    "api_key": TOKEN,
                    "batch": [_event("late_event", "user-<script>", note="<b>not html</b>")],
                }
                assert http.post(server.url + "/batch/", json=body, timeout=10).ok
            posted.set()

    server.add_request_hook(post_after_the_page_loaded)
    dom = _dump_dom(chromium, server.url + "/?poll_ms=200", tmp_path / "profile")

    assert posted.is_set(), "the page never polled a second time"
    rows = _ROW.findall(dom)
    assert [event for _, event in rows] == ["late_event", "second_event", "first_event"]
    assert {uuid for uuid, _ in rows} == {e["uuid"] for e in server.store.events()}
    # event data is shown as text, never interpreted as markup
    assert html.escape("user-<script>", quote=False) in dom
    assert "<b>not html</b>" not in dom
    assert 'class="live"' in dom


@pytest.mark.timeout(60)
def test_page_filters_by_event_name_and_distinct_id_from_the_url(
    server: DevServer, post_batch: PostBatch, chromium: str, tmp_path: Path
) -> None:
    post_batch(
        [
            _event("signup", "alice"),
            _event("signup", "bob"),
            _event("purchase", "alice"),
        ]
    )
    dom = _dump_dom(
        chromium, server.url + "/?event=signup&distinct_id=alice&poll_ms=500", tmp_path / "p"
    )
    rows = _ROW.findall(dom)
    assert [event for _, event in rows] == ["signup"]
    (alice_signup,) = server.store.events(event="signup", distinct_id="alice")
    assert rows[0][0] == alice_signup["uuid"]


@pytest.mark.timeout(60)
def test_a_burst_larger_than_a_poll_is_shown_whole_and_in_order(
    server: DevServer, post_batch: PostBatch, chromium: str, tmp_path: Path
) -> None:
    # The page used to poll newest-first with limit=200 and jump its cursor to the
    # newest: of a 300-event burst between two polls it never showed 100.
    post_batch([_event("before", "u")])
    polls: list[str] = []

    def burst_after_the_page_loaded(method: str, path: str) -> None:
        if path != "/api/events":
            return
        polls.append(path)
        if len(polls) == 2:
            with requests.Session() as http:
                batch = [_event("burst", f"u{i}", i=i) for i in range(1500)]
                body = {"api_key": TOKEN, "batch": batch}
                assert http.post(server.url + "/batch/", json=body, timeout=30).ok

    server.add_request_hook(burst_after_the_page_loaded)
    dom = _dump_dom(chromium, server.url + "/?poll_ms=200", tmp_path / "profile", 6000)

    assert len(polls) >= 4, "the page stopped polling"
    stored = server.store.events(newest_first=True)
    assert len(stored) == 1501
    shown = [uuid for uuid, _ in _ROW.findall(dom)]
    missing = len({e["uuid"] for e in stored} - set(shown))
    assert missing == 0, f"{missing} stored events never appeared"
    assert shown == [e["uuid"] for e in stored], "every event, newest first, none twice"
    assert [int(seq) for seq in _SEQ.findall(dom)] == [e["seq"] for e in stored]


def test_the_first_load_draws_the_newest_events_on_the_server_escaped(
    server: DevServer, post_batch: PostBatch, http: requests.Session
) -> None:
    empty = http.get(server.url + "/", timeout=10).text
    assert '<div id="empty">No events yet' in empty
    assert "<code>" + TOKEN + "</code>" in empty, "the empty page names the token to use"
    hostile = "<img src=x onerror=alert(1)>%%CURSOR%%"
    post_batch(
        [
            _event("signed_up", "alice", plan="pro"),
            _event(hostile, 'bob"><script>alert(2)</script>', note="<b>bold</b>"),
        ]
    )
    page = http.get(server.url + "/", timeout=10).text
    assert '<div id="empty" style="display:none">' in page
    rows = _ROW.findall(page)
    stored = server.store.events(newest_first=True)
    assert [uuid for uuid, _ in rows] == [e["uuid"] for e in stored]
    assert rows[0][1] == html.escape(hostile)
    assert f'data-cursor="{stored[0]["seq"]}"' in page
    for raw in ("<img src=x", "<script>alert(2)", "<b>bold</b>"):
        assert raw not in page
    assert html.escape('bob"><script>alert(2)</script>') in page
    assert "plan=</span>pro" in page
    filtered = http.get(server.url + "/?event=signed_up", timeout=10).text
    assert [event for _, event in _ROW.findall(filtered)] == ["signed_up"]


_PROTOCOL = re.compile(
    r'data-uuid="([^"]+)"[^>]*>.*?<td class="proto" title="([^"]*)">([^<]*)</td>', re.DOTALL
)


@pytest.mark.timeout(60)
def test_each_row_says_which_protocol_delivered_its_event_drawn_or_polled(
    server: DevServer, post_batch: PostBatch, chromium: str, tmp_path: Path
) -> None:
    post_batch([_event("by_v0", "user-a")])
    late = v1wire.event(event="by_v1")
    polls: list[str] = []

    def send_v1_after_the_page_loaded(method: str, path: str) -> None:
        if path == "/api/events":
            polls.append(path)
            if len(polls) == 2:
                assert v1wire.post(server.port, v1wire.envelope([late])).status == 200

    first_load = requests.get(server.url + "/", timeout=10).text
    (drawn,) = _PROTOCOL.findall(first_load)
    assert drawn[1:] == ("/batch/", "v0"), "the server draws the column too"
    server.add_request_hook(send_v1_after_the_page_loaded)
    dom = _dump_dom(chromium, server.url + "/?poll_ms=200", tmp_path / "profile")
    rows = {uuid: (path, protocol) for uuid, path, protocol in _PROTOCOL.findall(dom)}
    (v0_event,) = server.store.events(event="by_v0")
    assert rows == {
        late["uuid"]: ("/i/v1/analytics/events", "v1"),
        v0_event["uuid"]: ("/batch/", "v0"),
    }
    assert ">protocol</th>" in dom
