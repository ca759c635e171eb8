"""Fork a client whose flag poller is running; the child reports on its own poller.

argv: server URL, project key, personal API key. Prints one JSON line per process.
Only the forking thread survives a fork, so a live poller thread in the child is one
the library started there.
"""

from __future__ import annotations

import json
import os
import sys
import threading

from analytics_compat import Client

POLLER = "analytics-compat-flag-poller"


def pollers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == POLLER and t.is_alive()]


url, token, personal = sys.argv[1:4]
client = Client({"secret": token, "host": url, "send": False}, personal_api_key=personal)
assert client.wait_for_local_evaluation_ready(10)
parent_pollers = pollers()
pid = os.fork()
if pid == 0:
    report = {
        "who": "child",
        "new_poller": len(pollers()) == 1 and pollers()[0] not in parent_pollers,
        "ready": client.wait_for_local_evaluation_ready(10),
        "reload": client.reload_feature_flags(),
        "flag": client.get_feature_flag("everyone", "u", only_evaluate_locally=True),
    }
    print(json.dumps(report), flush=True)
    client.shutdown(2)
    os._exit(0)
os.waitpid(pid, 0)
report = {
    "who": "parent",
    "same_poller": pollers() == parent_pollers and len(parent_pollers) == 1,
    "flag": client.get_feature_flag("everyone", "u", only_evaluate_locally=True),
}
print(json.dumps(report), flush=True)
client.shutdown(2)
