"""The command line: ``serve`` in a real subprocess, ``events`` reading back, refusals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from analytics_compat.cli import main
from analytics_compat.devserver import DevServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN_A = "phc_cli_first_token"
SECRET_KEY = "phx_cli_secret_personal_key"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path, str]]:
    """``python -m analytics_compat serve --port 0`` running; yields (process, url, db,
    banner)."""
    db = tmp_path / "cli.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analytics_compat",
            "serve",
            "--port",
            "0",
            "--db",
            str(db),
            "--token",
            TOKEN_A,
            "--token",
            "phc_second",
            "--personal-api-key",
            SECRET_KEY,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("analytics-compat devserver listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        banner = first
        while not banner.endswith("Press Ctrl-C to stop.\n"):
            banner += process.stdout.readline()
        yield process, url, db, banner
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.timeout(60)
def test_serve_port_0_prints_the_url_serves_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], str, Path, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    process, url, db, banner = served
    with requests.Session() as http:
        assert http.get(url + "/_health", timeout=10).json() == {"status": "ok"}
        batch = [{"event": "cli_event", "distinct_id": "cli-user", "properties": {"plan": "pro"}}]
        response = http.post(url + "/batch/", json={"api_key": "phc_second", "batch": batch})
        assert response.status_code == 200
        page = http.get(url + "/", timeout=10)
        assert page.status_code == 200 and "Live events" in page.text

    assert main(["events", "--url", url, "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["cli_event"]

    assert main(["events", "--url", url, "--event", "cli_event"]) == 0
    text = capsys.readouterr().out
    assert "cli_event" in text and "cli-user" in text and "plan=pro" in text

    assert main(["events", "--db", str(db), "--json", "--distinct-id", "cli-user"]) == 0
    assert json.loads(capsys.readouterr().out)["properties"] == {"plan": "pro"}

    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "stopped" in out
    assert "POST /batch/ -> 200 (1 events, 1 new)" in err
    # the banner names the accepted dev tokens and what to paste; never the personal key
    assert f"project tokens  {TOKEN_A}, phc_second  (only these are accepted)" in banner
    assert f'Client({{"secret": "{TOKEN_A}", "host": "{url}"}})' in banner
    assert f'Posthog("{TOKEN_A}", host="{url}")' in banner
    assert "personal_api_key=the --personal-api-key one" in banner
    assert SECRET_KEY not in banner + out + err
    for token in (TOKEN_A, "phc_second"):
        assert token not in err, "the request log never shows a token"


def test_serve_refuses_a_non_loopback_host_without_allow_remote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    with pytest.raises(ValueError, match="allow_remote"):
        DevServer(host="0.0.0.0")


def test_serve_reports_an_unusable_flags_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "flags.json"
    bad.write_text("{not json", encoding="utf-8")
    args = ["serve", "--port", "0", "--db", ":memory:", "--flags", str(bad), "--quiet"]
    assert main(args) == 1
    assert "not JSON" in capsys.readouterr().err


def test_events_without_a_server_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with DevServer() as server:
        url = server.url
    assert main(["events", "--url", url]) == 1
    assert "is `analytics-compat serve` running?" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_events_follow_prints_new_events_as_they_arrive(tmp_path: Path) -> None:
    with DevServer(db_path=tmp_path / "f.sqlite3", tokens=("phc_f",)) as server:
        follower = subprocess.Popen(
            [sys.executable, "-m", "analytics_compat", "events", "--url", server.url, "--follow"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 15
            while not any(r.path == "/api/events" for r in server.requests_log):
                if time.monotonic() > deadline or follower.poll() is not None:
                    follower.kill()
                    out, err = follower.communicate(timeout=10)
                    pytest.fail(f"the follower never polled: {out!r} {err!r}")
                time.sleep(0.05)
            with requests.Session() as http:
                batch = [{"event": "followed", "distinct_id": "f1"}]
                http.post(server.url + "/batch/", json={"api_key": "phc_f", "batch": batch})
            assert follower.stdout is not None
            line = follower.stdout.readline()
            assert "followed" in line and "f1" in line
        finally:
            follower.send_signal(signal.SIGINT)
            follower.communicate(timeout=10)
    assert follower.returncode == 0


HOSTILE = {
    "event": "\x1b]0;pwned\x07title",  # OSC: sets the terminal's title
    "distinct_id": "\x1b[2J\x1b[H\x9b31m",  # clear screen, home, C1 CSI
    "properties": {"note": "safe\u202eevil\rover\nline\tx", "\x1b[8mkey": 1},
}
STEERING = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\t")


def _store_hostile(server: DevServer, token: str) -> None:
    body = {"api_key": token, "batch": [HOSTILE]}
    with requests.Session() as http:
        assert http.post(server.url + "/batch/", json=body, timeout=10).status_code == 200


def test_events_escapes_control_characters_and_json_stays_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hostile.sqlite3"
    with DevServer(db_path=db, tokens=("phc_h",)) as server:
        _store_hostile(server, "phc_h")
        assert main(["events", "--url", server.url]) == 0
        text = capsys.readouterr().out
        assert main(["events", "--url", server.url, "--json"]) == 0
        as_json = capsys.readouterr().out
    assert main(["events", "--db", str(db)]) == 0
    from_db = capsys.readouterr().out
    for out in (text, from_db):
        assert not [c for c in STEERING if c in out], repr(out)
        assert out.count("\n") == 1, "one event, one line"
        assert "\\x1b]0;pwned\\x07title" in out
        assert "\\x1b[2J\\x1b[H\\x9b31m" in out
        assert "note=safe\\u202eevil\\x0dover\\x0aline\\x09x" in out
    (line,) = as_json.splitlines()
    assert line.isascii() and "\x1b" not in line
    event = json.loads(line)
    assert (event["event"], event["distinct_id"]) == (HOSTILE["event"], HOSTILE["distinct_id"])
    assert event["properties"] == HOSTILE["properties"]


@pytest.mark.timeout(60)
def test_serve_escapes_control_characters_a_client_put_in_a_path(
    served: tuple[subprocess.Popen[str], str, Path, str],
) -> None:
    process, url, _, _ = served
    port = int(url.rsplit(":", 1)[1])
    request = f"GET /\x1b]0;pwned\x07/\x1b[2J HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("latin-1"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 404")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert "GET /\\x1b]0;pwned\\x07/\\x1b[2J -> 404" in err
    assert "\x1b" not in err and "\x07" not in err


def test_serve_help_names_the_token_what_to_paste_and_the_flags_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "accepts only its project token(s): phc_dev" in text
    assert 'Client({"secret": "phc_dev", "host": "http://127.0.0.1:8010"})' in text
    assert 'Posthog("phc_dev", host="http://127.0.0.1:8010")' in text
    assert "examples/flags.json" in text and "local-evaluation" in text


def test_a_401_names_the_accepted_tokens_never_the_one_sent(
    served: tuple[subprocess.Popen[str], str, Path, str],
) -> None:
    _, url, _, _ = served
    sent = "phc_what_the_client_sent_maybe_a_real_key"
    with requests.Session() as http:
        batch = {"api_key": sent, "batch": [{"event": "e", "distinct_id": "d"}]}
        refused = http.post(url + "/batch/", json=batch, timeout=10)
        missing = http.post(url + "/e/", json={"event": "e", "distinct_id": "d"}, timeout=10)
    for response in (refused, missing):
        assert response.status_code == 401
        detail = response.json()["detail"]
        assert f"accepts {TOKEN_A} or phc_second" in detail, detail
        assert sent not in response.text and SECRET_KEY not in response.text


@pytest.mark.timeout(60)
def test_the_example_flags_file_is_served_as_is_and_evaluates(tmp_path: Path) -> None:
    example = ROOT / "examples" / "flags.json"
    command = ["serve", "--port", "0", "--db", ":memory:", "--flags", str(example), "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics_compat", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        with requests.Session() as http:
            answer = http.post(
                url + "/flags/?v=2",
                json={
                    "api_key": "phc_dev",
                    "distinct_id": "user_42",
                    "person_properties": {"plan": "pro"},
                },
                timeout=10,
            ).json()["flags"]
            definitions = http.get(
                url + "/api/feature_flag/local_evaluation/",
                headers={"Authorization": "Bearer any"},
                timeout=10,
            ).json()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    assert definitions == json.loads(example.read_text(encoding="utf-8"))
    assert answer["new-checkout"]["enabled"] is True
    assert json.loads(answer["new-checkout"]["metadata"]["payload"]) == {"button": "green"}
    assert answer["pricing-test"]["variant"] in ("control", "test")
    assert answer["maintenance-banner"]["enabled"] is False
