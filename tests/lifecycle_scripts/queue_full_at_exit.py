"""Fill a tiny queue while the server holds the first request, then exit without shutdown.

Usage: python queue_full_at_exit.py HOST COUNT

Logs to stderr with ``logging.basicConfig`` (as an application would); prints
"dropped <n>" (the client's own count) before returning, so the test can check that
the queue-full lines on stderr add up to it: the last ones come from the exit summary.
"""

from __future__ import annotations

import logging
import sys

import analytics_compat


def main() -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    host, count = sys.argv[1], int(sys.argv[2])
    client = analytics_compat.Client(
        {"secret": "phc_exit_test", "host": host, "maxQueueSize": 2, "shutdown_timeout": 0.3}
    )
    first = client.track({"userId": "u", "event": "first"})
    while client.queued:  # the worker took the first message: the server now holds it
        pass
    for i in range(count):
        client.track({"userId": "u", "event": "later", "properties": {"n": i}})
    assert not first.done()
    print(f"dropped {client.stats['dropped_queue_full']}", flush=True)


if __name__ == "__main__":
    main()
