"""Parent side of the library-DEFAULTS scenarios (issue 9): flood and flags_defaults.

Owns what is counted for them (delivered at the sink, lost = sent - delivered, the
library's own drop count, duplicates), their correctness checks and their summary
with the loss counts of every library side by side. It must not know how a worker
measures (``benchmarks.worker_defaults``) nor how the report is laid out.

Correctness (a check, ``--check``): every event a library accepted (did not report
as dropped) reaches the sink exactly once; nothing is dropped when the queue holds
every event (flags_defaults in a quick run); in a quick run analytics_compat drops
nothing in the flood. How much is lost in the full-size flood is a target, not a
check (``benchmarks.targets``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from benchmarks.harness import Checks, Sink, bench_workers, summarize

# The flood's calibration (benchmarks.libs.Baseline): the same producers, no library.
BASELINE = "baseline"
DEFAULT_QUEUE = 10_000  # every library's default queue bound (maxQueueSize / max_queue_size)
FLAG_EVENT = "$feature_flag_called"

_COUNTS = ["sent", "delivered", "lost", "lib_dropped", "duplicates"]


def _exactly_once(
    checks: Checks, name: str, lib: str, res: Dict[str, Any], sent: int, delivered: int
) -> None:
    st, own = res["sink"], res.get("lib_dropped")
    if own is None:
        return  # no drop count: "accepted" is unknown, only the loss can be reported
    accepted = sent - own
    lib_delivered = res.get("lib_delivered")
    ok = (
        delivered == accepted
        and st["duplicates"] == 0
        and st["missing_ids"] == 0
        and st["undecodable_bodies"] == 0
        and lib_delivered in (None, delivered)
    )
    checks.add(
        f"{name}: every accepted event delivered exactly once",
        ok,
        f"sent {sent}, library dropped {own} ({res.get('lib_drop_source')}), so {accepted} "
        f"accepted; sink got {delivered} distinct, {st['duplicates']} duplicates, "
        f"{st['missing_ids']} without id"
        + ("" if lib_delivered is None else f"; library counted {lib_delivered} delivered"),
        lib,
    )


def _losses(s: Dict[str, Any], runs: Dict[str, List[Dict[str, Any]]]) -> None:
    """Loss ratio vs posthog-python and the context the targets table shows."""
    libs = s["libs"]
    ac, ph = libs.get("analytics_compat"), libs.get("posthog")
    for lib, entry in libs.items():
        good = [r for r in runs[lib] if r.get("ok")]
        entry["all_lost"] = [r.get("lost") for r in good]
        entry["loadavg_1m_runs"] = [round(r["loadavg_before"][0], 2) for r in good]
        worst = [r["worst_call_ms"] for r in good if r.get("worst_call_ms") is not None]
        entry["worst_call_ms_max"] = max(worst) if worst else None
    if ac is None:
        return
    if ph is not None and ph.get("lost") is not None and ac.get("lost") is not None:
        ac["lost_ratio_vs_posthog"] = ac["lost"] / ph["lost"] if ph["lost"] else None
    peers = [
        f"{lib} lost {libs[lib]['lost']:,.0f}"
        for lib in ("posthog", "segment")
        if lib in libs and libs[lib].get("lost") is not None
    ]
    ac["context_lost"] = ", ".join(peers)
    if ac.get("worst_call_ms_max") is not None:
        ac["context_worst_call_ms"] = (
            f"median of {ac['runs']} run(s); worst of all runs {ac['worst_call_ms_max']:.1f} ms; "
            f"load average (1 min) at each run: {ac['loadavg_1m_runs']}"
        )
        base = libs.get(BASELINE, {}).get("worst_call_ms")
        if base is not None:
            ac["context_worst_call_ms"] += f"; the same producers calling no library: {base:.1f} ms"


def scenario_flood(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    out = {}
    for threads in p["flood_threads"]:
        name = f"flood_{threads}t"

        def after(lib: str, res: Dict[str, Any], name: str = name) -> str:
            if lib == BASELINE:
                return f"worst call {res['worst_call_ms']:.1f} ms (no library)"
            st, sent = res["sink"], res["sent"]
            delivered = st["distinct_ids"]
            res.update(delivered=delivered, lost=sent - delivered, duplicates=st["duplicates"])
            _exactly_once(checks, name, lib, res, sent, delivered)
            if p.get("flood_no_drop_check") and lib == "analytics_compat":
                checks.add(
                    f"{name}: nothing dropped (quick flood)",
                    res["lost"] == 0 and not res.get("lib_dropped"),
                    f"sent {sent}, delivered {delivered}, library dropped {res.get('lib_dropped')}",
                    lib,
                )
            return (
                f"delivered {delivered:,}, lost {res['lost']:,} (library: {res['lib_dropped']}), "
                f"worst call {res['worst_call_ms']:.1f} ms, load {res['loadavg_before'][0]:.2f}"
            )

        def accepted(lib: str, res: Dict[str, Any]) -> Optional[int]:
            own = res.get("lib_dropped")
            return res["sent"] - own if own is not None else None

        runs = bench_workers(
            name, sink, [*libs, BASELINE], p["runs"], checks,
            lambda lib, t=threads: {
                "scenario": "flood",
                "n": p["flood_n"],
                "threads": t,
                "baseline_s": p["baseline_s"],
                **extra,
            },
            wait_for=accepted,
            after=after,
        )  # fmt: skip
        s = summarize(
            runs,
            [
                *_COUNTS,
                "us_per_call",
                "worst_call_ms",
                "calls_over_1ms",
                "calls_over_10ms",
                "calls_s",
                "cpu_producers_s",
                "cpu_lib_threads_s",
                "flush_s",
                "sink_cpu_s",
                "stderr_bytes",
            ],
            "us_per_call",
            lower_better=True,
        )
        _losses(s, runs)
        s["queue"] = DEFAULT_QUEUE
        out[name] = s
    return out


def scenario_flags_defaults(
    sink: Sink, libs: List[str], p: Dict[str, Any], checks: Checks, extra: Dict[str, Any]
) -> Dict[str, Any]:
    flag_libs = [lib for lib in libs if lib != "segment"]  # segment has no flags
    name = "flags_defaults"

    def after(lib: str, res: Dict[str, Any]) -> str:
        st = res["sink"]
        expected = res["flag_called_expected"]
        delivered = st.get("distinct_by_name", {}).get(FLAG_EVENT, 0)
        remote = sum(
            n for path, n in st["paths"].items() if path.rstrip("/") in ("/flags", "/decide")
        )
        res.update(
            sent=expected,
            delivered=delivered,
            lost=max(0, expected - delivered),
            beyond_expected=max(0, delivered - expected),
            duplicates=st["duplicates"],
            remote_flag_requests=remote,
        )
        _exactly_once(checks, name, lib, res, expected, delivered)
        if lib == "analytics_compat":
            checks.add(
                f"{name}: every flag decided locally",
                res["undecided"] == 0 and remote == 0,
                f"undecided={res['undecided']}, /flags requests={remote}",
                lib,
            )
            checks.add(
                f"{name}: one {FLAG_EVENT} per distinct (id, flag, value), none beyond",
                res["beyond_expected"] == 0 and st["duplicates"] == 0,
                f"expected {expected}, sink got {delivered} distinct "
                f"({st['duplicates']} duplicates)",
                lib,
            )
            if expected <= DEFAULT_QUEUE:
                checks.add(
                    f"{name}: nothing dropped (the queue holds every event)",
                    res["lost"] == 0,
                    f"expected {expected}, delivered {delivered}",
                    lib,
                )
        return f"{FLAG_EVENT}: expected {expected:,}, delivered {delivered:,}, lost {res['lost']:,}"

    def accepted(lib: str, res: Dict[str, Any]) -> Optional[int]:
        own = res.get("lib_dropped")
        return res["flag_called_expected"] - (own or 0)

    runs = bench_workers(
        name, sink, flag_libs, p["runs"], checks,
        lambda lib: {"scenario": name, "ids": p["flags_defaults_ids"], **extra},
        wait_for=accepted,
        after=after,
    )  # fmt: skip
    s = summarize(
        runs,
        [*_COUNTS, "us_per_eval", "evals_per_s", "undecided", "remote_flag_requests", "flush_s"],
        "us_per_eval",
        lower_better=True,
    )
    _losses(s, runs)
    s["queue"] = DEFAULT_QUEUE
    return {name: s}
