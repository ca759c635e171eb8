"""A real HTTP server on 127.0.0.1 (port 0) for the poller and remote-flags tests.

Tests script replies per (method, path) with ``flag_server.reply(...)`` and inspect
``flag_server.requests``; nothing patches ``requests``. Helpers are reached through
the fixture, never imported from this module (another ``conftest`` may shadow it).
"""

from __future__ import annotations

import copy
import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Tuple, Union
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
import requests

Body = Union[bytes, str, Dict[str, Any], List[Any], None]


@attrs.frozen
class Reply:
    """A scripted answer. ``drop=True`` closes the connection without answering."""

    status: int = 200
    body: Body = None
    headers: Dict[str, str] = attrs.field(factory=dict)
    drop: bool = False


@attrs.frozen
class Recorded:
    method: str
    path: str
    query: Dict[str, List[str]]
    raw_query: str
    headers: Dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Recorded], Reply]


class FlagServer:
    """Records every request; answers from per-route reply scripts (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self._scripts: Dict[Tuple[str, str], Union[List[Reply], Responder]] = {}
        self._cond = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    raw_query=parts.query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = server._record(recorded)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.body
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                elif isinstance(payload, str):
                    data = payload.encode()
                else:
                    data = payload or b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.status != 304:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if reply.status != 304:
                    self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @staticmethod
    def reply(status: int = 200, body: Body = None, **headers: str) -> Reply:
        """A scripted answer; header names with ``_`` are sent with ``-`` (``Retry_After``)."""
        return Reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})

    DROP = Reply(drop=True)

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` with ``replies`` in order; the last one repeats."""
        self._scripts[(method, path)] = list(replies)

    def respond_with(self, method: str, path: str, responder: Responder) -> None:
        self._scripts[(method, path)] = responder

    def _record(self, recorded: Recorded) -> Reply:
        with self._cond:
            self.requests.append(recorded)
            self._cond.notify_all()
            script = self._scripts.get((recorded.method, recorded.path))
            if script is None:
                return Reply(404, {"detail": "not found"})
            if callable(script):
                return script(recorded)
            return script.pop(0) if len(script) > 1 else script[0]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= count, timeout)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def flag_server() -> Iterator[FlagServer]:
    server = FlagServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def closed_port_url() -> str:
    """A URL nobody listens on: connections are refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- scenarios
# Definitions exercising every evaluation feature, and random caller contexts: used
# by the fast-path and posthog-python parity tests.

VARIANTS = {"variants": [
    {"key": "control", "rollout_percentage": 34},
    {"key": "test", "rollout_percentage": 33},
    {"key": "other", "rollout_percentage": 33},
]}  # fmt: skip


def _F(key: str, *groups: dict[str, Any], active: bool = True, **filters: Any) -> dict[str, Any]:
    extra = {}
    if "continuity" in filters:
        extra["ensure_experience_continuity"] = filters.pop("continuity")
    return {"id": 1, "key": key, "active": active, "filters": {"groups": list(groups), **filters},
            **extra}  # fmt: skip


def _C(*props: dict[str, Any], rollout: Any = 100, **extra: Any) -> dict[str, Any]:
    return {"properties": list(props), "rollout_percentage": rollout, **extra}


def _P(key: str, value: Any, operator: str = "exact", **extra: Any) -> dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": "person", **extra}


def _COH(cohort_id: Any, operator: str = "in") -> dict[str, Any]:
    return {"key": "id", "value": cohort_id, "type": "cohort", "operator": operator}


def _D(key: str, value: Any, chain: list[str]) -> dict[str, Any]:
    return {"key": key, "operator": "flag_evaluates_to", "value": value, "type": "flag",
            "dependency_chain": chain}  # fmt: skip


COHORTS = {
    "1": {"type": "OR", "values": [
        {"type": "AND", "values": [_P("plan", "pro"), _P("country", "FR")]},
        {"type": "AND", "values": [_P("email", "@corp.com", "icontains")]},
    ]},
    "2": {"type": "AND", "values": [_P("banned", True, negation=True)]},
    "3": {"type": "AND", "values": [_COH(1), _P("age", 18, "gte")]},
}  # fmt: skip
MAPPING = {"0": "company", "1": "project"}
FLAGS = [
    _F("roll", _C(rollout=30)),
    _F("props", _C(_P("plan", "pro"), _P("age", 18, "gte"), rollout=70),
      _C(_P("email", "corp", "icontains"))),
    _F("mv", _C(_P("beta", True), variant="test"), _C(rollout=80), multivariate=VARIANTS),
    _F("coh", _C(_COH(1)), _C(_COH(3), rollout=50)),
    _F("negc", _C(_COH(2))),
    _F("notin", _C(_COH(1, "not_in"))),
    _F("static", _C(_P("plan", "free")), _C(_COH(99))),
    _F("dep", _C(_D("props", True, ["props"])), _C(_D("mv", "control", ["mv"]))),
    _F("deep", _C(_D("dep", False, ["props", "mv", "dep"]))),
    _F("hold", _C(rollout=60), multivariate=VARIANTS,
       holdout={"id": 5, "exclusion_percentage": 25}),
    _F("ee", _C(_P("plan", "pro"), rollout=40), _C(_P("age", 30, "lt")), early_exit=True),
    _F("g", _C(_P("tier", "gold", type="group"), rollout=50), aggregation_group_type_index=0),
    _F("mixed", _C(_P("email", "corp", "icontains")),
      _C(_P("tier", "gold"), aggregation_group_type_index=0)),
    _F("dates", _C(_P("signup", "2024-01-01", "is_date_after"),
                   _P("version", "1.2.0", "semver_gte"))),
    _F("rx", _C(_P("email", r"^[a-c].*@corp\.com$", "regex"))),
    _F("cont", _C(), continuity=True),
    _F("off", _C(), active=False),
]  # fmt: skip
CHOICES: dict[str, list[Any]] = {
    "plan": ["pro", "free", "PRO"],
    "age": [10, 25, "40", "x", None],
    "email": ["a@corp.com", "d@corp.com", "x@y.z"],
    "beta": [True, False, "true"],
    "country": ["FR", "DE"],
    "banned": [True, False],
    "signup": ["2023-05-01", "2024-06-01T00:00:00Z", "bad"],
    "version": ["1.1.9", "v1.2.0-rc.1", "2.0"],
}


@attrs.frozen
class Scenarios:
    flags: List[Dict[str, Any]]
    cohorts: Dict[str, Any]
    mapping: Dict[str, str]

    def body(self) -> Dict[str, Any]:
        """A fresh copy of the local-evaluation body."""
        raw = {"flags": self.flags, "cohorts": self.cohorts, "group_type_mapping": self.mapping}
        return copy.deepcopy(raw)

    def contexts(self, count: int, seed: int) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """``count`` random (distinct_id, evaluate_flag keyword arguments) pairs."""
        rng = random.Random(seed)
        for _ in range(count):
            person = {k: rng.choice(v) for k, v in CHOICES.items() if rng.random() < 0.8}
            groups = {"company": f"co-{rng.randrange(100)}"} if rng.random() < 0.7 else {}
            group_props = {"company": {"tier": rng.choice(["gold", "silver"])}}
            if rng.random() < 0.2:
                group_props = {}
            yield (
                f"user-{rng.randrange(10**6)}",
                {"groups": groups, "person_properties": person, "group_properties": group_props},
            )


@pytest.fixture
def scenarios() -> Scenarios:
    return Scenarios(FLAGS, COHORTS, MAPPING)
