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

from .conftest import TOKEN, PostBatch

_ROW = re.compile(r'<tr class="event-row[^"]*" data-uuid="([^"]+)" data-event="([^"]+)">')


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
