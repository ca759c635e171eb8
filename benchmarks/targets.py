"""The benchmark's targets (issue 9's among them), their evaluation, and the profiling runs.

Owns ``TARGETS`` (what analytics_compat must reach, as a fixed threshold or relative
to a peer measured in the same run), ``evaluate_targets`` over the results, and
``take_profiles`` (separate profiled runs: cProfile, tracemalloc). It must not know
how a scenario is run or how the report is laid out.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Union

from benchmarks.harness import Sink, log, run_worker


class Relative(NamedTuple):
    """A threshold of ``max(floor, factor x peer's metric + offset)``, the peer measured in
    the same run.

    With a floor of 0, a peer that loses nothing means we must lose nothing either.
    """

    peer: str
    metric: str
    factor: float
    floor: float = 0.0
    offset: float = 0.0

    def describe(self) -> str:
        share = f"1/{1 / self.factor:g}" if self.factor < 1 else f"{self.factor:g}x"
        plus = f" + {self.offset:g}" if self.offset else ""
        return f"max({self.floor:g}, {self.peer} {self.metric} x {share}{plus})"


class Target(NamedTuple):
    scenario: str
    metric: str
    cmp: str
    threshold: Union[float, Relative]
    description: str
    note: str = ""


LOAD_NOTE = (
    "sensitive to machine load (a producer descheduled by the OS counts as a slow call): "
    "read it with the load average beside it"
)

TARGETS: List[Target] = [
    Target(
        "calls_1t", "ratio_vs_posthog", "<=", 0.10,
        "track() call cost <= 1/10 of posthog capture() (1 thread)",
    ),
    Target(
        "calls_4t", "ratio_vs_posthog", "<=", 0.10,
        "track() call cost <= 1/10 of posthog capture() (4 threads)",
    ),
    Target("drain", "ratio_vs_posthog", ">=", 8.0, "drain rate >= 8x posthog (issue 9)"),
    Target("memory", "ratio_vs_posthog", "<=", 0.5, "memory per queued event <= 1/2 of posthog"),
    Target("latency", "p99_us", "<=", 50.0, "p99 call latency with a stalled server <= 50 us"),
    Target(
        "flags_off", "speedup_vs_posthog", ">=", 8.0,
        "flag evaluation >= 8x faster than posthog (issue 13)",
    ),
    Target(
        "flags_on", "speedup_vs_posthog", ">=", 10.0,
        "flag evaluation with $feature_flag_called >= 10x faster",
    ),
    Target("import", "ratio_vs_posthog", "<=", 1.0, "cold import time no worse than posthog"),
    Target(
        "flood_1t", "lost", "<=", Relative("posthog", "lost", 0.1),
        "flood, library defaults, 1 thread: events lost <= max(0, posthog's / 10) (issue 9)",
        "when posthog-python loses 0, analytics_compat must lose 0",
    ),
    Target(
        "flood_4t", "lost", "<=", Relative("posthog", "lost", 0.1),
        "flood, library defaults, 4 threads: events lost <= max(0, posthog's / 10) (issue 9)",
        "when posthog-python loses 0, analytics_compat must lose 0",
    ),
    Target(
        "flood_1t", "worst_call_ms", "<=", 10.0,
        "flood, 1 thread: worst single call <= 10 ms (issue 9)", LOAD_NOTE,
    ),
    Target(
        "flood_4t", "worst_call_ms", "<=", 10.0,
        "flood, 4 threads: worst single call <= 10 ms (issue 9)",
        LOAD_NOTE + "; with 4 producers a call also waits for the other threads' turns on the "
        "interpreter lock (sys.getswitchinterval() each): compare the no-library row of section 7",
    ),
    # The interpreter alone (the no-library baseline: the same producers, the same data)
    # already has slow calls: garbage collections of a large heap, other threads' turns.
    # What the library adds on top is what it can answer for.
    Target(
        "flood_1t", "worst_call_ms", "<=", Relative("baseline", "worst_call_ms", 1.0, 0, 10.0),
        "flood, 1 thread: worst single call <= the no-library baseline's + 10 ms", LOAD_NOTE,
    ),
    Target(
        "flood_4t", "worst_call_ms", "<=", Relative("baseline", "worst_call_ms", 1.0, 0, 10.0),
        "flood, 4 threads: worst single call <= the no-library baseline's + 10 ms", LOAD_NOTE,
    ),
    Target(
        "flags_defaults", "lost", "<=", Relative("posthog", "lost", 0.1),
        "flags loop, library defaults: $feature_flag_called lost <= max(0, posthog's / 10)"
        " (issue 9; aim: none)",
        "when posthog-python loses 0, analytics_compat must lose 0",
    ),
]  # fmt: skip


def _compare(value: float, cmp: str, threshold: float) -> bool:
    return value <= threshold if cmp == "<=" else value >= threshold


def evaluate_targets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    out = []
    for t in TARGETS:
        libs = results.get(t.scenario, {}).get("libs", {})
        value = libs.get("analytics_compat", {}).get(t.metric)
        threshold: Optional[float]
        if isinstance(t.threshold, Relative):
            rel = t.threshold
            peer = libs.get(rel.peer, {}).get(rel.metric)
            threshold = None if peer is None else max(rel.floor, peer * rel.factor + rel.offset)
            wanted = f"{t.cmp} {rel.describe()}" + (
                "" if threshold is None else f" = {threshold:,.6g}"
            )
        else:
            threshold = t.threshold
            wanted = f"{t.cmp} {threshold:g}"
        met = None if value is None or threshold is None else _compare(value, t.cmp, threshold)
        context = libs.get("analytics_compat", {}).get("context_" + t.metric)
        out.append(
            {
                "scenario": t.scenario,
                "metric": t.metric,
                "target": wanted,
                "threshold": threshold,
                "value": value,
                "met": met,
                "description": t.description,
                "note": "; ".join(x for x in (t.note, context) if x),
            }
        )
    return out


Make = Callable[[Dict[str, Any]], Dict[str, Any]]

PROFILE_CFG: Dict[str, Make] = {
    "calls_1t": lambda p: {"scenario": "calls", "n": p["calls_n"], "threads": 1, "profile": True},
    "calls_4t": lambda p: {"scenario": "calls", "n": p["calls_n"], "threads": 4, "profile": True},
    "drain": lambda p: {"scenario": "drain", "n": p["drain_n"] // 2, "profile": True},
    # the delivery worker alone: what bounds the drain
    "drain_worker": lambda p: {"scenario": "drain", "n": p["drain_n"] // 2, "profile": "started"},
    "memory": lambda p: {"scenario": "memory", "n": p["memory_n"] // 4, "tracemalloc": True},
    "latency": lambda p: {
        "scenario": "latency",
        "n": p["latency_n"] // 2,
        "queue": p["latency_queue"],
        "profile": True,
    },
    "flags_off": lambda p: {
        "scenario": "flags",
        "events": False,
        "ids": max(100, p["flag_ids"] // 4),
        "profile": True,
    },
    "flags_on": lambda p: {
        "scenario": "flags",
        "events": True,
        "ids": max(100, p["flag_ids"] // 4),
        "profile": True,
    },
    # the delivery worker while producers flood it (what it does with the time it gets)
    "flood_1t": lambda p: {
        "scenario": "flood", "n": p["flood_n"], "threads": 1, "profile": "started",
    },
    "flood_4t": lambda p: {
        "scenario": "flood", "n": p["flood_n"], "threads": 4, "profile": "started",
    },
    "flags_defaults": lambda p: {
        "scenario": "flags_defaults",
        "ids": max(100, p["flags_defaults_ids"] // 4),
        "profile": True,
    },
}  # fmt: skip

# Always taken in a full run (``--profile missed``), whatever the targets say.
ALWAYS = ["drain_worker"]
# A profile name -> the results entry it belongs with.
OF_SCENARIO = {"drain_worker": "drain"}


def wanted_profiles(mode: str, targets: List[Dict[str, Any]], results: Dict[str, Any]) -> List[str]:
    """``none``, ``missed`` (missed targets + ALWAYS), ``all``, or a comma-separated list."""
    if mode == "none":
        return []
    if mode not in ("missed", "all"):
        return [name for name in mode.split(",") if name in PROFILE_CFG]
    names: List[str] = []
    for t in targets:
        scen = t["scenario"]
        if scen in results and scen not in names and (mode == "all" or t["met"] is False):
            names.append(scen)
    if mode == "all":
        names += [n for n in PROFILE_CFG if n not in names and OF_SCENARIO.get(n, n) in results]
    names += [n for n in ALWAYS if n not in names and OF_SCENARIO.get(n, n) in results]
    if "calls_4t" in names and "calls_1t" not in names:
        names.insert(0, "calls_1t")  # the single-thread profile, for contrast
    return [n for n in names if n in PROFILE_CFG]


def take_profiles(
    sink: Sink, names: List[str], p: Dict[str, Any], libs: List[str], extra: Dict[str, Any]
) -> Dict[str, Dict[str, str]]:
    profiles: Dict[str, Dict[str, str]] = {}
    for name in names:
        make = PROFILE_CFG[name]
        profiles[name] = {}
        for lib in libs:
            if name.startswith("flags") and lib == "segment":
                continue
            cfg = make(p)
            cfg.update(extra)
            cfg.update(lib=lib, host=sink.url, stall_host=sink.stall_url)
            res = run_worker(cfg)
            sink.collect(None)
            profiles[name][lib] = res.get("profile") or f"(no profile: {res.get('error', '?')})"
            log(f"  profiled {name} {lib}")
    return profiles
