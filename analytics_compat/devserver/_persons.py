"""PostHog's person and group model, applied to SQLite inside the caller's transaction.

Owns the ``persons`` / ``person_distinct_ids`` / ``groups`` tables and the rules that
fill them, following PostHog's ingestion pipeline:

- every event creates a person for its ``distinct_id`` unless
  ``properties.$process_person_profile`` is ``false``;
- ``$set`` (override), ``$set_once`` (only missing keys) and ``$unset`` update it;
- ``$identify`` links ``properties.$anon_distinct_id`` to ``distinct_id`` and marks the
  person identified; ``$create_alias`` links ``properties.alias`` to ``distinct_id``;
  when both ids already have different persons they are merged into the person of
  ``distinct_id`` (its properties win on conflicts), except that a person already
  identified is never merged into another by these two events (``$merge_dangerously``
  has no such restriction);
- ids PostHog treats as illegal for merging (``"anonymous"``, ``"null"``, ``"0"``, ...)
  are never linked;
- ``$groupidentify`` upserts the group ``($group_type, $group_key)`` with ``$group_set``.

It knows nothing about HTTP, locking or how events are stored; the caller owns the
connection and the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Mapping, Optional

from ._ingest import CapturedEvent

__all__ = ["SCHEMA", "apply_event", "read_group", "read_person", "read_person_properties"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    properties TEXT NOT NULL DEFAULT '{}',
    is_identified INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS person_distinct_ids (
    distinct_id TEXT PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons (id)
);
CREATE INDEX IF NOT EXISTS person_distinct_ids_person ON person_distinct_ids (person_id);
CREATE TABLE IF NOT EXISTS groups (
    group_type TEXT NOT NULL,
    group_key TEXT NOT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    PRIMARY KEY (group_type, group_key)
);
"""

_ILLEGAL_IDS_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    }
)
_ILLEGAL_IDS_EXACT = frozenset({"[object Object]", "NaN", "None", "none", "null", "0"})


def _is_illegal(distinct_id: str) -> bool:
    text = distinct_id.strip()
    return not text or text.lower() in _ILLEGAL_IDS_ANY_CASE or text in _ILLEGAL_IDS_EXACT


def _as_id(value: Any) -> Optional[str]:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value else None


def _person_of(conn: sqlite3.Connection, distinct_id: str) -> Optional[int]:
    row = conn.execute(
        "SELECT person_id FROM person_distinct_ids WHERE distinct_id = ?", (distinct_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def _create_person(conn: sqlite3.Connection, created_at: str, *distinct_ids: str) -> int:
    cursor = conn.execute(
        "INSERT INTO persons (properties, created_at) VALUES ('{}', ?)", (created_at,)
    )
    person_id = int(cursor.lastrowid or 0)
    conn.executemany(
        "INSERT INTO person_distinct_ids (distinct_id, person_id) VALUES (?, ?)",
        [(d, person_id) for d in distinct_ids],
    )
    return person_id


def _load(conn: sqlite3.Connection, person_id: int) -> tuple[dict[str, Any], bool, str]:
    row = conn.execute(
        "SELECT properties, is_identified, created_at FROM persons WHERE id = ?", (person_id,)
    ).fetchone()
    return dict(json.loads(row[0])), bool(row[1]), str(row[2])


def _merge(
    conn: sqlite3.Connection,
    target: str,
    source: Any,
    *,
    created_at: str,
    allow_identified_source: bool,
) -> None:
    """Link ``source`` to ``target``'s person, merging two persons when both exist."""
    source_id = _as_id(source)
    if source_id is None or source_id == target or _is_illegal(source_id) or _is_illegal(target):
        return
    into = _person_of(conn, target)
    other = _person_of(conn, source_id)
    if into is None and other is None:
        person = _create_person(conn, created_at, target, source_id)
        conn.execute("UPDATE persons SET is_identified = 1 WHERE id = ?", (person,))
    elif into is None or other is None:
        existing = into if into is not None else other
        missing = target if into is None else source_id
        conn.execute(
            "INSERT INTO person_distinct_ids (distinct_id, person_id) VALUES (?, ?)",
            (missing, existing),
        )
    elif into != other:
        other_props, other_identified, other_created = _load(conn, other)
        if other_identified and not allow_identified_source:
            return
        into_props, _, into_created = _load(conn, into)
        merged = {**other_props, **into_props}
        conn.execute(
            "UPDATE persons SET properties = ?, is_identified = 1, created_at = ? WHERE id = ?",
            (json.dumps(merged), min(into_created, other_created), into),
        )
        conn.execute(
            "UPDATE person_distinct_ids SET person_id = ? WHERE person_id = ?", (into, other)
        )
        conn.execute("DELETE FROM persons WHERE id = ?", (other,))


def _updated(properties: Mapping[str, Any], event_properties: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(properties)
    set_once = event_properties.get("$set_once")
    if isinstance(set_once, Mapping):
        for key, value in set_once.items():
            result.setdefault(key, value)
    set_ = event_properties.get("$set")
    if isinstance(set_, Mapping):
        result.update(set_)
    unset = event_properties.get("$unset")
    if isinstance(unset, Mapping):
        unset = list(unset)
    if isinstance(unset, list):
        for key in unset:
            if isinstance(key, str):
                result.pop(key, None)
    return result


def _apply_group(conn: sqlite3.Connection, event: CapturedEvent) -> None:
    group_type = event.properties.get("$group_type")
    group_key = _as_id(event.properties.get("$group_key"))
    if not isinstance(group_type, str) or not group_type or group_key is None:
        return
    row = conn.execute(
        "SELECT properties FROM groups WHERE group_type = ? AND group_key = ?",
        (group_type, group_key),
    ).fetchone()
    current = {} if row is None else dict(json.loads(row[0]))
    group_set = event.properties.get("$group_set")
    if isinstance(group_set, Mapping):
        current.update(group_set)
    conn.execute(
        "INSERT INTO groups (group_type, group_key, properties, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (group_type, group_key) DO UPDATE SET properties = excluded.properties",
        (group_type, group_key, json.dumps(current), event.timestamp),
    )


def apply_event(conn: sqlite3.Connection, event: CapturedEvent) -> None:
    """Apply one newly stored event's person and group effects."""
    props = event.properties
    if event.event == "$groupidentify":
        _apply_group(conn, event)
    if props.get("$process_person_profile") is False:
        return
    name, target, when = event.event, event.distinct_id, event.timestamp
    if name == "$identify":
        _merge(
            conn,
            target,
            props.get("$anon_distinct_id"),
            created_at=when,
            allow_identified_source=False,
        )
    elif name == "$create_alias":
        _merge(conn, target, props.get("alias"), created_at=when, allow_identified_source=False)
    elif name == "$merge_dangerously":
        _merge(conn, target, props.get("alias"), created_at=when, allow_identified_source=True)
    person = _person_of(conn, target)
    if person is None:
        person = _create_person(conn, when, target)
    current, _, _ = _load(conn, person)
    updated = _updated(current, props)
    if updated != current:
        conn.execute(
            "UPDATE persons SET properties = ? WHERE id = ?", (json.dumps(updated), person)
        )
    if name == "$identify":
        conn.execute("UPDATE persons SET is_identified = 1 WHERE id = ?", (person,))


def read_person(conn: sqlite3.Connection, distinct_id: str) -> Optional[dict[str, Any]]:
    """The merged person behind ``distinct_id``: all its distinct ids and properties."""
    person = _person_of(conn, distinct_id)
    if person is None:
        return None
    properties, identified, created_at = _load(conn, person)
    ids = [
        str(row[0])
        for row in conn.execute(
            "SELECT distinct_id FROM person_distinct_ids WHERE person_id = ? ORDER BY rowid",
            (person,),
        )
    ]
    return {
        "id": person,
        "distinct_ids": ids,
        "properties": properties,
        "is_identified": identified,
        "created_at": created_at,
    }


def read_person_properties(conn: sqlite3.Connection, distinct_id: str) -> dict[str, Any]:
    """The properties of the person behind ``distinct_id``; empty if there is none."""
    person = _person_of(conn, distinct_id)
    return {} if person is None else _load(conn, person)[0]


def read_group(
    conn: sqlite3.Connection, group_type: str, group_key: str
) -> Optional[dict[str, Any]]:
    """The stored group, or None."""
    row = conn.execute(
        "SELECT properties, created_at FROM groups WHERE group_type = ? AND group_key = ?",
        (group_type, group_key),
    ).fetchone()
    if row is None:
        return None
    return {
        "group_type": group_type,
        "group_key": group_key,
        "properties": dict(json.loads(row[0])),
        "created_at": str(row[1]),
    }
