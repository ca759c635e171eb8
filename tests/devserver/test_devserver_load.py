"""Under load: 8 clients x 5,000 events at once, stored exactly once, all on the live page.

Real ``analytics_compat.Client`` instances deliver to a real devserver while a real
headless chromium has the live page open; nothing is mocked and nothing is timed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from analytics_compat import Client
from analytics_compat.devserver import DevServer

from .cdp import Browser
from .conftest import TOKEN

CLIENTS = 8
EVENTS_PER_CLIENT = 5_000
TOTAL = CLIENTS * EVENTS_PER_CLIENT
_ROWS = "document.querySelectorAll('tr.event-row')"


def _send(client_id: int, url: str, start: threading.Barrier, report: dict[str, Any]) -> None:
    delivered: list[int] = []
    errors: list[Any] = []
    client = Client({"secret": TOKEN, "host": url, "flushAt": 100, "maxQueueSize": 10_000})
    client.on("flush", lambda info: delivered.append(info.count))
    client.on("error", errors.append)
    try:
        start.wait(30)
        for n in range(EVENTS_PER_CLIENT):
            client.track(
                {
                    "userId": f"user-{client_id}",
                    "event": "load",
                    "properties": {"c": client_id, "n": n},
                }
            )
        flushed = bool(client.flush(timeout=120))  # a FlushResult: true if all delivered
    finally:
        client.shutdown(30)
    report[f"client-{client_id}"] = (flushed, sum(delivered), errors)


@pytest.mark.timeout(240)
def test_eight_clients_at_once_every_event_stored_once_and_shown_live(
    chromium: str, tmp_path: Path
) -> None:
    with (
        DevServer(db_path=tmp_path / "load.sqlite3", tokens=(TOKEN,)) as server,
        Browser(chromium, tmp_path / "profile") as browser,
    ):
        browser.open(server.url + f"/?poll_ms=250&max_rows={TOTAL}")
        browser.wait_for("document.getElementById('status').className === 'live'", timeout=30)

        start = threading.Barrier(CLIENTS)
        report: dict[str, Any] = {}
        threads = [
            threading.Thread(target=_send, args=(c, server.url, start, report), name=f"load-{c}")
            for c in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert not any(thread.is_alive() for thread in threads)
        assert report == {f"client-{c}": (True, EVENTS_PER_CLIENT, []) for c in range(CLIENTS)}

        # stored exactly once: every (client, n) pair, no more, no fewer
        stored = server.store.events(newest_first=True)
        pairs = sorted((e["properties"]["c"], e["properties"]["n"]) for e in stored)
        assert pairs == [(c, n) for c in range(CLIENTS) for n in range(EVENTS_PER_CLIENT)]
        assert len({e["uuid"] for e in stored}) == TOTAL
        log = server.requests_log
        assert [r for r in log if r.status >= 500] == []
        capture = server.capture_requests()
        assert {r.status for r in capture} == {200}
        assert sum(r.inserted or 0 for r in capture) == TOTAL

        # the page shows every one of them, newest first, none twice
        browser.wait_for(f"{_ROWS}.length >= {TOTAL}", timeout=90)
        shown = browser.evaluate(f"Array.from({_ROWS}, r => Number(r.dataset.seq))")
        assert len(shown) == server.store.count() == TOTAL
        assert shown == [e["seq"] for e in stored]
