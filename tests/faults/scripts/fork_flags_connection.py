"""fork(): the child's /flags requests go over a connection of its own.

A client without a poller keeps a kept-alive connection for /flags; the server answers
each request with the distinct id it was asked for, slowly, so parent and child overlap.
Prints one JSON line: the answers each process got, and whether they shared a socket.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Tuple

from analytics_compat import Client

seen: List[Tuple[int, Any]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        asked = body.get("distinct_id")
        seen.append((self.client_address[1], asked))
        time.sleep(0.2)
        out = json.dumps({"featureFlags": {"f": asked}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
client = Client(
    secret="phc_review_defects_key", host=f"http://127.0.0.1:{server.server_address[1]}", send=False
)


def ask(who: str) -> List[Any]:
    return [
        client.get_feature_flag("f", f"{who}-{i}", send_feature_flag_events=False)
        for i in (1, 2, 3)
    ]


client.get_feature_flag("f", "parent-0", send_feature_flag_events=False)  # opens the connection
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    os.write(write, json.dumps(ask("child")).encode())
    os._exit(0)
os.close(write)
parent_answers = ask("parent")
os.waitpid(pid, 0)
child_answers = json.loads(os.read(read, 100_000))
parent_port = next(port for port, who in seen if who == "parent-0")
child_port = next(port for port, who in seen if who == "child-1")
print(
    json.dumps(
        {
            "parent_answers": parent_answers,
            "child_answers": child_answers,
            "shared_connection": child_port == parent_port,
        }
    )
)
