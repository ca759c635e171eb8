"""The README's commands, run as a reader runs them: the demo, and the dev-server example.

The demo runs in a subprocess. The dev-server example is copied from README.md as
written into a shell script and run in a fresh virtualenv (``pip install -e`` of this
checkout, made once per session), inside a private network namespace when the
machine allows one, so its fixed port 8010 is free whatever else runs here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_demo_shows_four_events_and_the_merged_person() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "analytics_compat", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "the server stored 4 events:" in out
    for name in ("Viewed Pricing", "$create_alias", "$identify", "Signed Up"):
        assert name in out
    assert "distinct ids: anonymous_user, user_42" in out
    assert '"email": "ada@example.com"' in out
    assert "flush(callback): err=None" in out
    assert out.rstrip().endswith("demo OK")
    assert "phc_demo_project_key" not in out + done.stderr


def _readme_block(name: str, language: str = "bash") -> str:
    """The fenced block right after ``<!-- devserver-example: NAME -->``."""
    text = README.read_text(encoding="utf-8")
    marker = f"<!-- devserver-example: {name} -->\n```{language}\n"
    assert marker in text, f"README.md lost its {name!r} dev-server example"
    start = text.index(marker) + len(marker)
    return text[start : text.index("\n```", start)] + "\n"


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with this checkout installed the way the README says."""
    venv = tmp_path_factory.mktemp("readme") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=180)
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(ROOT)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def _private_network() -> list[str]:
    """A command prefix that runs in a new network namespace, or [] if 8010 is free here."""
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(
            ["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30
        )
        if probe.returncode == 0:
            return ["unshare", "--net", "bash", "-c", 'ip link set lo up && exec bash "$0"']
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 8010))
        except OSError:
            pytest.skip("port 8010 is taken and no private network namespace can be made")
    return ["bash"]


@pytest.mark.timeout(600)
def test_the_readme_dev_server_example_delivers_events_that_events_prints(
    fresh_venv: Path, tmp_path: Path
) -> None:
    serve = _readme_block("serve")
    client = _readme_block("client")
    assert serve.count("\n") == 1, "the serve example is one command"
    script = tmp_path / "readme_example.sh"
    script.write_text(
        "set -eu\n"
        f'cd "{tmp_path}"\n'
        f"{serve.strip()} > serve.out 2> serve.err &\n"
        "server=$!\n"
        "for _ in $(seq 600); do\n"
        '  grep -q "Press Ctrl-C to stop." serve.out && break\n'
        "  kill -0 $server\n"
        "  sleep 0.1\n"
        "done\n"
        f"{client}"
        "kill -TERM $server\n"
        "wait $server\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "XDG_DATA_HOME")
    }
    # as after `source venv/bin/activate`; the default database goes to a private home
    env.update(PATH=f"{fresh_venv / 'bin'}:{env.get('PATH', '')}", HOME=str(home))
    done = subprocess.run(
        [*_private_network(), str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    serve_log = (tmp_path / "serve.out").read_text() + (tmp_path / "serve.err").read_text()
    assert done.returncode == 0, done.stdout + done.stderr + serve_log
    # what the README says it prints, but for the date and time columns
    printed = [line.split("  ", 1)[1] for line in done.stdout.splitlines()]
    promised = [line.split("  ", 1)[1] for line in _readme_block("output", "text").splitlines()]
    assert printed == promised, done.stdout
    assert "$identify" in promised[0] and "plan=pro" in promised[1]
    assert "listening on http://127.0.0.1:8010" in serve_log
    assert "POST /batch/ -> 200" in serve_log
    assert (home / ".local" / "share" / "analytics-compat" / "devserver.sqlite3").exists()
