"""Fork a client whose flag poller is running; the child reports on its own poller.

argv: server URL, project key, personal API key. Prints one JSON line per process.
"""

from __future__ import annotations

import json
import os
import sys

from analytics_compat import Client

url, token, personal = sys.argv[1:4]
client = Client({"secret": token, "host": url, "send": False}, personal_api_key=personal)
assert client.wait_for_local_evaluation_ready(10)
parent_poller = client._poller
pid = os.fork()
if pid == 0:
    poller = client._poller
    report = {
        "who": "child",
        "new_poller": poller is not parent_poller,
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
    "same_poller": client._poller is parent_poller,
    "flag": client.get_feature_flag("everyone", "u", only_evaluate_locally=True),
}
print(json.dumps(report), flush=True)
client.shutdown(2)
