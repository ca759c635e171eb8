"""The ``analytics-compat`` command line (also ``python -m analytics_compat``).

Owns argument parsing and terminal output for three subcommands:

- ``serve``: run the local PostHog-compatible devserver in the foreground;
- ``events``: print events from a running devserver (``--url``) or its database file
  (``--db``), once or ``--follow``-ing, as text for a person or ``--json`` lines;
- ``demo``: hand the remaining arguments to ``analytics_compat.demo.main``.

It never prints a project token or a personal API key. It knows nothing about how the
server works inside: it uses ``DevServer`` and the ``/api/events`` endpoint.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime
from types import FrameType
from typing import Any, Callable, Iterator, Optional, Sequence, TextIO

import requests

from analytics_compat.devserver import DevServer, EventStore, default_db_path, is_loopback_host

__all__ = ["main"]

DEFAULT_PORT = 8010
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
PERSONAL_API_KEY_ENV = "ANALYTICS_COMPAT_PERSONAL_API_KEY"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics-compat",
        description="Tools around analytics-compat: a local PostHog-compatible devserver.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser(
        "serve",
        help="run the local PostHog-compatible server",
        description="Accept events from PostHog SDKs, store them in SQLite, serve flags "
        "and a live events page at /. Stop with Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0: any free)"
    )
    serve.add_argument(
        "--db", metavar="PATH", help=f"SQLite file (default: {default_db_path()}; ':memory:')"
    )
    serve.add_argument(
        "--token",
        action="append",
        metavar="TOKEN",
        help="project token to accept; repeatable (default: phc_dev)",
    )
    serve.add_argument("--flags", metavar="FILE", help="flag definitions JSON (local-eval format)")
    serve.add_argument(
        "--personal-api-key",
        metavar="KEY",
        default=os.environ.get(PERSONAL_API_KEY_ENV),
        help=f"key required as Bearer for flag definitions (default: ${PERSONAL_API_KEY_ENV}; "
        "unset: any key is accepted)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (no TLS, events readable without a key)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each request")

    events = sub.add_parser(
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

    demo = sub.add_parser("demo", help="run the demo", add_help=False)
    demo.add_argument("args", nargs=argparse.REMAINDER)
    return parser


# -- serve ---------------------------------------------------------------------------


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not is_loopback_host(args.host) and not args.allow_remote:
        err.write(
            f"refusing to bind {args.host}: it is not a loopback address. The devserver has "
            "no TLS and shows every event to anyone who can reach it; pass --allow-remote "
            "if you mean it.\n"
        )
        return 2
    log = logging.getLogger("analytics_compat.devserver")
    log_handler: Optional[logging.Handler] = None
    previous_level = log.level
    if not args.quiet:
        log_handler = logging.StreamHandler(err)
        log_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(log_handler)
        log.setLevel(logging.INFO)
    try:
        return _run_server(args, out, err)
    finally:
        if log_handler is not None:
            log.removeHandler(log_handler)
            log.setLevel(previous_level)


def _run_server(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    tokens = args.token or ["phc_dev"]
    db = args.db or str(default_db_path())
    try:
        server = DevServer(
            host=args.host,
            port=args.port,
            db_path=db,
            tokens=tokens,
            flags_file=args.flags,
            personal_api_key=args.personal_api_key,
            allow_remote=True,
        ).start()
    except (OSError, ValueError) as error:
        err.write(f"cannot start the devserver: {error}\n")
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
        for signum in signums:
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        url = server.url
        n = len(tokens)
        if not is_loopback_host(args.host):
            err.write(
                f"WARNING: listening on {args.host}, reachable from other machines: no TLS, "
                "and the events page and /api/events need no credentials.\n"
            )
        out.write(
            f"analytics-compat devserver listening on {url}\n"
            f"  live events  {url}/\n"
            f"  capture      {url}/batch/  ({n} project token{'s' if n != 1 else ''} accepted)\n"
            f"  flags        {args.flags or 'none (empty definitions)'}; definitions need "
            f"{'the configured' if args.personal_api_key else 'any'} personal API key\n"
            f"  database     {db}\n"
            "Press Ctrl-C to stop.\n"
        )
        out.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler_ in previous.items():
            signal.signal(signum, handler_)
        server.stop()
    out.write("stopped\n")
    out.flush()
    return 0


# -- events --------------------------------------------------------------------------

_SKIP_ALWAYS = frozenset({"distinct_id"})


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
    return (
        f"{_local_time(event.get('timestamp', ''))}  {event.get('event', ''):<22}  "
        f"{event.get('distinct_id', ''):<20}  {_key_properties(event)}".rstrip()
    )


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


def _events(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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


# -- entry point ---------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        # everything after "demo" belongs to the demo, even options argparse would eat
        return _demo(arguments[1:])
    args = _build_parser().parse_args(arguments)
    if args.command == "serve":
        return _serve(args, sys.stdout, sys.stderr)
    if args.command == "events":
        return _events(args, sys.stdout, sys.stderr)
    return _demo(args.args)


def _demo(argv_rest: list[str]) -> int:
    # imported on use: the demo pulls in the whole client, serve/events do not need it
    demo_main: Callable[[list[str]], Any] = importlib.import_module("analytics_compat.demo").main
    return int(demo_main(argv_rest) or 0)
