"""One mapping of Segment messages: sent live through the client's Segment calls, or
imported from an export with ``analytics-compat import``, a message is the same event.

The same messages, of every type, go three ways into three real dev servers: live in
analytics-node's shape (``client.page({...})``), live in segment-python's positional
shape (``client.page(user_id, category, name, properties, ...)``), and through a real
subprocess of the import command. The stored events must be equal: name, distinct
id, properties (but the library's own ``$lib`` ones), time and uuid. Then the export
is imported into the server that had them live: nothing new is stored, because the
uuid is the same (an event sent live during a switch-over is not doubled by the
import of its day).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from analytics_compat import Client
from analytics_compat.cli.importer import KEY_ENV
from analytics_compat.devserver import DevServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "phc_import_live_5120"
SDK_KEYS = ("$lib", "$lib_version", "$geoip_disable")
WHEN = "2021-03-24T18:12:01.123Z"
CONTEXT = {
    "ip": "10.1.2.3",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
    "library": {"name": "analytics.js", "version": "next-1.53.0"},
    "page": {
        "path": "/docs/7",
        "referrer": "https://www.example.com/",
        "title": "Docs | Initech",
        "url": "https://initech.example/docs/7?ref=ctx",
    },
}

# Every type, and the cases where a mapping could differ: a page's url in its
# properties and in its context, a page with only the context's, integrations, both
# ids on an identify, a messageId that is a UUID and one that is not.
MESSAGES: List[Dict[str, Any]] = [
    {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a1",
        "traits": {"email": "ada@example.com", "plan": "pro"},
        "messageId": "ajs-next-1616620800000-0001",
    },
    {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"total": 9.5, "currency": "EUR"},
        "integrations": {"Mixpanel": False},
        "messageId": "0F0E0D0C-0B0A-4908-8706-050403020100",
    },
    {
        "type": "track",
        "anonymousId": "a2",
        "event": "Viewed Pricing",
        "properties": {},
        "messageId": "node-5d41402abc4b2a76b9719d911017c592-2",
    },
    {
        "type": "page",
        "userId": "u1",
        "name": "Pricing",
        "category": "Docs",
        "properties": {"title": "Pricing", "url": "https://initech.example/pricing?a=1"},
        "messageId": "ajs-next-1616620800000-0003",
    },
    {
        "type": "page",
        "anonymousId": "a2",
        "name": "Home",
        "properties": {"title": "Home"},
        "messageId": "ajs-next-1616620800000-0004",
    },
    {
        "type": "screen",
        "userId": "u1",
        "name": "Brightness",
        "category": "Settings",
        "properties": {"from": "Home Screen"},
        "messageId": "ios-0005",
    },
    {
        "type": "group",
        "userId": "u1",
        "groupId": "acme",
        "traits": {"name": "Acme", "employees": 42},
        "messageId": "ajs-next-1616620800000-0006",
    },
    {
        "type": "alias",
        "previousId": "a2",
        "userId": "u2",
        "messageId": "ajs-next-1616620800000-0007",
    },
]
for _message in MESSAGES:
    _message.update(timestamp=WHEN, context=CONTEXT)

# segment-python's positional order of each call (after the common tail it shares)
_TAIL = ("context", "timestamp", "anonymousId", "integrations", "messageId")
_POSITIONAL = {
    "identify": ("userId", "traits", *_TAIL),
    "track": ("userId", "event", "properties", *_TAIL),
    "page": ("userId", "category", "name", "properties", *_TAIL),
    "screen": ("userId", "category", "name", "properties", *_TAIL),
    "group": ("userId", "groupId", "traits", *_TAIL),
    "alias": ("previousId", "userId", "context", "timestamp", "integrations", "messageId"),
}


def _node_shape(client: Client, message: Dict[str, Any]) -> Any:
    """analytics-node's call: the message itself, without Segment's ``type``."""
    fields = {k: v for k, v in message.items() if k != "type"}
    return getattr(client, message["type"])(fields)


def _python_shape(client: Client, message: Dict[str, Any]) -> Any:
    """segment-python's call: the fields as positional arguments, in its order."""
    args = [message.get(name) for name in _POSITIONAL[message["type"]]]
    return getattr(client, message["type"])(*args)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[[str], DevServer]]:
    started: List[DevServer] = []

    def start(name: str) -> DevServer:
        server = DevServer(tokens=(TOKEN,), db_path=str(tmp_path / f"{name}.sqlite3"))
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _send_live(server: DevServer, call: Callable[[Client, Dict[str, Any]], Any]) -> None:
    client = Client({"secret": TOKEN, "host": server.url})
    try:
        promises = [call(client, message) for message in MESSAGES]
        result = client.flush(timeout=30)
        assert result, f"not every live message was delivered: {result!r}"
        assert all(p.error is None for p in promises)
    finally:
        client.shutdown(5)


def _import(server: DevServer, export: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", KEY_ENV))}
    command = [sys.executable, "-m", "analytics_compat", "import", str(export)]
    done = subprocess.run(
        [*command, "--host", server.url, "--key", TOKEN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def _stored(server: DevServer) -> Dict[str, Tuple[Any, ...]]:
    """Each stored event by uuid: (name, distinct id, properties, time)."""
    found = {}
    for event in server.store.events():
        props = {k: v for k, v in event["properties"].items() if k not in SDK_KEYS}
        when = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        found[event["uuid"]] = (event["event"], event["distinct_id"], props, when)
    return found


def test_a_message_sent_live_and_imported_is_the_same_event(
    servers: Callable[[str], DevServer], tmp_path: Path
) -> None:
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(m) + "\n" for m in MESSAGES), encoding="utf-8")

    node, python, imported = servers("node"), servers("python"), servers("import")
    _send_live(node, _node_shape)
    _send_live(python, _python_shape)
    _import(imported, export)

    live = _stored(node)
    assert len(live) == len(MESSAGES)
    assert {name for name, *_ in live.values()} == {
        "$identify",
        "Order Completed",
        "Viewed Pricing",
        "$pageview",
        "$screen",
        "$groupidentify",
        "$create_alias",
    }
    assert _stored(python) == live
    assert _stored(imported) == live

    # the rules the two mappings once disagreed on, pinned here where both meet
    pages = {e[2]["title"]: e[2] for e in live.values() if e[0] == "$pageview"}
    assert pages["Pricing"]["$current_url"] == "https://initech.example/pricing?a=1"
    assert pages["Pricing"]["url"] == "https://initech.example/pricing?a=1", "kept"
    assert pages["Pricing"]["$pathname"] == "/docs/7", "no path of its own: the context's"
    assert pages["Home"]["$current_url"] == "https://initech.example/docs/7?ref=ctx"
    assert "url" not in pages["Home"]
    assert "0f0e0d0c-0b0a-4908-8706-050403020100" in live


def test_importing_what_was_sent_live_stores_nothing_twice(
    servers: Callable[[str], DevServer], tmp_path: Path
) -> None:
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(m) + "\n" for m in MESSAGES), encoding="utf-8")
    server = servers("switch-over")
    _send_live(server, _node_shape)
    before = _stored(server)
    assert len(before) == len(MESSAGES)

    _import(server, export)

    assert server.store.count() == len(MESSAGES)
    assert _stored(server) == before
