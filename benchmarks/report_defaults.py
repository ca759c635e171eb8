# ruff: noqa: E501, RUF001
"""BENCHMARKS.md sections for the library-DEFAULTS scenarios (flood, flags_defaults) and the drain's CPU.

Owns the Markdown of those sections from the benchmark JSON; ``benchmarks.report``
owns the page and calls these. Must not compute figures (the JSON has them).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

NAMES = {
    "analytics_compat": "analytics_compat",
    "posthog": "posthog-python",
    "segment": "segment-analytics-python",
    "baseline": "no library (baseline)",
}
DROP_SOURCES = (
    "analytics_compat: `client.stats['dropped_queue_full']`; posthog-python: `capture()` returned "
    "None (flood) or its `queue is full` warnings (flags); segment: `track()` returned `(False, msg)`"
)


def f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)):
        if abs(value) >= 10_000 or (isinstance(value, int) and not isinstance(value, bool)):
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def table(header: List[str], rows: List[List[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _loads(entry: Dict[str, Any]) -> str:
    runs = entry.get("loadavg_1m_runs") or []
    return ", ".join(f"{x:.2f}" for x in runs) if runs else "–"


def losses_side_by_side(res: Dict[str, Any], libs: List[str]) -> str:
    rows = []
    titles = {
        "flood_1t": "flood, 1 thread",
        "flood_4t": "flood, 4 threads",
        "flags_defaults": "flags loop (`$feature_flag_called`)",
    }
    for scen, title in titles.items():
        if scen not in res:
            continue
        e = res[scen]["libs"]
        ac = e.get("analytics_compat", {})
        rows.append(
            [
                title,
                f(ac.get("sent") or e.get("posthog", {}).get("sent")),
                *[f(e[lib].get("lost")) if lib in e else "n/a" for lib in libs],
                f(ac.get("lost_ratio_vs_posthog"), 3)
                if ac.get("lost_ratio_vs_posthog") is not None
                else ("0 lost by both" if ac.get("lost") == 0 else "–"),
                _loads(ac),
            ]
        )
    return table(
        [
            "scenario (library defaults)",
            "sent",
            *[f"{NAMES[lib]} lost" for lib in libs],
            "analytics_compat ÷ posthog (lost)",
            "load avg (1 min) at the runs",
        ],
        rows,
    )


def flood(res: Dict[str, Any], p: Dict[str, Any], libs: List[str]) -> List[str]:
    if not any(k in res for k in ("flood_1t", "flood_4t", "flags_defaults")):
        return []
    out = ["## 7. Flood with library defaults (issue 9)\n"]
    out.append(
        f"{p.get('flood_n', 0):,} `track()` / `capture()` calls as fast as 1, then 4, producer threads can "
        "make them, each library **exactly as a user gets it**: only the key and the host are given (default "
        "queue of 10,000, default batch size and flush interval, default compression: gzip for analytics_compat, "
        "none for posthog-python and segment). What does not fit in the queue is dropped by the library. "
        "delivered = distinct events at the sink; lost = sent − delivered; library's count = what the "
        f"library itself reported as dropped ({DROP_SOURCES}). Checked: every event the library accepted "
        "arrived exactly once. µs/call = wall time of all producers ÷ calls. Every call is timed "
        "(`perf_counter_ns` around the call): worst call = the slowest single call any producer saw (median "
        "over runs / worst of all runs). CPU seconds of the producers and of the library's own threads (its "
        "delivery worker) while the calls run show how much of the interpreter the worker got. The worst call is sensitive to machine load, so the load average "
        "(1 min) when each run started stands beside it, and so is the interpreter itself: the *no library* "
        "row runs the same producers with a call that only builds the message dict, so its worst call is "
        "what the interpreter lock (other threads' turns of `sys.getswitchinterval()`), the OS scheduler "
        "and the garbage collector impose on any library.\n"
    )
    out.append("**Loss counts side by side** (medians over runs)\n")
    out.append(losses_side_by_side(res, libs) + "\n")
    for scen, title in (("flood_1t", "1 producer thread"), ("flood_4t", "4 producer threads")):
        if scen not in res:
            continue
        e = res[scen]["libs"]
        rows = []
        for lib in [*libs, "baseline"]:
            x = e.get(lib)
            if x is None:
                continue
            rows.append(
                [
                    NAMES[lib],
                    f(x.get("delivered")),
                    f(x.get("lost")),
                    f(x.get("lib_dropped")),
                    f(x.get("duplicates")),
                    f(x.get("us_per_call")),
                    f"{f(x.get('worst_call_ms'), 1)} / {f(x.get('worst_call_ms_max'), 1)}",
                    f(x.get("calls_over_10ms")),
                    f(x.get("calls_over_1ms")),
                    f"{f(x.get('calls_s'))} / {f(x.get('cpu_producers_s'))} / {f(x.get('cpu_lib_threads_s'))}",
                    f(x.get("flush_s")),
                    f(x.get("stderr_bytes")),
                    _loads(x),
                ]
            )
        out.append(f"**{title}**\n")
        out.append(
            table(
                [
                    "library",
                    "delivered",
                    "lost",
                    "library's count",
                    "duplicates",
                    "µs/call (wall)",
                    "worst call ms (median / max)",
                    "calls > 10 ms",
                    "calls > 1 ms",
                    "calls wall s / CPU s: producers / library threads",
                    "flush after s",
                    "stderr bytes",
                    "load avg at runs",
                ],
                rows,
            )
            + "\n"
        )
    return out


def flags_defaults(res: Dict[str, Any], p: Dict[str, Any]) -> List[str]:
    if "flags_defaults" not in res:
        return []
    s = res["flags_defaults"]["libs"]
    ids = p.get("flags_defaults_ids", 0)
    out = ["## 8. Flags loop with library defaults (issue 9)\n"]
    out.append(
        f"The 50 flags of section 5 × {ids:,} distinct ids (plus one warm-up id), evaluated locally with "
        "`get_feature_flag_result(key, id, person_properties=..., groups=..., group_properties=...)` and every "
        "other setting at its default: `$feature_flag_called` on, the default queue of 10,000, default "
        "batching. Expected = the distinct (id, flag, value) triples evaluated (each library reports each "
        f"one once): {f(s.get('analytics_compat', s.get('posthog', {})).get('sent'))} here. delivered = "
        "distinct `$feature_flag_called` events at the sink; lost = expected − delivered. segment has no flags.\n"
    )
    rows = []
    for lib in ("analytics_compat", "posthog"):
        x = s.get(lib)
        if x is None:
            continue
        rows.append(
            [
                NAMES[lib],
                f(x.get("sent")),
                f(x.get("delivered")),
                f(x.get("lost")),
                f(x.get("lib_dropped")),
                f(x.get("duplicates")),
                f(x.get("us_per_eval")),
                f(x.get("remote_flag_requests")),
                _loads(x),
            ]
        )
    out.append(
        table(
            [
                "library",
                "`$feature_flag_called` expected",
                "delivered at sink",
                "lost",
                "library's count",
                "duplicates",
                "µs/eval",
                "/flags requests",
                "load avg at runs",
            ],
            rows,
        )
        + "\n"
    )
    return out


def drain_cpu(res: Dict[str, Any], libs: List[str]) -> List[str]:
    d = res.get("drain", {}).get("libs", {})
    if not any(d.get(lib, {}).get("cpu_lib_threads_s") is not None for lib in libs):
        return []
    rows = []
    for lib in libs:
        x = d.get(lib, {})
        rows.append(
            [
                NAMES[lib],
                f(x.get("total_s")),
                f(x.get("flush_s")),
                f(x.get("cpu_main_s")),
                f(x.get("cpu_lib_threads_s")),
                f(x.get("cpu_process_s")),
                f(x.get("sink_cpu_s")),
            ]
        )
    return [
        "Where the drain's time goes (same runs, medians): CPU seconds of the producer (main thread), of the "
        "library's own threads (its delivery worker) and of the sink process, against the wall time. One "
        "interpreter lock serves producer and worker, so their CPU adds up to about the wall time at most "
        "(C code that lets the lock go, such as zlib, aside); the sink runs in its own process, on the "
        "other core.\n",
        table(
            [
                "library",
                "wall s",
                "of which flush s",
                "producer CPU s",
                "library threads CPU s",
                "process CPU s",
                "sink CPU s",
            ],
            rows,
        )
        + "\n",
        *_drain_bound(d.get("analytics_compat", {})),
    ]


def _drain_bound(x: Dict[str, Any]) -> List[str]:
    """What bounds analytics_compat's drain, read off its CPU figures."""
    wall, cpu, sink = x.get("total_s"), x.get("cpu_process_s"), x.get("sink_cpu_s")
    if not (wall and cpu) or cpu < 0.9 * wall:
        return []
    return [
        f"**What bounds analytics_compat's drain**: its process used {f(cpu)} s of CPU in "
        f"{f(wall)} s of wall time (the sink {f(sink)} s, on the other core), so the bound is "
        "the one interpreter lock its producer and worker share, not the network or the "
        f"server: of those {f(cpu)} s the worker took {f(x.get('cpu_lib_threads_s'))} s "
        "(encoding, compression, the request, settling the promises: see the *drain_worker* "
        "profile) and the producer's calls the rest. Faster needs fewer instructions per "
        "event on the worker, or a second process.\n"
    ]


IMPORT_RESULT = "benchmarks/results/import_1m.json"
IMPORT_COLUMNS = ["events sent", "expected", "seconds", "events/s", "peak RSS MiB"]
IMPORT_COLUMNS += ["CPU s import / server", "stored counts match", "exit"]


def _import_bound(r: Dict[str, Any]) -> str:
    wall, mine, server = r["seconds"], r["import_cpu_seconds"], r["server_cpu_seconds"]
    for name, cpu in (("the import command", mine), ("the dev server", server)):
        if cpu >= 0.9 * wall:
            return f"{name.capitalize()} is the bound: busy {f(cpu, 1)} of {f(wall, 1)} s."
    return (
        f"Neither process is busy all the time ({f(mine, 1)} + {f(server, 1)} CPU s in "
        f"{f(wall, 1)} s): they take turns, the importer waiting for the server's answers "
        "within its in-flight cap and the server for the next request; the larger share is "
        + ("the dev server's (one SQLite writer)." if server > mine else "the importer's.")
    )


def history_import(root: str) -> List[str]:
    """The historical import's section, from the last ``import_bench`` run saved beside
    the JSON (it runs on its own: about 7 minutes for 1,000,000 lines); none if absent."""
    path = os.path.join(root, IMPORT_RESULT)
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        r = json.load(fh)
    load = r.get("load_average_before") or [None]
    return [
        "## 9. Historical import (`analytics-compat import`)\n",
        f"`python -m benchmarks.import_bench --lines {r['lines']} --layout {r['layout']} --check "
        f"> {IMPORT_RESULT}` (run on its own, saved, and rendered here): a generated Segment export "
        f"of {r['lines']:,} lines ({r['duplicates_in_export']:,} duplicate messageIds, every "
        "message type) imported into the dev server (`analytics-compat serve`, "
        "SQLite file) in another process; peak RSS is the import process's. analytics_compat "
        f"only: the peers have no import command. Machine: {r.get('machine', '–')}; load "
        f"average before the run {f(load[0])}.\n",
        table(
            IMPORT_COLUMNS,
            [
                [
                    f(r["events_sent"]),
                    f(r["events_expected"]),
                    f(r["seconds"], 1),
                    f(r["events_per_second"]),
                    f(r["peak_rss_mib"], 1),
                    f"{f(r['import_cpu_seconds'], 1)} / {f(r['server_cpu_seconds'], 1)}",
                    "yes" if r["stored_counts_match"] else "**no**",
                    str(r["exit_status"]),
                ]
            ],
        )
        + "\n",
        "The import streams (the in-flight cap bounds what is held), so peak memory does not "
        "grow with the file. " + _import_bound(r) + "\n",
    ]
