"""``analytics-compat serve``: run the local PostHog-compatible devserver in the foreground.

Owns the command's options, the start-up banner, request logging to stderr while it
runs (control characters a client put in a path escaped), and stopping cleanly on
Ctrl-C / SIGTERM. The banner and ``--help`` name the accepted project tokens and the
exact ``secret``/``host`` to paste (dev tokens, meant to be copied); it never prints
a personal API key.
It knows nothing about how the server works inside: it uses ``DevServer``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Optional, TextIO

from analytics_compat.devserver import DevServer, default_db_path, is_loopback_host

from ._terminal import printable_lines

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TOKEN",
    "DEFAULT_URL",
    "PERSONAL_API_KEY_ENV",
    "add_parser",
    "banner",
    "run",
]

DEFAULT_PORT = 8010
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_TOKEN = "phc_dev"
PERSONAL_API_KEY_ENV = "ANALYTICS_COMPAT_PERSONAL_API_KEY"

_EPILOG = f"""\
The server accepts only its project token(s): {DEFAULT_TOKEN} unless --token says
otherwise. Any other token is answered 401 (the answer names the accepted ones).
Point a client at it with exactly:

  analytics-compat  Client({{"secret": "{DEFAULT_TOKEN}", "host": "{DEFAULT_URL}"}})
  posthog-python    Posthog("{DEFAULT_TOKEN}", host="{DEFAULT_URL}")
  posthog-js        posthog.init("{DEFAULT_TOKEN}", {{api_host: "{DEFAULT_URL}"}})

then watch with `analytics-compat events --follow` or open {DEFAULT_URL}/.

--flags FILE serves feature flags from a JSON file in PostHog's local-evaluation
format ({{"flags": [...], "group_type_mapping": {{}}, "cohorts": {{}}}}), re-read when it
changes; the repository's examples/flags.json is one. For local evaluation give the
client any non-empty personal_api_key (or the one set with --personal-api-key).
The same key reaches PostHog's app API here: /api/projects/@current/feature_flags/
(flags made there are served at once) and /api/projects/@current/annotations/.
Capture v1 (/i/v1/analytics/events, capture_mode="v1") is answered as PostHog does.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``serve`` and its options."""
    serve: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run the local PostHog-compatible server",
        description="Accept events from PostHog SDKs, store them in SQLite, serve flags "
        "and a live events page at /. Stop with Ctrl-C.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help=f"project token to accept; repeatable (default: {DEFAULT_TOKEN})",
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
    return serve


class _PrintableFormatter(logging.Formatter):
    """Request lines come from the network: a path may carry ESC or BEL."""

    def format(self, record: logging.LogRecord) -> str:
        return printable_lines(super().format(record))


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve until interrupted; returns the exit status."""
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
        log_handler.setFormatter(_PrintableFormatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(log_handler)
        log.setLevel(logging.INFO)
    try:
        return _run_server(args, out, err)
    finally:
        if log_handler is not None:
            log.removeHandler(log_handler)
            log.setLevel(previous_level)


def banner(
    url: str, tokens: list[str], flags: Optional[str], has_personal_key: bool, db: str
) -> str:
    """What ``serve`` prints once listening: where things are and what to paste."""
    token = tokens[0]
    accepted = (
        f"project token   {token}  (the only one accepted)"
        if len(tokens) == 1
        else f"project tokens  {', '.join(tokens)}  (only these are accepted)"
    )
    key = "the --personal-api-key one" if has_personal_key else "any non-empty key"
    return (
        f"analytics-compat devserver listening on {url}\n"
        f"  live events     {url}/\n"
        f"  {accepted}\n"
        "  point a client here:\n"
        f'    analytics-compat  Client({{"secret": "{token}", "host": "{url}"}})\n'
        f'    posthog-python    Posthog("{token}", host="{url}")\n'
        f'    posthog-js        posthog.init("{token}", {{api_host: "{url}"}})\n'
        f"  flags           {flags or 'none (serve --flags FILE)'}\n"
        f"                  local evaluation: personal_api_key={key}\n"
        f"  database        {db}\n"
        f"  print events    analytics-compat events --url {url} --follow\n"
        "Press Ctrl-C to stop.\n"
    )


def _run_server(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    tokens = args.token or [DEFAULT_TOKEN]
    db = args.db or str(default_db_path())
    try:
        server = DevServer(
            host=args.host,
            port=args.port,
            db_path=db,
            tokens=tokens,
            flags_file=args.flags,
            personal_api_key=args.personal_api_key,
            allow_remote=args.allow_remote,
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
        if not is_loopback_host(args.host):
            err.write(
                f"WARNING: listening on {args.host}, reachable from other machines: no TLS, "
                "and the events page and /api/events need no credentials.\n"
            )
        out.write(banner(url, tokens, args.flags, args.personal_api_key is not None, db))
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
