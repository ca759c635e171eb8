"""fork() while another thread is inside register(): the child's register() must not hang.

Prints "hung: N of 5" (children killed by their own alarm because register() hung).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from analytics_compat import Client

client = Client(
    secret="phc_review_defects_key",
    host="http://127.0.0.1:9",
    send=False,
    super_properties={f"k{i}": i for i in range(100_000)},  # each register copies them
)
stop = threading.Event()


def churn() -> None:
    i = 0
    while not stop.is_set():
        client.register({"n": i})
        i += 1


threading.Thread(target=churn, daemon=True).start()
time.sleep(0.2)
hung = 0
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        signal.alarm(3)  # SIGALRM ends a child whose register() hangs
        client.register({"child": True})
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    hung += int(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM)
stop.set()
print(f"hung: {hung} of 5")
