# ruff: noqa: E501, RUF001
"""Render the benchmark JSON (``benchmarks/results/latest.json``) as BENCHMARKS.md.

    python -m benchmarks.report [--retarget] [results/latest.json]

``--retarget`` evaluates today's targets (``benchmarks.targets``) against the
figures of the file instead of the targets recorded when it ran.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

from benchmarks import report_defaults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# every section's results key, to say which ones a run did not include
SECTIONS = {
    "calls_1t": 1, "calls_4t": 1, "drain": 2, "memory": 3, "latency": 4, "flags_off": 5,
    "flags_on": 5, "import": 6, "flood_1t": 7, "flood_4t": 7, "flags_defaults": 8,
}  # fmt: skip
PROFILE_TITLES = {
    "drain_worker": "drain — the delivery worker thread only",
    "drain": "drain — every thread",
    "flood_1t": "flood, 1 thread — the delivery worker thread only",
    "flood_4t": "flood, 4 threads — the delivery worker thread only",
}

NAMES = {
    "analytics_compat": "analytics_compat",
    "analytics_compat_pure": "analytics_compat (pure evaluator)",
    "posthog": "posthog-python",
    "segment": "segment-analytics-python",
}


def f(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)):
        if abs(value) >= 10_000:
            return f"{value:,.0f}{suffix}"
        return f"{value:,.{digits}f}{suffix}"
    return str(value)


def ratio(entry: Dict[str, Any], lib: str, key: str = "ratio_vs_") -> str:
    if lib == "analytics_compat":
        return "1"
    return f(entry.get(key + lib), 3)


def table(header: List[str], rows: List[List[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def protocol_note(res: Dict[str, Any], scen: str, key: str, unit: str) -> List[str]:
    """The sentence under a table with (v1) rows: what they are, and v1 against v0."""
    pair = res.get(scen + "_v1")
    if not pair:
        return [
            "No capture v1 rows in this run (a run made before the v0/v1 pairs, or with "
            "`--capture-mode`, which keeps one protocol throughout).\n"
        ]
    parts = []
    for lib, e in pair.get("libs", {}).items():
        v0, v1 = res.get(scen, {}).get("libs", {}).get(lib, {}).get(key), e.get(key)
        if v0 and v1:
            parts.append(f"{NAMES[lib]} {f(v1 / v0, 2)}×")
    return [
        'Rows marked (v1): the same measurement with `capture_mode="v1"` '
        "(`POST /i/v1/analytics/events`, a result per event), in the same run; their ratio "
        "column compares with analytics_compat (v1). v1 ÷ v0 "
        f"({unit}, medians): " + (", ".join(parts) or "–") + ".\n"
    ]


def render(doc: Dict[str, Any]) -> str:
    meta, res, targets = doc["meta"], doc["results"], doc["targets"]
    p = meta["params"]
    libs = [lib for lib in ("analytics_compat", "posthog", "segment") if lib in meta["libs"]]
    lambda scen: res.get(scen, {}).get("libs", {}).get("analytics_compat", {})
    out: List[str] = []
    w = out.append
    w("# Benchmarks\n")
    w(
        "analytics_compat against posthog-python and segment-analytics-python, each library in its own "
        "process, all sending to the same loopback sink (a separate asyncio process on 127.0.0.1, HTTP/1.1 "
        'keep-alive, answering `200 {"status":1}` at once and decoding bodies only after each run to count '
        "events and distinct uuids / messageIds). Figures are medians over runs; a ratio is the median of the "
        "per-run ratios (analytics_compat ÷ peer, measured in the same run). How to run and what each "
        "scenario does exactly: [benchmarks/README.md](benchmarks/README.md).\n"
    )
    w(f"- **Command**: `pip install -e '.[bench]' && {meta['command']}`")
    if meta.get("commit"):
        w(f"- **analytics_compat at commit**: `{meta['commit']}`")
    w(
        f"- **Date**: {meta['date']} ({meta['mode']} run, {p['runs']} runs per scenario and library, {p.get('calls_runs', p['runs'])} for call cost, {meta['elapsed_s']:.0f} s in all)"
    )
    w(
        f"- **Machine**: {meta['nproc']} CPUs (`nproc`), {meta['cpu']}, {meta['memory']} RAM, {meta['platform']}; shared machine, load average {tuple(round(x, 2) for x in meta['loadavg_start'])} at start, {tuple(round(x, 2) for x in meta['loadavg_end'])} at end"
    )
    for update in meta.get("updates", []):
        w(
            f"- **Re-run and merged in**: {', '.join(update['results'])} on {update['date']}, commit "
            f"`{update['commit']}`, load average {tuple(round(x, 2) for x in update['loadavg_start'])} "
            f"at start (`{update['command']}`); the other figures are from the run above"
        )
    switch = meta.get("switch_interval_s")
    w(
        f"- **Python**: {meta['implementation']} {meta['python']}"
        + (f" (interpreter lock switch interval {switch * 1000:g} ms)" if switch else "")
    )
    if meta.get("capture_mode"):
        w(
            f"- **Capture protocol**: `capture_mode={meta['capture_mode']!r}` for analytics_compat and posthog-python"
        )
    w("- **Versions**: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v))
    w(
        "- **Settings common to all**: batches of 100 (`flushAt: 100` / `flush_at=100` / `upload_size=100`), "
        "gzip on for all three (posthog and segment default to off; analytics_compat to on), one delivery "
        "thread each, queue large enough to hold every event unless the scenario says otherwise, logging left "
        "at Python's defaults (no handler: warnings go to stderr, as in a plain application). Sections 7 and 8 "
        "are the exception: every library with its own defaults.\n"
    )
    missing = sorted({n for k, n in SECTIONS.items() if k not in res})
    if missing:
        w(
            "Not in this run: section(s) "
            + ", ".join(str(n) for n in missing)
            + " (their scenarios were added or left out after it; a full run fills them).\n"
        )

    w("## Targets\n")
    if doc.get("retargeted"):
        w(
            "Today's targets (`benchmarks/targets.py`) evaluated against this run's figures "
            "(`python -m benchmarks.report --retarget`); n/a: the run did not measure it.\n"
        )
    rows = []
    for t in targets:
        met = {True: "**met**", False: "**missed**", None: "n/a"}[t["met"]]
        rows.append(
            [t["description"], t["metric"], t["target"], f(t["value"], 3), met, t.get("note") or ""]
        )
    w(table(["target", "metric (analytics_compat)", "wanted", "measured", "", "note"], rows) + "\n")

    if "calls_1t" in res or "calls_4t" in res:
        w("## 1. Call cost of `track()` / `capture()` (live sink, batching on)\n")
        w(
            f"{p['calls_n']:,} calls after a 2,000-call warm-up, fresh 5-property dict per call (built before the "
            "timer starts); the sink is live, so each library's delivery thread sends concurrently and competes for "
            "the GIL. µs/call = wall time ÷ calls (for 4 threads: first start to last end ÷ total calls); "
            "per-thread = mean over threads of (thread time ÷ its calls). Afterwards every event is flushed and "
            "counted at the sink. The queue holds every event twice over, so analytics_compat's backpressure "
            "(a producer waits for the worker above half of maxQueueSize) never starts: this is what a call "
            "costs; the flood scenario below measures calls under pressure, with library defaults.\n"
        )
        rows = []
        one, four = res.get("calls_1t", {}), res.get("calls_4t", {})
        for lib in libs:
            a, b = one.get("libs", {}).get(lib, {}), four.get("libs", {}).get(lib, {})
            rows.append(
                [
                    NAMES[lib],
                    f(a.get("us_per_call")),
                    ratio(one.get("libs", {}).get("analytics_compat", {}), lib),
                    f(a.get("calls_per_s"), 0),
                    f(b.get("us_per_call")),
                    f(b.get("us_per_call_per_thread")),
                    ratio(four.get("libs", {}).get("analytics_compat", {}), lib),
                ]
            )
        v1 = res.get("calls_1t_v1", {}).get("libs", {})
        for lib in (x for x in libs if x in v1):
            e = v1[lib]
            rows.append(
                [
                    NAMES[lib] + " (v1)",
                    f(e.get("us_per_call")),
                    ratio(v1.get("analytics_compat", {}), lib),
                    f(e.get("calls_per_s"), 0),
                    "–",
                    "–",
                    "–",
                ]
            )
        w(
            table(
                [
                    "library",
                    "1 thread µs/call",
                    "analytics_compat ÷ lib",
                    "calls/s",
                    "4 threads µs/call (wall)",
                    "4 threads µs/call per thread",
                    "analytics_compat ÷ lib (4t)",
                ],
                rows,
            )
            + "\n"
        )

        out.extend(protocol_note(res, "calls_1t", "us_per_call", "µs/call"))

    if "drain" in res:
        d = res["drain"]
        w("## 2. Drain rate\n")
        w(
            f"{p['drain_n']:,} events enqueued as fast as one thread can, then `flush()` (blocking until the "
            "library says everything is delivered; the sink count is checked afterwards). events/s = events ÷ "
            "(first enqueue → flush returned). posthog and segment send while the producer is still enqueueing "
            "(their consumer thread takes events off the queue at once), and so does analytics_compat here "
            "(size trigger at 100), so all three are measured the same way.\n"
        )
        rows = []
        for lib in libs:
            e = d["libs"].get(lib, {})
            rows.append(
                [
                    NAMES[lib],
                    f(e.get("events_per_s"), 0),
                    ratio(d["libs"].get("analytics_compat", {}), lib),
                    f(e.get("total_s")),
                    f(e.get("enqueue_s")),
                    f(e.get("flush_s")),
                ]
            )
        v1 = res.get("drain_v1", {}).get("libs", {})
        for lib in (x for x in libs if x in v1):
            e = v1[lib]
            rows.append(
                [
                    NAMES[lib] + " (v1)",
                    f(e.get("events_per_s"), 0),
                    ratio(v1.get("analytics_compat", {}), lib),
                    f(e.get("total_s")),
                    f(e.get("enqueue_s")),
                    f(e.get("flush_s")),
                ]
            )
        w(
            table(
                [
                    "library",
                    "events/s",
                    "analytics_compat ÷ lib (events/s)",
                    "total s",
                    "enqueue s",
                    "flush s",
                ],
                rows,
            )
            + "\n"
        )
        out.extend(protocol_note(res, "drain", "events_per_s", "events/s"))
        if "drain_hold" in res:
            h = res["drain_hold"]["libs"]["analytics_compat"]
            w(
                f"analytics_compat only, hold-then-flush (`{json.dumps(res['drain_hold'].get('options'))}`: nothing leaves "
                f"while queueing, then one `flush()` sends batches of 100): {f(h.get('events_per_s'), 0)} events/s end to end, "
                f"**{f(h.get('flush_only_events_per_s'), 0)} events/s** for the flush alone (enqueue {f(h.get('enqueue_s'))} s, "
                f"flush {f(h.get('flush_s'))} s). posthog and segment cannot hold events back this way.\n"
            )
        out.extend(report_defaults.drain_cpu(res, libs))
        if "drain_worker" in (doc.get("profiles") or {}):
            w(
                "What the delivery worker spends its time on: see the profile *drain — the delivery worker "
                "thread only* under Profiles (cProfile of that thread alone, by own time).\n"
            )

    if "memory" in res:
        m = res["memory"]
        w("## 3. Memory per queued event (stalled server)\n")
        w(
            f"The library points at a port that accepts connections and reads requests but never answers. After "
            f"150 warm-up events (the delivery thread is then stuck in its first request), `gc.collect()`, VmRSS is "
            f"read from /proc/self/status; then {p['memory_n']:,} events are enqueued (dict built in the loop, so "
            "only what the library keeps stays alive), `gc.collect()`, VmRSS again. bytes/event = RSS growth ÷ "
            "events; peak = VmHWM growth ÷ events.\n"
        )
        rows = []
        for lib in libs:
            e = m["libs"].get(lib, {})
            rows.append(
                [
                    NAMES[lib],
                    f(e.get("bytes_per_event"), 0),
                    ratio(m["libs"].get("analytics_compat", {}), lib),
                    f(e.get("peak_bytes_per_event"), 0),
                    f"{f(e.get('rss_before_mb'), 1)} → {f(e.get('rss_after_mb'), 1)}",
                    f(e.get("enqueue_s")),
                ]
            )
        w(
            table(
                [
                    "library",
                    "bytes/event (RSS)",
                    "analytics_compat ÷ lib",
                    "peak bytes/event",
                    "RSS MB before → after",
                    "enqueue s",
                ],
                rows,
            )
            + "\n"
        )

    if "latency" in res:
        lt = res["latency"]
        w("## 4. Call latency with a stalled server and a full queue\n")
        w(
            f"`maxQueueSize` / `max_queue_size` = {p['latency_queue']:,}, server stalled as in 3; the queue is filled "
            f"first ({2 * p['latency_queue'] + 200:,} calls), then {p['latency_n']:,} more calls are timed one by one "
            "(`perf_counter_ns` around the call only). Every one of those is a drop: the caller must never wait "
            "on the network. posthog and segment log one warning line per dropped event (stderr bytes below); "
            "analytics_compat reports drops through its `error` event on the worker thread.\n"
        )
        rows = []
        for lib in libs:
            e = lt["libs"].get(lib, {})
            rows.append(
                [
                    NAMES[lib],
                    f(e.get("p50_us")),
                    f(e.get("p99_us")),
                    f(e.get("p999_us")),
                    f(e.get("max_us"), 0),
                    f(e.get("mean_us")),
                    ratio(lt["libs"].get("analytics_compat", {}), lib),
                    f(e.get("stderr_bytes"), 0),
                ]
            )
        w(
            table(
                [
                    "library",
                    "p50 µs",
                    "p99 µs",
                    "p99.9 µs",
                    "max µs",
                    "mean µs",
                    "analytics_compat ÷ lib (p99)",
                    "stderr bytes",
                ],
                rows,
            )
            + "\n"
        )

    if "flags_off" in res or "flags_on" in res:
        w("## 5. Local feature-flag evaluation\n")
        w(
            f"50 generated flags (10 rollout, 10 person-property, 10 multivariate, 10 group, 10 cohort; "
            f"`benchmarks/flagdefs.py`), served by the sink at `/api/feature_flag/local_evaluation/` and "
            f"`/flags/definitions`, loaded by each client from there. {p['flag_ids']:,} distinct ids × 50 flags = "
            f"{p['flag_ids'] * 50:,} evaluations, each with person properties, `groups={{company: ...}}` and "
            "group properties, so every flag is decidable locally (checked: no `/flags` request, no undecided "
            "flag, and the same value as posthog-python for every (id, flag)). posthog: "
            "`get_feature_flag_result(..., only_evaluate_locally=True)` (the non-deprecated form; `get_feature_flag` "
            "adds a DeprecationWarning per call). segment has no flags. With events on, each library sends one "
            "`$feature_flag_called` per (id, flag, value) and the timed loop includes queueing them; the count is what "
            "the sink received after `flush()`.\n"
        )
        for name, title in (
            ("flags_off", "without `$feature_flag_called` events"),
            ("flags_on", "with `$feature_flag_called` events"),
        ):
            if name not in res:
                continue
            s = res[name]
            rows = []
            for v, e in s["libs"].items():
                (
                    "1"
                    if v == "analytics_compat"
                    else (
                        f(s["libs"].get("analytics_compat", {}).get("speedup_vs_" + v), 2)
                        if v != "analytics_compat_pure"
                        else "–"
                    )
                )
                own = (
                    e.get("speedup_vs_posthog")
                    if v in ("analytics_compat", "analytics_compat_pure")
                    else None
                )
                rows.append(
                    [
                        NAMES.get(v, v),
                        f"`{e.get('api')}`",
                        f(e.get("us_per_eval")),
                        f(e.get("evals_per_s"), 0),
                        f(own, 2) if own else "–",
                        f(e.get("flag_called_events"), 0),
                    ]
                )
            w(f"**{title}**\n")
            w(
                table(
                    [
                        "library",
                        "API",
                        "µs/eval",
                        "evals/s",
                        "speed-up vs posthog",
                        "$feature_flag_called at sink",
                    ],
                    rows,
                )
                + "\n"
            )

    if "import" in res:
        im = res["import"]
        w("## 6. Cold import time\n")
        w(
            f'`python -c "import X"` in a fresh process, {p["import_reps"]} times each (interleaved, after a '
            f"warm-up round so .pyc files exist), median wall time minus the median of `python -c pass` "
            f"({f(im.get('bare_python_ms'), 1)} ms). X = `analytics_compat`, `posthog`, `segment.analytics`.\n"
        )
        rows = []
        for lib in libs:
            e = im["libs"].get(lib, {})
            rows.append(
                [
                    NAMES[lib],
                    f(e.get("import_ms"), 1),
                    ratio(im["libs"].get("analytics_compat", {}), lib),
                ]
            )
        w(table(["library", "import ms", "analytics_compat ÷ lib"], rows) + "\n")
        if im.get("importtime_top"):
            w(
                "Where analytics_compat's import time goes (`python -X importtime -c 'import analytics_compat'`, top by cumulative µs):\n"
            )
            w("```\n" + im["importtime_top"] + "\n```\n")

    out.extend(report_defaults.flood(res, p, libs))
    out.extend(report_defaults.flags_defaults(res, p))
    out.extend(report_defaults.history_import(ROOT))

    w("## Correctness checks\n")
    checks = doc["checks"]
    failed = [c for c in checks if not c["ok"]]
    w(
        f"{len(checks) - len(failed)} passed, {len(failed)} failed. `python -m benchmarks.run --quick --check` exits 1 when an analytics_compat check fails.\n"
    )
    seen = {}
    for c in checks:
        key = (c["lib"], c["name"])
        prev = seen.get(key)
        seen[key] = (
            prev[0] + 1 if prev else 1,
            (prev[1] if prev else 0) + (0 if c["ok"] else 1),
            c["detail"] if not c["ok"] else (prev[2] if prev else c["detail"]),
        )
    rows = [
        [NAMES.get(lib, lib), name, f"{n - bad}/{n}", detail.replace("\n", " ")[:160]]
        for (lib, name), (n, bad, detail) in seen.items()
    ]
    w(table(["library", "check", "passed", "detail (last failure, else an example)"], rows) + "\n")

    profiles = doc.get("profiles") or {}
    if profiles:
        w("## Profiles\n")
        w(
            "cProfile of the measured thread (calls, latency, flags), of every thread (drain), or of the "
            "library's delivery worker thread alone (drain_worker, flood), sorted by own time; tracemalloc "
            "(allocation sites of what stays alive) for memory. Taken in separate runs, so timings inside are "
            "inflated by the profiler; read them for shares, not absolute figures.\n"
        )
        for scen, by_lib in profiles.items():
            for lib, text in by_lib.items():
                title = PROFILE_TITLES.get(scen, scen)
                w(
                    f"<details><summary>{title} — {NAMES.get(lib, lib)}</summary>\n\n```\n{text}\n```\n</details>\n"
                )
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    retarget = "--retarget" in args
    args = [a for a in args if a != "--retarget"]
    src = args[0] if args else "benchmarks/results/latest.json"
    with open(src) as fh:
        doc = json.load(fh)
    if retarget:
        from benchmarks.targets import evaluate_targets

        doc["targets"] = evaluate_targets(doc["results"])
        doc["retargeted"] = True
    sys.stdout.write(render(doc))


if __name__ == "__main__":
    main()
