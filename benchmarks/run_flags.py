"""Parent side of the flags scenario: local evaluation with the benchmark's settings.

Owns the runs of ``flags_off`` / ``flags_on`` (analytics_compat through its Client and
as the bare evaluator, posthog-python), their checks (every flag decided locally, the
same value as posthog-python for every (id, flag), the expected number of
``$feature_flag_called`` events at the sink) and their summary. It must not know how
a worker evaluates (``benchmarks.worker_flags``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Dict, List

from benchmarks.harness import (
    Checks,
    Sink,
    log,
    per_run_ratio,
    rotated,
    run_worker,
    summarize,
    summary,
)


def scenario_flags(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    from benchmarks.flagdefs import N_FLAGS

    flag_libs = [lib for lib in libs if lib != "segment"]
    out = {}
    tmp = tempfile.mkdtemp(prefix="bench-flags-")
    ids = p["flag_ids"]
    for events in (False, True):
        name = "flags_on" if events else "flags_off"
        variants = list(flag_libs)
        if not events and "analytics_compat" in flag_libs:
            variants.append("analytics_compat_pure")

        def cfg(lib: str, events: bool = events) -> Dict[str, Any]:
            c = {"scenario": "flags", "events": events, "ids": ids, **extra}
            c["values_out"] = os.path.join(tmp, f"{lib}-{events}.json")
            return c

        runs: Dict[str, List[Dict[str, Any]]] = {v: [] for v in variants}
        for r in range(p["runs"]):
            for v in rotated(variants, r):
                lib = "analytics_compat" if v == "analytics_compat_pure" else v
                c = cfg(v)
                c.update(
                    lib=lib,
                    host=sink.url,
                    stall_host=sink.stall_url,
                    pure=v == "analytics_compat_pure",
                )
                t0 = time.monotonic()
                res = run_worker(c)
                expected = (ids + 1) * N_FLAGS if events and res.get("ok") else None
                res["sink"] = sink.collect(expected)
                called = res["sink"]["event_names"].get("$feature_flag_called", 0)
                res["flag_called_events"] = called
                res["remote_flag_requests"] = sum(
                    n
                    for path, n in res["sink"]["paths"].items()
                    if path.rstrip("/") in ("/flags", "/decide")
                )
                if not res.get("ok"):
                    checks.add(
                        f"{name}: worker ran",
                        False,
                        res.get("error", "?") + "\n" + res.get("traceback", ""),
                        lib,
                    )
                elif lib == "analytics_compat":
                    checks.add(
                        f"{name}: every flag decided locally",
                        res["undecided"] == 0 and res["remote_flag_requests"] == 0,
                        f"undecided={res['undecided']}, "
                        f"/flags requests={res['remote_flag_requests']}",
                        v,
                    )
                    want = expected or 0
                    checks.add(
                        f"{name}: $feature_flag_called events delivered",
                        called == want and res["sink"]["duplicates"] == 0,
                        f"expected {want}, sink got {called} "
                        f"(duplicates {res['sink']['duplicates']})",
                        v,
                    )
                log(
                    f"  {name} run {r + 1}/{p['runs']} {v:22s} {time.monotonic() - t0:5.1f}s  "
                    + summary("flags", res)
                    + (f"  ({called} $feature_flag_called)" if events else "")
                )
                runs[v].append(res)
        # the same answers as posthog-python for every (id, flag)?
        ref_path = os.path.join(tmp, f"posthog-{events}.json")
        if os.path.exists(ref_path):
            with open(ref_path) as fh:
                ref = json.load(fh)
            for v in variants:
                path = os.path.join(tmp, f"{v}-{events}.json")
                if v == "posthog" or not os.path.exists(path):
                    continue
                with open(path) as fh:
                    vals = json.load(fh)
                bad = sum(1 for a, b in zip(vals, ref) if a != b) + abs(len(vals) - len(ref))
                checks.add(
                    f"{name}: same flag values as posthog-python",
                    bad == 0,
                    f"{bad} of {len(ref)} differ",
                    v,
                )
        s = summarize(
            runs,
            [
                "us_per_eval",
                "evals_per_s",
                "flag_called_events",
                "undecided",
                "remote_flag_requests",
                "flush_s",
                "parse_ms",
            ],
            "us_per_eval",
            lower_better=True,
        )
        for v in variants:
            s["libs"][v]["api"] = next((r.get("api") for r in runs[v] if r.get("api")), None)
        if "analytics_compat_pure" in runs and "posthog" in runs:
            s["libs"]["analytics_compat_pure"]["speedup_vs_posthog"] = per_run_ratio(
                runs, "us_per_eval", "analytics_compat_pure", "posthog", invert=True
            )
        out[name] = s
    return out
