"""A process whose worker thread and main thread raise, with exception autocapture on.

Usage: python autocapture.py HOST MODE

Before the client exists, hooks of "another library" are installed; they print a
marker and hand over to Python's own hooks, so the test can see that they are still
called (once each) and that Python still prints its report. MODE:

- ``plain``: a worker thread raises ValueError, then the main thread RuntimeError;
- ``context``: the same, but the main thread's exception escapes a context with
  ``capture_exceptions=True`` first (it must still be one event);
- ``exit``: a worker thread calls ``sys.exit``, then the main thread exits with 3
  (nothing to capture);
- ``two``: two clients with autocapture; the main thread raises (one event each).

Nothing calls flush() or shutdown(): the interpreter's exit drain delivers.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import analytics_compat


def previous_sys_hook(exc_type: Any, value: Any, tb: Any) -> None:
    print("PREVIOUS-SYS-HOOK", file=sys.stderr, flush=True)
    sys.__excepthook__(exc_type, value, tb)


def previous_thread_hook(args: Any) -> None:
    print("PREVIOUS-THREAD-HOOK", file=sys.stderr, flush=True)
    threading.__excepthook__(args)


def worker_raises() -> None:
    raise ValueError("from the worker thread")


def worker_exits() -> None:
    sys.exit(5)


def main() -> None:
    host, mode = sys.argv[1], sys.argv[2]
    sys.excepthook = previous_sys_hook
    threading.excepthook = previous_thread_hook
    options = {"secret": "phc_autocapture", "host": host, "flushAt": 1}
    client = analytics_compat.Client(options, enable_exception_autocapture=True)
    if mode == "two":
        analytics_compat.Client(
            {**options, "secret": "phc_second"}, enable_exception_autocapture=True
        )
    worker = threading.Thread(target=worker_exits if mode == "exit" else worker_raises)
    worker.start()
    worker.join()
    if mode == "exit":
        sys.exit(3)
    if mode == "context":
        with client.new_context(capture_exceptions=True):
            analytics_compat.tag("where", "main")
            raise RuntimeError("from the main thread")
    raise RuntimeError("from the main thread")


if __name__ == "__main__":
    main()
