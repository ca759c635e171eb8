"""Track COUNT events against a server that never answers, then return from main without
flush() or shutdown(): the interpreter-exit drain must settle every one of them.

Usage: python exit_hung.py HOST COUNT SHUTDOWN_TIMEOUT

Every promise reports its outcome on stdout, one flushed line each, from the listener
side: ``flush <n>`` or ``error <n> <ErrorClassName>``. Just before main returns the
script prints ``returning <time.time()>``, so the parent can time the exit itself,
without the interpreter's start-up.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import analytics_compat

_LOCK = threading.Lock()


def report(line: str) -> None:
    with _LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main() -> None:
    host, count, shutdown_timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    client = analytics_compat.Client(
        {"secret": "phc_exit_hung_probe", "host": host, "shutdown_timeout": shutdown_timeout}
    )
    for i in range(count):
        promise = client.track(
            {"userId": "exit-user", "event": "exit hung", "properties": {"n": i}}
        )

        def on_flush(i: int = i) -> None:
            report(f"flush {i}")

        def on_error(error: Any, i: int = i) -> None:
            report(f"error {i} {type(error).__name__}")

        promise.on("flush", on_flush)
        promise.on("error", on_error)
    report(f"returning {time.time():.6f}")
    # No flush(), no shutdown(): return and let the interpreter exit.


if __name__ == "__main__":
    main()
