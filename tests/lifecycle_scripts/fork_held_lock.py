"""Fork while another thread holds the promise lock; the child must still work.

argv: sink URL. Prints "child ok" from the child when its message was delivered.
"""

from __future__ import annotations

import os
import sys
import threading

from analytics_compat import Client, _promise

client = Client({"secret": "phc_fork", "host": sys.argv[1], "flushAt": 1})
held, release = threading.Event(), threading.Event()


def hold() -> None:
    with _promise._LOCK:  # as a worker settling a promise at the moment of fork()
        held.set()
        release.wait(30)


holder = threading.Thread(target=hold)
holder.start()
held.wait(10)
pid = os.fork()
if pid == 0:
    ok = client.track({"userId": "child", "event": "from-child"}).wait(10)
    print("child ok" if ok else "child hung", flush=True)
    client.shutdown(5)
    os._exit(0 if ok else 1)
release.set()
holder.join()
_, status = os.waitpid(pid, 0)
client.shutdown(5)
sys.exit(os.waitstatus_to_exitcode(status))
