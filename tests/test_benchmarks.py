"""The benchmark's correctness, not its speed: every event delivered exactly once, counts match.

Speed is never asserted here (shared, noisy machines); ``BENCHMARKS.md`` holds the
figures from ``python -m benchmarks.run``. This runs the quick mode with ``--check``,
which exits non-zero if analytics_compat lost, duplicated or dropped an event, or
if a flag value disagreed with posthog-python's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_run_passes_its_correctness_checks(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--check",
            "--json",
            str(tmp_path / "quick.json"),
            "--md",
            str(tmp_path / "quick.md"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert (tmp_path / "quick.json").stat().st_size > 0
