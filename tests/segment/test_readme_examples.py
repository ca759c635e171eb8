"""The acceptance of issue 14: analytics-node 0.x's README examples and segment-python's
README / documentation examples (``examples/``), run unchanged but for the import line
in a fresh interpreter against the dev server, store what the migration guide's mapping
table says they produce."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from analytics_compat.devserver import DevServer

ROOT = Path(__file__).resolve().parents[2]
SDK = ("$lib", "$lib_version", "$geoip_disable")


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=("phc_dev",)) as running:  # the token the examples carry
        yield running


def run_example(name: str, server: DevServer) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANALYTICS_COMPAT_HOST=server.url)
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "phc_dev" not in done.stderr, "a key in the logs"
    return done


def events(server: DevServer) -> List[Tuple[str, str, Dict[str, Any]]]:
    rows = []
    for event in server.store.events():
        props = {k: v for k, v in event["properties"].items() if k not in SDK}
        rows.append((event["event"], event["distinct_id"], props))
    return rows


def test_analytics_node_0x_readme_runs_and_stores_the_mapped_events(server: DevServer) -> None:
    done = run_example("analytics_node_0x_readme.py", server)
    assert "I'm 2000 miles away now!" in done.stdout
    assert "I just got flushed. YAY!" in done.stdout
    assert "Flushed, and now this program can exit!" in done.stdout
    assert "Error occured" not in done.stdout and "WARNING" not in done.stderr
    stored = sorted(events(server), key=lambda row: row[0])
    assert stored == sorted(
        [
            ("Played a Song", "user@gmail.com", {}),
            (
                "$identify",
                "019mr8mf4r",
                {
                    "$set": {
                        "name": "Achilles",
                        "email": "achilles@segment.io",
                        "subscriptionPlan": "Premium",
                        "friendCount": 29,
                    },
                    "$anon_distinct_id": "DKGXt384hFDT82D",
                },
            ),
            (
                "Listened to a song",
                "019mr8mf4r",
                {"revenue": 39.95, "shippingMethod": "2-day"},
            ),
            ("Plays Ultimate", "calvin@segment.io", {}),
            ("Sent at once", "user@gmail.com", {}),
            ("From another client", "DKGXt384hFDT82D", {}),
        ],
        key=lambda row: row[0],
    )
    person = server.store.person("019mr8mf4r")
    assert person is not None and set(person["distinct_ids"]) == {"019mr8mf4r", "DKGXt384hFDT82D"}
    assert person["properties"]["email"] == "achilles@segment.io"


def test_segment_python_readme_runs_and_stores_the_mapped_events(server: DevServer) -> None:
    done = run_example("segment_python_readme.py", server)
    assert "An error occurred" not in done.stdout
    assert done.stdout.split() == [__import__("analytics_compat").VERSION]
    agent = (
        "Mozilla/5.0 (Linux; U; Android 4.1.1; en-gb; Build/KLP) AppleWebKit/534.30 "
        "(KHTML, like Gecko) Version/4.0 Safari/534.30"
    )
    assert events(server) == [
        (
            "$identify",
            "019mr8mf4r",
            {"$set": {"email": "john@example.com", "name": "John Smith", "friends": 30}},
        ),
        ("Signed Up", "f4ca124298", {"plan": "Enterprise"}),
        (
            "Article Bookmarked",
            "f4ca124298",
            {
                "title": "Snow Fall",
                "subtitle": "The Avalance at Tunnel Creek",
                "author": "John Branch",
            },
        ),
        (
            "$pageview",
            "user_id",
            {
                "$current_url": "http://segment.com",
                "url": "http://segment.com",
                "category": "Docs",
                "name": "Python",
            },
        ),
        (
            "$screen",
            "user_id",
            {"from": "Home Screen", "category": "Settings", "$screen_name": "Brightness"},
        ),
        (
            "$groupidentify",
            "user_id",
            {
                "$group_type": "company",
                "$group_key": "group_id",
                "$group_set": {"name": "Initech", "domain": "Accounting Software"},
            },
        ),
        ("Anonymous Event", "92734232-2342423423-973945", {}),
        (
            "$create_alias",
            "92734232-2342423423-973945",
            {"distinct_id": "92734232-2342423423-973945", "alias": "1234"},
        ),
        ("$identify", "1234", {"$set": {"plan": "Free"}}),
        ("Identified Action", "1234", {}),
        ("Bought a game", "019mr8mf4r", {"game": "Duke Nukem forever"}),
        ("Shirt Bought", "019mr8mf4r", {"color": "Blue", "revenue": 17.9}),
        (
            "Song Played",
            "9742",
            {"$integrations": {"all": False, "Kissmetrics": True, "Google Analytics": False}},
        ),
        ("Song Played", "9742", {"$ip": 1234, "$raw_user_agent": agent}),
    ]
    stamps = {e["event"]: e["timestamp"] for e in server.store.events()}
    assert stamps["Bought a game"].startswith("2538-10-17T00:00:00")
    assert stamps["Shirt Bought"].startswith("2012-10-17T18:58:57.911")
    person = server.store.person("1234")
    assert person is not None and set(person["distinct_ids"]) == {
        "1234",
        "92734232-2342423423-973945",
    }
    assert person["properties"] == {"plan": "Free"}
    group = server.store.group("company", "group_id")
    assert group is not None and group["properties"]["name"] == "Initech"
