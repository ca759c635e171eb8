"""``analytics-compat events``: print stored events, once or ``--follow``-ing.

Owns reading events from a running devserver (``--url``, through ``/api/events``) or
straight from its database file (``--db``, read-only), oldest first, and printing
them as text for a person (time, the protocol that delivered the event, ``v0`` or
``v1``, name, distinct id, the notable properties; control characters escaped by
``_terminal``, so an event cannot steer the terminal) or as ``--json`` lines (exact
JSON, ASCII-only, with ``protocol`` and ``path``). It knows nothing about how the
server stores or answers events beyond that JSON shape.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any, Callable, Iterator, Optional, TextIO

import requests

from analytics_compat.devserver import EventStore

from ._terminal import printable
from .serve import DEFAULT_URL

__all__ = ["add_parser", "run"]

_SKIP_ALWAYS = frozenset({"distinct_id"})


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``events`` and its options."""
    events: argparse.ArgumentParser = sub.add_parser(
        "events",
        help="print stored events",
        description="Print events, oldest first, from a running devserver or its database.",
    )
    source = events.add_mutually_exclusive_group()
    source.add_argument("--url", default=DEFAULT_URL, help="devserver URL (default: %(default)s)")
    source.add_argument("--db", metavar="PATH", help="read this database file directly instead")
    events.add_argument("--event", metavar="NAME", help="only events with this name")
    events.add_argument("--distinct-id", metavar="ID", help="only events of this distinct id")
    events.add_argument("--limit", type=int, default=20, help="how many recent events (default 20)")
    events.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    events.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    return events


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _key_properties(event: dict[str, Any]) -> str:
    props: dict[str, Any] = event.get("properties") or {}
    parts: list[str] = []
    name = event.get("event")
    if name == "$create_alias" and "alias" in props:
        parts.append(f"alias={_short(props['alias'])}")
    if name == "$identify" and props.get("$anon_distinct_id"):
        parts.append(f"anon={_short(props['$anon_distinct_id'])}")
    if name == "$groupidentify":
        parts.append(f"group={props.get('$group_type')}:{_short(props.get('$group_key'))}")
        group_set = props.get("$group_set")
        if isinstance(group_set, dict) and group_set:
            parts.append(f"$group_set={_short(group_set, 60)}")
    for key in ("$set", "$set_once"):
        if isinstance(props.get(key), dict) and props[key]:
            parts.append(f"{key}={_short(props[key], 60)}")
    custom = [k for k in props if not k.startswith("$") and k not in _SKIP_ALWAYS]
    if name == "$create_alias":
        custom = [k for k in custom if k != "alias"]
    parts.extend(f"{k}={_short(props[k])}" for k in custom[:6])
    if len(custom) > 6:
        parts.append(f"(+{len(custom) - 6} more)")
    return "  ".join(parts)


def _local_time(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return str(stamp)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _format(event: dict[str, Any]) -> str:
    # escaped before padding, so a hostile name cannot rewrite the screen or the title
    name = printable(str(event.get("event", "")))
    who = printable(str(event.get("distinct_id", "")))
    when = printable(_local_time(event.get("timestamp", "")))
    protocol = printable(str(event.get("protocol") or "?"))
    line = f"{when}  {protocol:<2}  {name:<22}  {who:<20}  {printable(_key_properties(event))}"
    return line.rstrip()


Fetch = Callable[[Optional[int], int, bool], list[dict[str, Any]]]


def _url_fetcher(args: argparse.Namespace, session: requests.Session) -> Fetch:
    base = args.url.rstrip("/")

    def fetch(after: Optional[int], limit: int, oldest_first: bool) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, "order": "asc" if oldest_first else "desc"}
        if after is not None:
            params["after"] = after
        if args.event:
            params["event"] = args.event
        if args.distinct_id:
            params["distinct_id"] = args.distinct_id
        response = session.get(f"{base}/api/events", params=params, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    return fetch


def _db_fetcher(args: argparse.Namespace, store: EventStore) -> Fetch:
    def fetch(after: Optional[int], limit: int, oldest_first: bool) -> list[dict[str, Any]]:
        return store.events(
            args.event,
            args.distinct_id,
            after=after,
            limit=limit,
            newest_first=not oldest_first,
        )

    return fetch


def _stream(fetch: Fetch, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    recent = list(reversed(fetch(None, max(0, args.limit), False)))
    cursor = max((e["seq"] for e in recent), default=None)
    yield from recent
    if not args.follow:
        return
    if cursor is None:
        latest = fetch(None, 1, False)
        cursor = latest[0]["seq"] if latest else 0
    while True:
        batch = fetch(cursor, 500, True)
        yield from batch
        if batch:
            cursor = batch[-1]["seq"]
        if len(batch) < 500:
            time.sleep(args.interval)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the events; returns the exit status."""
    session: Optional[requests.Session] = None
    store: Optional[EventStore] = None
    try:
        if args.db:
            store = EventStore(args.db, readonly=True)
            fetch = _db_fetcher(args, store)
        else:
            session = requests.Session()
            fetch = _url_fetcher(args, session)
        for event in _stream(fetch, args):
            out.write((json.dumps(event) if args.json else _format(event)) + "\n")
            out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
    except FileNotFoundError as error:
        err.write(f"{error}\n")
        return 1
    except requests.ConnectionError:
        err.write(f"cannot reach a devserver at {args.url}: is `analytics-compat serve` running?\n")
        return 1
    except requests.RequestException as error:
        err.write(f"the devserver at {args.url} answered an error: {error}\n")
        return 1
    finally:
        if session is not None:
            session.close()
        if store is not None:
            store.close()
    return 0
