"""The import benchmark measures a real run: it must import every event once, and say so.

Speed is never asserted (shared, noisy machines); this runs a small export through
``benchmarks.import_bench --check`` (its own devserver process, the import command
as another) and reads its JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_benchmark_imports_every_event_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.import_bench", "--lines", "3000", "--layout", "tree",
         "--dir", str(tmp_path), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["stored_counts_match"] is True
    assert result["events_sent"] == result["events_expected"] > 0
    assert result["exit_status"] == 0
    assert result["peak_rss_mib"] > 0 and result["seconds"] > 0
    assert "--key phc_dev" in result["command"] and "URL" in result["command"]
