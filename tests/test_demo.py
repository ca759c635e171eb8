"""The README's main command: ``python -m analytics_compat demo``, in a real subprocess."""

from __future__ import annotations

import subprocess
import sys


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
