"""``python -m analytics_compat demo``: the whole library, end to end, with no account.

Starts the local dev server in-process on a free port, runs an analytics-node
migration example through the legacy facade (anonymous ``track``, ``alias``,
``identify`` with traits, ``track``; listeners on ``flush`` / ``error``;
``flush(callback)``), then prints what the server stored: the events and the merged
person. It imports only public names of the package and the dev server.
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any, List, Optional, Sequence, TextIO

from . import Client
from .devserver import DevServer

TOKEN = "phc_demo_project_key"


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="analytics-compat demo", description="Run the migration example end to end."
    )
    parser.add_argument("--db", help="SQLite file for the server (default: in memory)")
    parser.add_argument("--json", action="store_true", help="print the stored events as JSON")
    args = parser.parse_args(argv)
    write = out.write if out else print_line

    with DevServer(tokens=(TOKEN,), db_path=args.db) as server:
        write(f"dev server listening on {server.url}")
        stored = run_example(server.url, write)
        events = server.store.events()
        person = server.store.person("user_42")
    write("")
    write(f"the server stored {len(events)} events:")
    for event in events:
        if args.json:
            write(json.dumps(event, sort_keys=True))
            continue
        props = {k: v for k, v in event["properties"].items() if not k.startswith("$lib")}
        write(
            f"  {event['timestamp'][:19]}  {event['event']:<16} {event['distinct_id']:<15} "
            f"{json.dumps(props, sort_keys=True)}"
        )
    write("")
    write("the merged person:")
    if person is None:
        write("  (none)")
    else:
        write(f"  distinct ids: {', '.join(sorted(person['distinct_ids']))}")
        write(f"  properties:   {json.dumps(person['properties'], sort_keys=True)}")
    ok = stored and len(events) == 4 and person is not None
    write("")
    write("demo OK" if ok else "demo FAILED: not everything arrived")
    return 0 if ok else 1


def run_example(host: str, write: Any) -> bool:
    """The analytics-node migration example, as a migrating user writes it."""
    analytics = Client({"secret": TOKEN, "host": host, "flushAt": 20, "flushAfter": 10000})
    errors: List[Any] = []
    analytics.on("flush", lambda info: write(f"  client 'flush': {info.count} event(s) delivered"))
    analytics.on("error", errors.append)

    write("tracking as an anonymous visitor, then signing up:")
    analytics.track(
        {"userId": "anonymous_user", "event": "Viewed Pricing", "properties": {"plan": "pro"}}
    ).on("flush", lambda: write("  promise 'flush': Viewed Pricing"))
    analytics.alias({"from": "anonymous_user", "to": "user_42"})
    analytics.identify(
        {
            "userId": "user_42",
            "traits": {"email": "ada@example.com", "name": "Ada Lovelace", "plan": "pro"},
            "context": {"ip": "127.0.0.1"},
        }
    )
    analytics.track(
        {"userId": "user_42", "event": "Signed Up", "properties": {"plan": "pro", "seats": 3}}
    ).on("error", lambda err: write(f"  promise 'error': {err}"))

    done = threading.Event()

    def flushed(err: Any) -> None:
        write(f"  flush(callback): err={err}")
        done.set()

    analytics.flush(flushed)
    done.wait(15)
    analytics.shutdown(5)
    for err in errors:
        write(f"  client 'error': {err}")
    return done.is_set() and not errors


def print_line(text: str) -> None:
    print(text, flush=True)


__all__ = ["main", "run_example"]
