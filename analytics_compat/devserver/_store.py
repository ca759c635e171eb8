"""The devserver's SQLite store: events (deduplicated by uuid), batches, persons, groups.

Owns the database file, its schema, the one connection and the lock that serialises
it (SQLite in WAL mode, so ``analytics-compat events --db`` can read the file while a
server writes it). A capture request is written in one transaction: all of its events
or none. An event whose ``uuid`` is already stored is ignored (``INSERT OR IGNORE``),
so a retried batch is stored once; only newly stored events update persons and groups.
Each event records the protocol that first delivered it (``v0`` or ``v1``; a database
written before protocols were recorded reads as ``v0``, the only one there was) and,
through its batch, the path.

It knows nothing about HTTP, tokens or flags; the person rules live in ``_persons``,
and ``transaction`` lends the connection to the tables other modules own (``_catalog``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional, TypeVar, Union

import attrs

from . import _catalog, _persons
from ._ingest import CaptureRequest, utc_now_iso

__all__ = ["MEMORY", "EventStore", "IngestResult", "default_db_path"]

#: Pass as ``path`` for a private in-memory database (gone when the store closes).
MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    properties TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    sent_at TEXT,
    received_at TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    protocol TEXT NOT NULL DEFAULT 'v0'
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (event, seq);
CREATE INDEX IF NOT EXISTS events_by_distinct_id ON events (distinct_id, seq);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    path TEXT NOT NULL,
    event_count INTEGER NOT NULL,
    inserted_count INTEGER NOT NULL,
    historical_migration INTEGER NOT NULL
);
"""

_EVENT_COLUMNS = (
    "e.seq, e.uuid, e.event, e.distinct_id, e.properties, e.timestamp, e.sent_at,"
    " e.received_at, {protocol}, b.path"
)
_FROM = " FROM events e LEFT JOIN batches b ON b.id = e.batch_id"
_T = TypeVar("_T")


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/analytics-compat/devserver.sqlite3`` (``~/.local/share`` default)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "analytics-compat" / "devserver.sqlite3"


@attrs.frozen(kw_only=True)
class IngestResult:
    """What one capture request did to the store."""

    batch_id: int
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        """Events ignored because their uuid was already stored."""
        return self.received - self.inserted


def _event_row(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "seq": row[0],
        "uuid": row[1],
        "event": row[2],
        "distinct_id": row[3],
        "properties": json.loads(row[4]),
        "timestamp": row[5],
        "sent_at": row[6],
        "received_at": row[7],
        "protocol": row[8],
        "path": row[9],
    }


class EventStore:
    """Thread-safe access to one devserver database.

    ``EventStore(path)`` opens (creating) a database; ``EventStore(path, readonly=True)``
    opens an existing one without writing to it. Close it with ``close()`` or ``with``.
    """

    def __init__(self, path: Union[str, os.PathLike[str]] = MEMORY, *, readonly: bool = False):
        self.path = str(path)
        self._lock = threading.RLock()
        if readonly:
            if self.path == MEMORY or not os.path.exists(self.path):
                raise FileNotFoundError(f"no devserver database at {self.path}")
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            self._conn = sqlite3.connect(
                uri, uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            if self.path != MEMORY:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA busy_timeout = 5000")
            if not readonly:
                if self.path != MEMORY:
                    self._conn.execute("PRAGMA journal_mode = WAL")
                    self._conn.execute("PRAGMA synchronous = NORMAL")
                self._conn.executescript(_SCHEMA + _persons.SCHEMA + _catalog.SCHEMA)
            self._protocol = self._migrate(readonly)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self, readonly: bool) -> str:
        """Add ``events.protocol`` to a database made before it; the column to read."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(events)")}
        if "protocol" in columns:
            return "e.protocol"
        if readonly:
            return "'v0'"
        self._conn.execute("ALTER TABLE events ADD COLUMN protocol TEXT NOT NULL DEFAULT 'v0'")
        return "e.protocol"

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------

    def ingest(
        self, request: CaptureRequest, *, path: str = "/batch/", protocol: str = "v0"
    ) -> IngestResult:
        """Store a validated capture request in one transaction; duplicates are ignored."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT INTO batches (received_at, path, event_count, inserted_count,"
                    " historical_migration) VALUES (?, ?, ?, 0, ?)",
                    (utc_now_iso(), path, len(request.events), int(request.historical_migration)),
                )
                batch_id = int(cursor.lastrowid or 0)
                inserted = 0
                for event in request.events:
                    cursor = conn.execute(
                        "INSERT OR IGNORE INTO events (uuid, event, distinct_id, properties,"
                        " timestamp, sent_at, received_at, batch_id, protocol)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            event.uuid,
                            event.event,
                            event.distinct_id,
                            json.dumps(event.properties, allow_nan=False),
                            event.timestamp,
                            event.sent_at,
                            event.received_at,
                            batch_id,
                            protocol,
                        ),
                    )
                    if cursor.rowcount == 1:
                        inserted += 1
                        _persons.apply_event(conn, event)
                conn.execute(
                    "UPDATE batches SET inserted_count = ? WHERE id = ?", (inserted, batch_id)
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return IngestResult(batch_id=batch_id, received=len(request.events), inserted=inserted)

    def transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work(connection)`` in one write transaction, under the store's lock."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return result

    def clear(self) -> None:
        """Delete every event, batch, person and group (for tests and demos)."""
        with self._lock:
            self._conn.executescript(
                "BEGIN; DELETE FROM events; DELETE FROM batches; DELETE FROM person_distinct_ids;"
                " DELETE FROM persons; DELETE FROM groups; COMMIT;"
            )

    # -- reading ---------------------------------------------------------------------

    def events(
        self,
        event: Optional[str] = None,
        distinct_id: Optional[str] = None,
        *,
        after: Optional[int] = None,
        limit: Optional[int] = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Stored events in arrival order (``newest_first`` reverses it).

        Each dict has ``seq`` (arrival order, the ``after`` cursor), ``uuid``, ``event``,
        ``distinct_id``, ``properties``, ``timestamp``, ``sent_at``, ``received_at``,
        ``protocol`` (``v0`` / ``v1``) and ``path`` (the endpoint that delivered it).
        """
        clauses, params = self._filters(event, distinct_id)
        if after is not None:
            clauses.append("e.seq > ?")
            params.append(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        columns = _EVENT_COLUMNS.format(protocol=self._protocol)
        sql = f"SELECT {columns}{_FROM}{where} ORDER BY e.seq {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, limit))
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_event_row(row) for row in rows]

    def count(self, event: Optional[str] = None, distinct_id: Optional[str] = None) -> int:
        """How many events are stored (optionally with that name / distinct id)."""
        clauses, params = self._filters(event, distinct_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            row = self._conn.execute(f"SELECT COUNT(*) FROM events e{where}", params).fetchone()
        return int(row[0])

    def batches(self) -> list[dict[str, Any]]:
        """Every accepted capture request in arrival order, with its event counts."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, received_at, path, event_count, inserted_count, historical_migration"
                " FROM batches ORDER BY id"
            ).fetchall()
        return [
            {
                "id": r[0],
                "received_at": r[1],
                "path": r[2],
                "event_count": r[3],
                "inserted_count": r[4],
                "historical_migration": bool(r[5]),
            }
            for r in rows
        ]

    def person(self, distinct_id: str) -> Optional[dict[str, Any]]:
        """The merged person behind ``distinct_id`` (``distinct_ids``, ``properties``, ...)."""
        with self._lock:
            return _persons.read_person(self._conn, distinct_id)

    def person_properties(self, distinct_id: str) -> dict[str, Any]:
        """The stored properties of the person behind ``distinct_id`` ({} if none)."""
        with self._lock:
            return _persons.read_person_properties(self._conn, distinct_id)

    def group(self, group_type: str, group_key: str) -> Optional[dict[str, Any]]:
        """The stored group (``group_type``, ``group_key``, ``properties``), or None."""
        with self._lock:
            return _persons.read_group(self._conn, group_type, group_key)

    @staticmethod
    def _filters(event: Optional[str], distinct_id: Optional[str]) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if event:
            clauses.append("e.event = ?")
            params.append(event)
        if distinct_id:
            clauses.append("e.distinct_id = ?")
            params.append(distinct_id)
        return clauses, params
