"""Which protocol delivered each event: stored, listed by ``analytics-compat events`` (a
column, and ``protocol`` / ``path`` in ``--json``), and read from a database written
before protocols were recorded."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import requests

from analytics_compat.cli import main
from analytics_compat.devserver import DevServer, EventStore

from . import v1wire
from .conftest import TOKEN


def _send_both(server: DevServer) -> None:
    body = {"api_key": TOKEN, "batch": [{"event": "by_v0", "distinct_id": "d0"}]}
    with requests.Session() as http:
        assert http.post(server.url + "/batch/", json=body, timeout=10).status_code == 200
    sent = v1wire.event(event="by_v1", distinct_id="d1")
    assert v1wire.post(server.port, v1wire.envelope([sent])).status == 200


def test_events_prints_the_protocol_column_and_json_carries_protocol_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite3"
    with DevServer(db_path=db, tokens=(TOKEN,)) as server:
        _send_both(server)
        assert main(["events", "--url", server.url]) == 0
        text = capsys.readouterr().out
        assert main(["events", "--url", server.url, "--json"]) == 0
        as_json = capsys.readouterr().out
    assert main(["events", "--db", str(db)]) == 0
    from_db = capsys.readouterr().out
    for out in (text, from_db):
        lines = out.splitlines()
        assert [line.split("  ")[1:3] for line in lines] == [["v0", "by_v0"], ["v1", "by_v1"]]
    listed = [json.loads(line) for line in as_json.splitlines()]
    assert [(e["protocol"], e["path"]) for e in listed] == [
        ("v0", "/batch/"),
        ("v1", "/i/v1/analytics/events"),
    ]


_OLD_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, event TEXT NOT NULL,
    distinct_id TEXT NOT NULL, properties TEXT NOT NULL, timestamp TEXT NOT NULL,
    sent_at TEXT, received_at TEXT NOT NULL, batch_id INTEGER NOT NULL
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, path TEXT NOT NULL,
    event_count INTEGER NOT NULL, inserted_count INTEGER NOT NULL,
    historical_migration INTEGER NOT NULL
);
INSERT INTO batches VALUES (1, '2025-01-01T00:00:00.000+00:00', '/batch/', 1, 1, 0);
INSERT INTO events VALUES (1, '0190b4b5-6c1e-7a53-8c2e-2e3c9a3c0001', 'old', 'd', '{}',
    '2025-01-01T00:00:00.000+00:00', NULL, '2025-01-01T00:00:00.000+00:00', 1);
"""


def test_a_database_from_before_protocols_were_recorded_reads_as_v0_and_is_upgraded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(_OLD_SCHEMA)
    with EventStore(db, readonly=True) as readonly:  # the CLI's --db: never writes
        assert [(e["event"], e["protocol"], e["path"]) for e in readonly.events()] == [
            ("old", "v0", "/batch/")
        ]
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    assert "protocol" not in columns, "a read-only store changed the file"
    with DevServer(db_path=db, tokens=(TOKEN,)) as server:  # a server adds the column
        _send_both(server)
        assert [(e["event"], e["protocol"]) for e in server.store.events()] == [
            ("old", "v0"),
            ("by_v0", "v0"),
            ("by_v1", "v1"),
        ]
