"""Benchmark analytics_compat against posthog-python and segment-analytics-python.

    python -m benchmarks.run                  # full run, ~13-15 min on 2 cores
    python -m benchmarks.run --quick --check  # small sizes, 1 run, ~60 s; exit 1 on a failed check

A full run writes BENCHMARKS.md and benchmarks/results/latest.json.

Each (library, scenario, run) is its own process (``benchmarks.worker``), all
against one loopback sink process (``benchmarks.sink``) that counts what arrives.
See benchmarks/README.md for what each scenario measures. This module owns the
command line, the sizes, the scenarios with the benchmark's common settings (calls,
drain, memory, latency, import) and the order of a run; the library-defaults
scenarios are in ``benchmarks.run_defaults``, flags in ``benchmarks.run_flags``, the
capture v1 pairs of calls and drain in ``benchmarks.run_protocols``, the targets and
profiles in ``benchmarks.targets``, the plumbing in ``benchmarks.harness``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

from benchmarks.harness import (
    HERE,
    PY,
    ROOT,
    Checks,
    Sink,
    bench_workers,
    git_commit,
    log,
    machine,
    median,
    rotated,
    summarize,
)
from benchmarks.run_defaults import scenario_flags_defaults, scenario_flood
from benchmarks.run_flags import scenario_flags
from benchmarks.run_protocols import scenario_calls_v1, scenario_drain_v1
from benchmarks.targets import PROFILE_CFG, evaluate_targets, take_profiles, wanted_profiles

LIBS = ["analytics_compat", "posthog", "segment"]
SCENARIOS = ["calls", "drain", "flood", "memory", "latency", "flags", "flags_defaults", "import"]
CAPTURE_MODE_LIBS = ("analytics_compat", "posthog")  # segment has one protocol

FULL = {
    "runs": 3,
    "calls_runs": 4,
    "calls_n": 50_000,
    "drain_n": 200_000,
    "flood_n": 200_000,
    "flood_threads": [1, 4],
    "baseline_s": 3.0,
    "memory_n": 200_000,
    "latency_n": 100_000,
    "latency_queue": 1000,
    "flag_ids": 2000,
    "flags_defaults_ids": 2000,
    "import_reps": 9,
}
QUICK = {
    # small sizes: a correctness check of every scenario in about a minute, never a speed claim
    "runs": 1,
    "calls_runs": 1,
    "calls_n": 5_000,
    "drain_n": 12_000,
    # twice the default queue: analytics_compat must drop nothing (a check), the peers may
    "flood_n": 20_000,
    "flood_threads": [1, 4],
    "flood_no_drop_check": True,
    "baseline_s": 0.5,
    "memory_n": 12_000,
    "latency_n": 6_000,
    "latency_queue": 1000,
    "flag_ids": 100,
    # (150 + 1) x 50 = 7,550 events: the default queue holds them all, so no drop is a check
    "flags_defaults_ids": 150,
    "import_reps": 2,
}


def scenario_calls(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    out = {}
    for threads in (1, 4):
        name = f"calls_{threads}t"
        runs = bench_workers(
            name,
            sink,
            libs,
            p["calls_runs"],
            checks,
            lambda lib, t=threads: {"scenario": "calls", "n": p["calls_n"], "threads": t, **extra},
            lambda lib, res: res["sent"],
        )
        for res in runs.get("analytics_compat", []):
            if res.get("ok"):
                checks.add(
                    f"{name}: no message dropped",
                    res.get("dropped") == 0,
                    f"dropped={res.get('dropped')}",
                )
        out[name] = summarize(
            runs,
            ["us_per_call", "us_per_call_per_thread", "calls_per_s"],
            "us_per_call",
            lower_better=True,
        )
    return out


def scenario_drain(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    runs = bench_workers(
        "drain", sink, libs, p["runs"], checks,
        lambda lib: {"scenario": "drain", "n": p["drain_n"], **extra},
        lambda lib, res: res["sent"],
    )  # fmt: skip
    out = {
        "drain": summarize(
            runs,
            [
                "events_per_s",
                "total_s",
                "enqueue_s",
                "flush_s",
                "cpu_main_s",
                "cpu_lib_threads_s",
                "cpu_process_s",
                "sink_cpu_s",
            ],
            "events_per_s",
            lower_better=False,
        )
    }
    if "analytics_compat" in libs:
        hold = {
            "flushAt": 10**9,
            "flush_policy": "posthog",
            "flushAfter": 3_600_000,
            "timerInterval": 3_600_000,
            "max_batch_size": 100,
        }
        runs_hold = bench_workers(
            "drain_hold", sink, ["analytics_compat"], p["runs"], checks,
            lambda lib: {"scenario": "drain", "n": p["drain_n"], "extra": hold, **extra},
            lambda lib, res: res["sent"],
        )  # fmt: skip
        s = summarize(
            runs_hold,
            ["events_per_s", "total_s", "enqueue_s", "flush_s"],
            "events_per_s",
            lower_better=False,
        )
        hold_flush = [
            r["events"] / r["flush_s"] for r in runs_hold["analytics_compat"] if r.get("ok")
        ]
        s["libs"]["analytics_compat"]["flush_only_events_per_s"] = median(hold_flush)
        s["options"] = hold
        out["drain_hold"] = s
    return out


def scenario_memory(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    runs = bench_workers(
        "memory", sink, libs, p["runs"], checks,
        lambda lib: {"scenario": "memory", "n": p["memory_n"], **extra},
    )  # fmt: skip
    for res in runs.get("analytics_compat", []):
        if res.get("ok"):
            checks.add(
                "memory: every event held (none dropped)",
                res.get("dropped") == 0,
                f"dropped={res.get('dropped')}",
            )
    return {
        "memory": summarize(
            runs,
            [
                "bytes_per_event",
                "peak_bytes_per_event",
                "rss_before_mb",
                "rss_after_mb",
                "enqueue_s",
            ],
            "bytes_per_event",
            lower_better=True,
        )
    }


def scenario_latency(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    cfg = {"scenario": "latency", "n": p["latency_n"], "queue": p["latency_queue"], **extra}
    runs = bench_workers("latency", sink, libs, p["runs"], checks, lambda lib: dict(cfg))
    for res in runs.get("analytics_compat", []):
        if res.get("ok"):
            checks.add(
                "latency: the caller never waits on the stalled server (max < 250 ms)",
                res["max_us"] < 250_000,
                f"max={res['max_us']:.0f} us",
            )
    s = summarize(
        runs,
        ["p50_us", "p99_us", "p999_us", "max_us", "mean_us", "stderr_bytes"],
        "p99_us",
        lower_better=True,
    )
    return {"latency": s}


def scenario_import(libs: List[str], p: Dict[str, Any], checks: Checks) -> Dict[str, Any]:
    mods = {
        "analytics_compat": "analytics_compat",
        "posthog": "posthog",
        "segment": "segment.analytics",
    }
    targets = [("bare", "pass")] + [(lib, f"import {mods[lib]}") for lib in libs]
    times: Dict[str, List[float]] = {name: [] for name, _ in targets}
    for _ in range(1):  # warm the page cache / .pyc files
        for _name, code in targets:
            subprocess.run([PY, "-c", code], cwd=ROOT, check=True)
    for r in range(p["import_reps"]):
        for name, code in rotated(targets, r):
            t0 = time.perf_counter()
            subprocess.run([PY, "-c", code], cwd=ROOT, check=True)
            times[name].append((time.perf_counter() - t0) * 1000)
    bare = median(times["bare"]) or 0.0
    runs = {lib: [{"ok": True, "import_ms": t - bare} for t in times[lib]] for lib in libs}
    s = summarize(runs, ["import_ms"], "import_ms", lower_better=True)
    # Repetitions are independent, not paired runs: compare medians.
    ac_ms = s["libs"].get("analytics_compat", {}).get("import_ms")
    for peer in ("posthog", "segment"):
        peer_ms = s["libs"].get(peer, {}).get("import_ms")
        if ac_ms and peer_ms:
            s["libs"]["analytics_compat"]["ratio_vs_" + peer] = ac_ms / peer_ms
            s["libs"]["analytics_compat"]["speedup_vs_" + peer] = peer_ms / ac_ms
    s["bare_python_ms"] = bare
    # where analytics_compat's import time goes (-X importtime, cumulative us, top 15)
    if "analytics_compat" in libs:
        proc = subprocess.run(
            [PY, "-X", "importtime", "-c", "import analytics_compat"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        rows = []
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "cumulative" not in line:
                parts = line[len("import time:") :].split("|")
                rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
        rows.sort(reverse=True)
        s["importtime_top"] = "cumulative_us  self_us  module\n" + "\n".join(
            f"{c:13d} {sf:8d}  {m}" for c, sf, m in rows[:18]
        )
    for lib in libs:
        log(f"  import {lib:17s} {s['libs'][lib]['import_ms']:.1f} ms (bare python {bare:.1f} ms)")
    return {"import": s}


# --------------------------------------------------------------------------- main


def merge_into(path: str, new: Dict[str, Any]) -> Dict[str, Any]:
    """The earlier run at ``path`` with ``new``'s scenarios in place of its own."""
    with open(path) as fh:
        doc = json.load(fh)
    rerun = set(new["results"])
    doc["results"].update(new["results"])
    doc["checks"] = [c for c in doc["checks"] if c["name"].split(":")[0] not in rerun] + new[
        "checks"
    ]
    doc.setdefault("profiles", {}).update(new["profiles"])
    doc["targets"] = evaluate_targets(doc["results"])
    meta = new["meta"]
    doc["meta"].setdefault("updates", []).append(
        {
            "results": sorted(rerun),
            **{k: meta.get(k) for k in ("date", "command", "commit", "loadavg_start")},
        }
    )
    return doc


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="small sizes and 1 run: a correctness check in < 60 s"
    )
    ap.add_argument("--runs", type=int, help="runs per scenario and library (default: 3, quick: 1)")
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if any analytics_compat correctness check fails",
    )
    ap.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    ap.add_argument(
        "--libs", default=",".join(LIBS), help="comma-separated subset of " + ",".join(LIBS)
    )
    ap.add_argument(
        "--profile",
        help="cProfile/tracemalloc runs: 'missed' (default for a full run: the scenarios "
        "whose target was missed, plus drain_worker), 'all', 'none' (default with --quick), "
        "or a comma-separated list of profile names (" + ",".join(PROFILE_CFG) + ")",
    )
    ap.add_argument(
        "--capture-mode",
        choices=["v0", "v1"],
        help="capture protocol for analytics_compat and posthog-python (option capture_mode; "
        "default: each library's own default). A version that does not know the option "
        "runs without it and a check says so",
    )
    ap.add_argument(
        "--update",
        metavar="JSON",
        help="re-run only --scenarios and merge them into this earlier run's JSON (the rest of "
        "its figures kept; the report names what was re-run, when and at which commit)",
    )
    ap.add_argument(
        "--json",
        dest="json_out",
        help="where to write the JSON (default: benchmarks/results/latest.json; "
        "with --quick: benchmarks/results/quick.json)",
    )
    ap.add_argument(
        "--md",
        dest="md_out",
        help="where to write the report (default: BENCHMARKS.md for a full run; none with --quick)",
    )
    args = ap.parse_args(argv)

    params = dict(QUICK if args.quick else FULL)
    if args.runs:
        params["runs"] = params["calls_runs"] = args.runs
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}")
    for lib in libs:
        if lib not in LIBS:
            ap.error(f"unknown library {lib!r}")
    for lib, module in (("posthog", "posthog"), ("segment", "segment")):
        if lib in libs and importlib.util.find_spec(module) is None:
            log(f"{lib}: not installed (pip install -e '.[bench]'); left out of this run")
            libs.remove(lib)
    profile_mode = args.profile or ("none" if args.quick else "missed")
    if profile_mode not in ("missed", "all", "none"):
        for name in profile_mode.split(","):
            if name not in PROFILE_CFG:
                ap.error(f"unknown profile {name!r} (one of {', '.join(PROFILE_CFG)})")
    json_out = args.json_out or os.path.join(
        HERE, "results", "quick.json" if args.quick else "latest.json"
    )
    md_out = (
        args.md_out
        if args.md_out is not None
        else (None if args.quick else os.path.join(ROOT, "BENCHMARKS.md"))
    )

    started = time.monotonic()
    from benchmarks.flagdefs import definitions

    fd, defs_path = tempfile.mkstemp(suffix=".json", prefix="bench-flagdefs-")
    with os.fdopen(fd, "w") as fh:
        json.dump(definitions(), fh)
    checks = Checks()
    results: Dict[str, Any] = {}
    meta = machine()
    meta.update(
        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=" ".join(
            ["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]
        ),
        commit=git_commit(),
        mode="quick" if args.quick else "full",
        params=params,
        libs=libs,
        capture_mode=args.capture_mode,
    )
    log(
        f"benchmarks ({meta['mode']}): {meta['nproc']} cpu {meta['cpu']}, "
        f"Python {meta['python']}, load {meta['loadavg_start']}"
    )
    sink = Sink(defs_path)
    # Worker config merged into every measurement: the variant's client options (the
    # worker gives them to analytics_compat and posthog only; segment has no modes).
    extra: Dict[str, Any] = {}
    if args.capture_mode:
        extra["options"] = {"capture_mode": args.capture_mode}
    runners = {
        "calls": scenario_calls,
        "drain": scenario_drain,
        "flood": scenario_flood,
        "memory": scenario_memory,
        "latency": scenario_latency,
        "flags": scenario_flags,
        "flags_defaults": scenario_flags_defaults,
    }
    # v0/v1 pairs of the call cost and the drain, unless the whole run has one protocol
    pairs = {} if args.capture_mode else {"calls": scenario_calls_v1, "drain": scenario_drain_v1}
    try:
        for scen in scenarios:
            log(f"[{scen}]")
            if scen == "import":
                results.update(scenario_import(libs, params, checks))
                continue
            results.update(runners[scen](sink, libs, params, checks, extra))
            if scen in pairs:
                log(f"[{scen}, capture_mode=v1]")
                results.update(pairs[scen](sink, libs, params, checks))
        targets = evaluate_targets(results)
        profiles: Dict[str, Any] = {}
        wanted = wanted_profiles(profile_mode, targets, results)
        if wanted:
            log(f"[profiles] {', '.join(wanted)}")
            # peers too only with --profile all (their runs are the slow ones)
            who = libs if profile_mode == "all" else ["analytics_compat"]
            profiles = take_profiles(sink, wanted, params, who, extra)
    finally:
        sink.close()
        os.unlink(defs_path)
    meta["loadavg_end"] = os.getloadavg()
    meta["elapsed_s"] = time.monotonic() - started
    doc = {
        "meta": meta,
        "results": results,
        "targets": targets,
        "checks": checks.items,
        "profiles": profiles,
    }
    if args.update:
        doc = merge_into(args.update, doc)
    os.makedirs(os.path.dirname(json_out), exist_ok=True)
    with open(json_out, "w") as fh:
        json.dump(doc, fh, indent=1, default=str)
    log(f"wrote {os.path.relpath(json_out, ROOT)}")
    if md_out:
        from benchmarks.report import render

        with open(md_out, "w") as fh:
            fh.write(render(doc))
        log(f"wrote {os.path.relpath(md_out, ROOT)}")

    mine = [c for c in checks.failed if c["lib"].startswith("analytics_compat")]
    peers = [c for c in checks.failed if not c["lib"].startswith("analytics_compat")]
    log("")
    for t in targets:
        if t["value"] is not None:
            verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
            log(f"  target {verdict} {t['description']}: {t['value']:,.3f} ({t['target']})")
    log(
        f"checks: {len(checks.items) - len(checks.failed)} passed, {len(checks.failed)} failed"
        + (f" ({len(peers)} of them in peer libraries, not counted by --check)" if peers else "")
    )
    log(f"elapsed {meta['elapsed_s']:.0f} s")
    if args.check and mine:
        for c in mine:
            log(f"FAILED: [{c['lib']}] {c['name']}: {c['detail']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
