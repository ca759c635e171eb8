"""Child process for test_flag_cache_processes: one DefinitionsPoller, as in a web worker.

Arguments: server URL, cache file path ("-" for none), poll interval, child name. The
child sends its name as ``X-Child`` on each request, prints ``ready <name> <flag keys>``
once definitions are loaded, polls until its stdin closes, then stops and prints
``done <name>``.
"""

from __future__ import annotations

import sys

import requests

from analytics_compat.flags import DefinitionsPoller
from analytics_compat.flags.cache import FileDefinitionsCache


def main() -> int:
    url, path, interval, name = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    cache = None
    if path != "-":
        cache = FileDefinitionsCache(path, lease=20 * interval, max_age=100 * interval)
    with requests.Session() as session:
        session.headers["X-Child"] = name
        poller = DefinitionsPoller(
            session, url, "phc_project", "phx_personal", interval=interval, cache=cache
        )
        poller.start()
        if not poller.ready.wait(30):
            print(f"never-ready {name}", flush=True)
            return 1
        definitions = poller.definitions
        keys = ",".join(definitions.by_key) if definitions is not None else ""
        print(f"ready {name} {keys}", flush=True)
        sys.stdin.read()
        poller.stop(timeout=5)
    print(f"done {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
