"""Track N events and return from main without flush() or shutdown().

Usage: python exit_without_shutdown.py HOST COUNT SHUTDOWN_TIMEOUT [--handshake]

Each event has properties {"n": i}. Prints "queued <count>" once every call
returned; the interpreter-exit drain is what must deliver them.

With --handshake the first event is tracked alone, "probe" is printed, and the
script waits for a line on stdin before tracking the rest: the test sends it once
the server holds the probe's request, so a request is surely in flight at exit.
"""

from __future__ import annotations

import sys

import analytics_compat


def main() -> None:
    host, count, shutdown_timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    handshake = "--handshake" in sys.argv[4:]
    client = analytics_compat.Client(
        {"secret": "phc_exit_test", "host": host, "shutdown_timeout": shutdown_timeout}
    )
    for i in range(count):
        client.track({"userId": "exit-user", "event": "exit test", "properties": {"n": i}})
        if handshake and i == 0:
            print("probe", flush=True)
            sys.stdin.readline()
    print(f"queued {count}", flush=True)
    # No flush(), no shutdown(): just return and let the interpreter exit.


if __name__ == "__main__":
    main()
