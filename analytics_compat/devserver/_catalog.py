"""The app API's tables: feature flags made or changed over REST, and annotations.

Owns the ``api_feature_flags`` and ``api_annotations`` tables and the functions that
read and write them inside a transaction the caller holds (``EventStore.transaction``):
each row is one record as the app API answers it, kept as JSON beside its id. Flags
live here, in the same database as the events, so a flag made over REST outlives a
restart of a server with a database file; the definitions file stays the base they
are layered over. Nothing is ever deleted: a flag's ``deleted`` is a soft delete,
as in PostHog.

It knows nothing about HTTP, validation or how flags are evaluated.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Mapping, Optional

__all__ = [
    "SCHEMA",
    "add_annotation",
    "list_annotations",
    "read_annotation",
    "read_flags",
    "save_flag",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_feature_flags (
    id INTEGER PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date_marker TEXT,
    record TEXT NOT NULL
);
"""


def read_flags(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every flag record the app API wrote, by id."""
    rows = conn.execute("SELECT record FROM api_feature_flags ORDER BY id").fetchall()
    return [dict(json.loads(row[0])) for row in rows]


def save_flag(conn: sqlite3.Connection, record: Mapping[str, Any]) -> None:
    """Insert or replace the record with ``record["id"]``."""
    conn.execute(
        "INSERT INTO api_feature_flags (id, record) VALUES (?, ?)"
        " ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        (int(record["id"]), json.dumps(record, allow_nan=False)),
    )


def add_annotation(
    conn: sqlite3.Connection, record: dict[str, Any], sort_key: Optional[str]
) -> dict[str, Any]:
    """Store a new annotation (``sort_key``: its date marker in a form that sorts as
    text); returns it with its ``id``."""
    cursor = conn.execute(
        "INSERT INTO api_annotations (date_marker, record) VALUES (?, '{}')", (sort_key,)
    )
    stored = {"id": int(cursor.lastrowid or 0), **record}
    conn.execute(
        "UPDATE api_annotations SET record = ? WHERE id = ?",
        (json.dumps(stored, allow_nan=False), stored["id"]),
    )
    return stored


def list_annotations(
    conn: sqlite3.Connection, *, search: Optional[str], limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many annotations match, and one page of them, newest ``date_marker`` first."""
    rows = conn.execute(
        "SELECT record FROM api_annotations ORDER BY date_marker DESC, id DESC"
    ).fetchall()
    found = [dict(json.loads(row[0])) for row in rows]
    if search:
        needle = search.casefold()
        found = [a for a in found if needle in str(a.get("content") or "").casefold()]
    return len(found), found[offset : offset + limit]


def read_annotation(conn: sqlite3.Connection, annotation_id: int) -> Optional[dict[str, Any]]:
    """One annotation by id, or None."""
    row = conn.execute(
        "SELECT record FROM api_annotations WHERE id = ?", (annotation_id,)
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))
