"""A parent and a forked child sharing one client created before the fork.

Usage: python fork_lifecycle.py HOST CHILD_EXIT
CHILD_EXIT: "shutdown_os_exit" (client.shutdown() then os._exit(0)),
            "sys_exit" (sys.exit(0): the atexit drain runs in the child),
            "return" (the child falls off the end of the script: normal exit).

Every event carries properties {"who": "pre"|"child"|"post", "n": i} so the test
can tell who sent what (uuids are assigned on the worker, so a resent event
would not repeat its uuid). The parent prints one JSON line with what it saw,
then exits without shutdown (the atexit drain sends what is left).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings

import analytics_compat

PRE_SENT = 5  # delivered before the fork
PRE_QUEUED = 50  # still queued in the parent at the fork
CHILD = 30
POST = 20


def track(client: analytics_compat.Client, who: str, n: int) -> analytics_compat.MessagePromise:
    return client.track(
        {"userId": f"fork-{who}", "event": "fork test", "properties": {"who": who, "n": n}}
    )


def child(client: analytics_compat.Client, mode: str) -> None:
    promises = [track(client, "child", i) for i in range(CHILD)]
    if mode == "shutdown_os_exit":
        ok = client.shutdown(30)
        settled = all(p.state is analytics_compat.PromiseState.FLUSHED for p in promises)
        os._exit(0 if ok and settled else 3)
    if mode == "sys_exit":
        sys.exit(0)
    # mode == "return": fall through; the caller returns and the script ends.


def main() -> None:
    host, mode = sys.argv[1], sys.argv[2]
    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
    client = analytics_compat.Client(
        {
            "secret": "phc_fork_test",
            "host": host,
            # Nothing leaves until a flush: the pre-fork events sit in the parent's queue.
            "flush_policy": "posthog",
            "flushAt": 10_000,
            "flushAfter": 3_600_000,
            "shutdown_timeout": 30,
        }
    )
    sent = [track(client, "pre", i) for i in range(PRE_SENT)]
    if not client.flush(timeout=30) or not all(p.done() for p in sent):
        print(json.dumps({"error": "pre-fork flush did not complete"}), flush=True)
        os._exit(4)
    for i in range(PRE_SENT, PRE_SENT + PRE_QUEUED):
        track(client, "pre", i)
    pid = os.fork()
    if pid == 0:
        child(client, mode)
        return
    post = [track(client, "post", i) for i in range(POST)]
    deadline = time.monotonic() + 40
    status = None
    while time.monotonic() < deadline:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
        time.sleep(0.02)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    print(json.dumps({"child_exit": status, "post_pending": sum(not p.done() for p in post)}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
