"""Fixtures for the devserver tests: a running DevServer, an HTTP session, chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import requests

from analytics_compat.devserver import DevServer

TOKEN = "phc_test"
PERSONAL_KEY = "phx_personal_test_key"
CHROMIUM = "/usr/bin/chromium"

FLAGS: dict[str, Any] = {
    "flags": [
        {
            "id": 1,
            "key": "beta",
            "active": True,
            "version": 3,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "value": ["pro"], "operator": "exact", "type": "person"}
                        ],
                        "rollout_percentage": 100,
                    }
                ],
                "payloads": {"true": '{"color": "blue"}'},
            },
        },
        {
            "id": 2,
            "key": "everyone",
            "active": True,
            "version": 1,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
        },
        {
            "id": 3,
            "key": "company-gold",
            "active": True,
            "version": 1,
            "filters": {
                "aggregation_group_type_index": 0,
                "groups": [
                    {
                        "properties": [
                            {
                                "key": "tier",
                                "value": "gold",
                                "operator": "exact",
                                "type": "group",
                                "group_type_index": 0,
                            }
                        ],
                        "rollout_percentage": 100,
                    }
                ],
            },
        },
        {
            "id": 4,
            "key": "static-cohort-flag",
            "active": True,
            "version": 1,
            "filters": {
                "groups": [
                    {
                        "properties": [{"key": "id", "value": 999, "type": "cohort"}],
                        "rollout_percentage": 100,
                    }
                ]
            },
        },
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}


@pytest.fixture
def flags_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS), encoding="utf-8")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    """A started DevServer on 127.0.0.1:<free port> with a file database; stopped after."""
    with DevServer(
        db_path=tmp_path / "devserver.sqlite3",
        tokens=(TOKEN,),
        personal_api_key=PERSONAL_KEY,
    ) as running:
        yield running


@pytest.fixture
def flag_server(tmp_path: Path, flags_file: Path) -> Iterator[DevServer]:
    """A DevServer serving ``FLAGS`` from a file."""
    with DevServer(
        tokens=(TOKEN,), personal_api_key=PERSONAL_KEY, flags_file=flags_file
    ) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


PostBatch = Callable[..., requests.Response]


@pytest.fixture
def post_batch(server: DevServer, http: requests.Session) -> PostBatch:
    """POST ``{"api_key": token, "batch": events}`` to ``/batch/``."""

    def post(events: list[dict[str, Any]], token: Optional[str] = TOKEN) -> requests.Response:
        body: dict[str, Any] = {"batch": events}
        if token is not None:
            body["api_key"] = token
        return http.post(server.url + "/batch/", json=body, timeout=10)

    return post


def _install_chromium() -> Optional[str]:
    """Install Debian's chromium when missing and running as root; the reason if not."""
    if os.path.exists(CHROMIUM):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium is not installed and cannot be installed here (needs root + apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    try:
        done = subprocess.run(install, capture_output=True, env=env, timeout=300)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=180)
            done = subprocess.run(install, capture_output=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return "installing chromium with apt-get timed out"
    if done.returncode != 0 or not os.path.exists(CHROMIUM):
        return f"apt-get install chromium failed: {done.stderr.decode(errors='replace')[-300:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to a headless-capable chromium; the browser test is skipped without one."""
    reason = _install_chromium()
    if reason is not None:
        pytest.skip(reason)
    return CHROMIUM
