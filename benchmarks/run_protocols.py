"""The paired capture-protocol rows: the 1-thread call cost and the drain again, in v1.

In a run without ``--capture-mode``, the calls and drain scenarios are also measured
with ``capture_mode="v1"`` for the libraries that speak both protocols
(analytics_compat and posthog-python), in the same run as their v0 rows, so the two
protocols are compared on the same machine at the same load. Results go under
``calls_1t_v1`` and ``drain_v1`` (the report puts them beside the v0 rows). Besides
the usual delivery check, a check says every request of a v1 run reached the v1 path,
so a library that ignored the option cannot pass for a v1 measurement.

This module owns only those two parent-side scenarios; the workers are the common
ones (``benchmarks.worker``) with the variant's options.
"""

from __future__ import annotations

from typing import Any, Dict, List

from benchmarks.harness import Checks, Sink, bench_workers, summarize

V1_LIBS = ("analytics_compat", "posthog")
V1_OPTIONS = {"capture_mode": "v1"}
V1_PATHS = ("/i/v1/analytics/events", "/i/v1/analytics/events/")


def _v1_path_check(name: str, checks: Checks) -> Any:
    def after(lib: str, res: Dict[str, Any]) -> str:
        paths = res["sink"].get("paths") or {}
        capture = {p: n for p, n in paths.items() if not p.startswith(("/flags", "/api/", "/__"))}
        on_v1 = sum(n for p, n in capture.items() if p in V1_PATHS)
        checks.add(
            f"{name}: every request used capture v1",
            bool(capture) and on_v1 == sum(capture.values()),
            f"requests per path: {capture}",
            lib,
        )
        return ""

    return after


def scenario_calls_v1(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks
) -> Dict[str, Any]:
    pair = [lib for lib in libs if lib in V1_LIBS]
    if not pair:
        return {}
    name = "calls_1t_v1"
    runs = bench_workers(
        name, sink, pair, p["calls_runs"], checks,
        lambda lib: {"scenario": "calls", "n": p["calls_n"], "threads": 1, "options": V1_OPTIONS},
        lambda lib, res: res["sent"],
        after=_v1_path_check(name, checks),
    )  # fmt: skip
    for res in runs.get("analytics_compat", []):
        if res.get("ok"):
            checks.add(
                f"{name}: no message dropped",
                res.get("dropped") == 0,
                f"dropped={res.get('dropped')}",
            )
    out = summarize(
        runs, ["us_per_call", "us_per_call_per_thread", "calls_per_s"], "us_per_call", True
    )
    out["options"] = V1_OPTIONS
    return {name: out}


def scenario_drain_v1(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks
) -> Dict[str, Any]:
    pair = [lib for lib in libs if lib in V1_LIBS]
    if not pair:
        return {}
    name = "drain_v1"
    runs = bench_workers(
        name, sink, pair, p["runs"], checks,
        lambda lib: {"scenario": "drain", "n": p["drain_n"], "options": V1_OPTIONS},
        lambda lib, res: res["sent"],
        after=_v1_path_check(name, checks),
    )  # fmt: skip
    keys = ["events_per_s", "total_s", "enqueue_s", "flush_s", "cpu_lib_threads_s", "sink_cpu_s"]
    out = summarize(runs, keys, "events_per_s", False)
    out["options"] = V1_OPTIONS
    return {name: out}
