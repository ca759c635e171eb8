"""Exit while a sync_mode send hangs on a non-daemon thread: argv[1] is the hung server.

With shutdown_timeout=0.5 the process must exit within it (plus start-up), the
message failed with ShutdownTimeoutError and its error listener called first.
"""

from __future__ import annotations

import sys
import threading
import time

import analytics_compat

client = analytics_compat.Client(
    secret="phc_review_defects_key",
    host=sys.argv[1],
    sync_mode=True,
    timeout=3,
    max_retries=2,
    shutdown_timeout=0.5,
)
client.on("error", lambda error: print(f"error {type(error).__name__}", flush=True))
threading.Thread(target=lambda: client.track({"userId": "u", "event": "e"}), daemon=False).start()
time.sleep(0.3)  # the send is under way; main returns, the interpreter starts to exit
