"""The benchmark's correctness, not its speed: every event delivered exactly once, counts match.

Speed is never asserted here (shared, noisy machines); ``BENCHMARKS.md`` holds the
figures from ``python -m benchmarks.run``. This runs the quick mode with ``--check``,
which exits non-zero if analytics_compat lost, duplicated or dropped an event
(including in the library-defaults flood of issue 9), or if a flag value disagreed
with posthog-python's; and checks that the issue 9 scenarios really ran, so one
cannot vanish from the harness unseen.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from analytics_compat.errors import ConfigurationError
from benchmarks import libs, run_protocols
from benchmarks.harness import Checks
from benchmarks.targets import evaluate_targets

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
    doc = json.loads((tmp_path / "quick.json").read_text())
    ran = {(c["lib"], c["name"]) for c in doc["checks"] if c["ok"]}
    for name in (
        "flood_1t: every accepted event delivered exactly once",
        "flood_4t: every accepted event delivered exactly once",
        "flood_1t: nothing dropped (quick flood)",
        "flood_4t: nothing dropped (quick flood)",
        "flags_defaults: every flag decided locally",
        "flags_defaults: nothing dropped (the queue holds every event)",
        "flags_defaults: one $feature_flag_called per distinct (id, flag, value), none beyond",
    ):
        assert ("analytics_compat", name) in ran, name
    for scen in ("flood_1t", "flood_4t", "flags_defaults"):
        entry = doc["results"][scen]["libs"]["posthog"]
        assert entry["runs"] == 1 and entry["lost"] is not None, scen  # peers measured too
    for lib in ("analytics_compat", "posthog"):  # the v0/v1 pairs ran, really in v1
        for scen in ("calls_1t_v1", "drain_v1"):
            assert (lib, f"{scen}: every request used capture v1") in ran, (lib, scen)
            assert (lib, f"{scen}: every event arrived exactly once") in ran, (lib, scen)
            assert doc["results"][scen]["libs"][lib]["runs"] == 1
    report = (tmp_path / "quick.md").read_text()
    assert "## 7. Flood with library defaults" in report
    assert "## 8. Flags loop with library defaults" in report
    assert "| analytics_compat (v1) |" in report and "| posthog-python (v1) |" in report


def _results(ac_lost: int, posthog_lost: int) -> Dict[str, Any]:
    def entry(lost: int) -> Dict[str, Any]:
        return {"lost": lost, "worst_call_ms": 1.0}

    return {
        "flood_1t": {"libs": {"analytics_compat": entry(ac_lost), "posthog": entry(posthog_lost)}}
    }


@pytest.mark.parametrize(
    ("ac_lost", "posthog_lost", "met"),
    [(0, 0, True), (1, 0, False), (10, 100, True), (11, 100, False), (0, 57_000, True)],
)
def test_loss_target_is_a_tenth_of_posthogs_and_zero_when_posthog_loses_nothing(
    ac_lost: int, posthog_lost: int, met: bool
) -> None:
    target = next(
        t
        for t in evaluate_targets(_results(ac_lost, posthog_lost))
        if t["scenario"] == "flood_1t" and t["metric"] == "lost"
    )
    assert target["met"] is met
    assert target["threshold"] == max(0, posthog_lost / 10)


@pytest.mark.parametrize(
    ("paths", "ok"),
    [
        ({"/i/v1/analytics/events": 8, "/flags/definitions": 1}, True),
        ({"/i/v1/analytics/events": 8, "/batch/": 1}, False),  # the option was half ignored
        ({"/batch/": 8}, False),
        ({}, False),
    ],
)
def test_a_v1_pair_run_passes_only_if_every_capture_request_was_v1(
    paths: Dict[str, int], ok: bool
) -> None:
    checks = Checks()
    run_protocols._v1_path_check("drain_v1", checks)("posthog", {"sink": {"paths": paths}})
    (check,) = checks.items
    assert (check["name"], check["lib"], check["ok"]) == (
        "drain_v1: every request used capture v1",
        "posthog",
        ok,
    )


@pytest.fixture
def variant() -> Iterator[Dict[str, Any]]:
    saved = dict(libs.VARIANT), list(libs.UNSUPPORTED)
    libs.VARIANT.clear()
    libs.UNSUPPORTED.clear()
    try:
        yield libs.VARIANT
    finally:
        libs.VARIANT.clear()
        libs.VARIANT.update(saved[0])
        libs.UNSUPPORTED[:] = saved[1]


def test_a_variant_option_the_library_does_not_know_is_left_out_and_recorded(
    variant: Dict[str, Any],
) -> None:
    variant["surely_not_an_option_of_any_version"] = "v9"
    client = libs.compat_client({"secret": "phc_test", "host": "http://127.0.0.1:9"})
    try:
        assert libs.UNSUPPORTED == ["surely_not_an_option_of_any_version"]
    finally:
        client.shutdown(0)


def test_a_known_option_with_a_bad_value_still_fails(variant: Dict[str, Any]) -> None:
    variant["flushAt"] = -1  # known to every version: a real error, never skipped
    with pytest.raises(ConfigurationError):
        libs.compat_client({"secret": "phc_test", "host": "http://127.0.0.1:9"})
    assert libs.UNSUPPORTED == []
