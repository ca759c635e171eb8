"""Benchmark analytics_compat against posthog-python and segment-analytics-python.

    python -m benchmarks.run                  # full run, ~8-10 min on 2 cores
    python -m benchmarks.run --quick --check  # small sizes, 1 run, < 60 s; exit 1 on a failed check

A full run writes BENCHMARKS.md and benchmarks/results/latest.json.

Each (library, scenario, run) is its own process (``benchmarks.worker``), all
against one loopback sink process (``benchmarks.sink``) that counts what arrives.
See benchmarks/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import metadata
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
LIBS = ["analytics_compat", "posthog", "segment"]
SCENARIOS = ["calls", "drain", "memory", "latency", "flags", "import"]

FULL = {
    "runs": 3,
    "calls_runs": 4,
    "calls_n": 50_000,
    "drain_n": 200_000,
    "memory_n": 200_000,
    "latency_n": 100_000,
    "latency_queue": 1000,
    "flag_ids": 2000,
    "import_reps": 9,
}
QUICK = {
    "runs": 1,
    "calls_runs": 1,
    "calls_n": 8_000,
    "drain_n": 20_000,
    "memory_n": 20_000,
    "latency_n": 10_000,
    "latency_queue": 1000,
    "flag_ids": 100,
    "import_reps": 3,
}

# (scenario, metric, comparison, threshold, description)
TARGETS = [
    (
        "calls_1t",
        "ratio_vs_posthog",
        "<=",
        0.10,
        "track() call cost <= 1/10 of posthog capture() (1 thread)",
    ),
    (
        "calls_4t",
        "ratio_vs_posthog",
        "<=",
        0.10,
        "track() call cost <= 1/10 of posthog capture() (4 threads)",
    ),
    ("drain", "ratio_vs_posthog", ">=", 3.0, "drain rate >= 3x posthog"),
    ("memory", "ratio_vs_posthog", "<=", 0.5, "memory per queued event <= 1/2 of posthog"),
    ("latency", "p99_us", "<=", 50.0, "p99 call latency with a stalled server <= 50 us"),
    ("flags_off", "speedup_vs_posthog", ">=", 5.0, "flag evaluation >= 5x faster than posthog"),
    (
        "flags_on",
        "speedup_vs_posthog",
        ">=",
        10.0,
        "flag evaluation with $feature_flag_called >= 10x faster",
    ),
    ("import", "ratio_vs_posthog", "<=", 1.0, "cold import time no worse than posthog"),
]


# --------------------------------------------------------------------------- plumbing


class Sink:
    def __init__(self, defs_path: str) -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "benchmarks.sink", "--defs", defs_path],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ports = json.loads(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{ports['port']}"
        self.stall_url = f"http://127.0.0.1:{ports['stall_port']}"

    def stats(self, reset: bool = False) -> Dict[str, Any]:
        with urllib.request.urlopen(
            self.url + "/__stats" + ("?reset=1" if reset else ""), timeout=60
        ) as r:
            return json.loads(r.read())

    def collect(self, expected: Optional[int]) -> Dict[str, Any]:
        """Wait (briefly) until ``expected`` events arrived, then take the stats and reset."""
        if expected:
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and self.stats()["events"] < expected:
                time.sleep(0.1)
        return self.stats(reset=True)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_worker(cfg: Dict[str, Any], timeout: float = 300.0) -> Dict[str, Any]:
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [PY, "-m", "benchmarks.worker", json.dumps(cfg)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"ok": False, "error": f"worker timed out after {timeout} s"}
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            err.seek(0)
            tail = err.read()[-2000:].decode("utf-8", "replace")
            return {
                "ok": False,
                "error": f"worker exited {proc.returncode} without a result",
                "stderr": tail,
            }
        result: Dict[str, Any] = json.loads(lines[-1])
        err.seek(0, 2)
        result["stderr_bytes"] = err.tell()
    return result


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def median(values: List[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Checks:
    def __init__(self) -> None:
        self.items: List[Dict[str, Any]] = []

    def add(self, name: str, ok: bool, detail: str, lib: str = "analytics_compat") -> None:
        self.items.append({"name": name, "ok": bool(ok), "lib": lib, "detail": detail})
        if not ok:
            log(f"  CHECK FAILED [{lib}] {name}: {detail}")

    def delivery(self, scen: str, lib: str, stats: Dict[str, Any], sent: int) -> None:
        ok = (
            stats["events"] == sent
            and stats["distinct_ids"] == sent
            and stats["duplicates"] == 0
            and stats["missing_ids"] == 0
            and stats["undecodable_bodies"] == 0
        )
        self.add(
            f"{scen}: every event arrived exactly once",
            ok,
            f"sent {sent}, sink got {stats['events']} events, "
            f"{stats['distinct_ids']} distinct ids, "
            f"{stats['duplicates']} duplicates, {stats['missing_ids']} without id",
            lib,
        )

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [c for c in self.items if not c["ok"]]


def rotated(libs: List[str], r: int) -> List[str]:
    k = r % len(libs)
    return libs[k:] + libs[:k]


def per_run_ratio(
    runs: Dict[str, List[Any]], key: str, a: str, b: str, invert: bool = False
) -> Optional[float]:
    """Median over runs of a/b (or b/a) for the same run index."""
    ratios = []
    for ra, rb in zip(runs.get(a, []), runs.get(b, [])):
        va, vb = (ra or {}).get(key), (rb or {}).get(key)
        if va and vb:
            ratios.append(vb / va if invert else va / vb)
    return median(ratios)


# --------------------------------------------------------------------------- scenarios


def bench_workers(
    name: str,
    sink: Sink,
    libs: List[str],
    runs: int,
    checks: Checks,
    make_cfg: Callable[[str], Dict[str, Any]],
    expected: Optional[Callable[[str, Dict[str, Any]], Optional[int]]] = None,
) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {lib: [] for lib in libs}
    for r in range(runs):
        for lib in rotated(libs, r):
            cfg = make_cfg(lib)
            cfg.update(lib=lib, host=sink.url, stall_host=sink.stall_url)
            t0 = time.monotonic()
            res = run_worker(cfg)
            sent = expected(lib, res) if (expected and res.get("ok")) else None
            res["sink"] = sink.collect(sent)
            if not res.get("ok"):
                checks.add(
                    f"{name}: worker ran",
                    False,
                    res.get("error", "?") + "\n" + res.get("traceback", res.get("stderr", "")),
                    lib,
                )
            elif sent is not None:
                checks.delivery(name, lib, res["sink"], sent)
            log(
                f"  {name} run {r + 1}/{runs} {lib:17s} {time.monotonic() - t0:5.1f}s  "
                + summary(name, res)
            )
            out[lib].append(res)
    return out


def summary(name: str, res: Dict[str, Any]) -> str:
    if not res.get("ok"):
        return "ERROR " + res.get("error", "")
    keys = {
        "calls": ("us_per_call", "us/call"),
        "drain": ("events_per_s", "events/s"),
        "memory": ("bytes_per_event", "B/event"),
        "latency": ("p99_us", "us p99"),
        "flags": ("us_per_eval", "us/eval"),
    }
    for prefix, (key, unit) in keys.items():
        if name.startswith(prefix) and key in res:
            return f"{res[key]:,.2f} {unit}"
    return res.get("skipped", "")


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
            ["events_per_s", "total_s", "enqueue_s", "flush_s"],
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


def summarize(
    runs: Dict[str, List[Dict[str, Any]]], keys: List[str], main_key: str, lower_better: bool
) -> Dict[str, Any]:
    libs: Dict[str, Dict[str, Any]] = {}
    for lib, results in runs.items():
        good = [r for r in results if r.get("ok") and not r.get("skipped")]
        entry: Dict[str, Any] = {"runs": len(good), "errors": len(results) - len(good)}
        for key in keys:
            entry[key] = median([r.get(key) for r in good if r.get(key) is not None])
        entry["all_" + main_key] = [r.get(main_key) for r in good]
        libs[lib] = entry
    out: Dict[str, Any] = {"main_metric": main_key, "lower_is_better": lower_better, "libs": libs}
    if "analytics_compat" in runs:
        for peer in ("posthog", "segment"):
            if peer in runs:
                libs["analytics_compat"]["ratio_vs_" + peer] = per_run_ratio(
                    runs, main_key, "analytics_compat", peer
                )
                libs["analytics_compat"]["speedup_vs_" + peer] = per_run_ratio(
                    runs, main_key, "analytics_compat", peer, invert=True
                )
    out["_runs"] = {
        lib: [{k: v for k, v in r.items() if k != "profile"} for r in rs]
        for lib, rs in runs.items()
    }
    return out


# --------------------------------------------------------------------------- targets and profiles


def evaluate_targets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    out = []
    for scen, metric, cmp, threshold, desc in TARGETS:
        entry = results.get(scen, {}).get("libs", {}).get("analytics_compat", {})
        value = entry.get(metric)
        met = None if value is None else (value <= threshold if cmp == "<=" else value >= threshold)
        out.append(
            {
                "scenario": scen,
                "metric": metric,
                "target": f"{cmp} {threshold:g}",
                "value": value,
                "met": met,
                "description": desc,
            }
        )
    return out


PROFILE_CFG = {
    "calls_1t": lambda p: {"scenario": "calls", "n": p["calls_n"], "threads": 1, "profile": True},
    "calls_4t": lambda p: {"scenario": "calls", "n": p["calls_n"], "threads": 4, "profile": True},
    "drain": lambda p: {"scenario": "drain", "n": p["drain_n"] // 2, "profile": True},
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
}


def take_profiles(
    sink: Sink, scenarios: List[str], p: Dict[str, Any], libs: List[str]
) -> Dict[str, Dict[str, str]]:
    profiles: Dict[str, Dict[str, str]] = {}
    for scen in scenarios:
        make = PROFILE_CFG.get(scen)
        if make is None:
            continue
        profiles[scen] = {}
        for lib in libs:
            if scen.startswith("flags") and lib == "segment":
                continue
            cfg = make(p)
            cfg.update(lib=lib, host=sink.url, stall_host=sink.stall_url)
            res = run_worker(cfg)
            sink.collect(None)
            profiles[scen][lib] = res.get("profile") or f"(no profile: {res.get('error', '?')})"
            log(f"  profiled {scen} {lib}")
    return profiles


# --------------------------------------------------------------------------- machine


def machine() -> Dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count() or 0
    mem = "?"
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for dist in ("analytics-compat", "posthog", "segment-analytics-python", "requests", "urllib3"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "nproc": ncpu,
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
        "loadavg_start": os.getloadavg(),
    }


def git_commit() -> Optional[str]:
    """The benchmarked commit, with ``+dirty`` if analytics_compat/ has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "analytics_compat"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (head + ("+dirty" if dirty else "")) or None


# --------------------------------------------------------------------------- main


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
        choices=["missed", "all", "none"],
        help="cProfile/tracemalloc runs: for missed targets (default for a full run), "
        "every scenario, or none (default with --quick)",
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
    )
    log(
        f"benchmarks ({meta['mode']}): {meta['nproc']} cpu {meta['cpu']}, "
        f"Python {meta['python']}, load {meta['loadavg_start']}"
    )
    sink = Sink(defs_path)
    extra: Dict[str, Any] = {}
    try:
        for scen in scenarios:
            log(f"[{scen}]")
            if scen == "import":
                results.update(scenario_import(libs, params, checks))
                continue
            fn = {"calls": scenario_calls, "drain": scenario_drain, "memory": scenario_memory,
                  "latency": scenario_latency, "flags": scenario_flags}[scen]  # fmt: skip
            results.update(fn(sink, libs, params, checks, extra))
        targets = evaluate_targets(results)
        profiles: Dict[str, Any] = {}
        if profile_mode != "none":
            wanted = [
                t["scenario"]
                for t in targets
                if t["scenario"] in results and (profile_mode == "all" or t["met"] is False)
            ]
            if "calls_4t" in wanted and "calls_1t" not in wanted:
                wanted.insert(0, "calls_1t")  # the single-thread profile, for contrast
            if wanted:
                log(f"[profiles] {', '.join(wanted)}")
                # peers too only with --profile all (their runs are the slow ones)
                who = libs if profile_mode == "all" else ["analytics_compat"]
                profiles = take_profiles(sink, wanted, params, who)
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
            log(
                f"  target {'MET   ' if t['met'] else 'MISSED'} {t['description']}: "
                f"{t['value']:.3f} ({t['target']})"
            )
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
