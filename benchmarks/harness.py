"""Parent-side plumbing of the benchmark: the sink process, worker processes, checks, medians.

Owns starting the loopback sink (``benchmarks.sink``) and one worker process per
measurement (``benchmarks.worker``), collecting the sink's counts after each one,
the correctness checks' record, medians and per-run ratios, and the machine's
description. It must not know what a scenario measures (``benchmarks.run`` and
``benchmarks.run_defaults`` do) nor how the report is laid out.
"""

from __future__ import annotations

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


class Sink:
    """The sink process: a live port (``url``), a stalled one (``stall_url``), its counts."""

    def __init__(self, defs_path: Optional[str] = None) -> None:
        defs = ["--defs", defs_path] if defs_path else []
        self.proc = subprocess.Popen(
            [PY, "-m", "benchmarks.sink", *defs],
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

    def cpu_s(self) -> Optional[float]:
        """CPU seconds the sink process used so far (user + system), None off Linux."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # after the command name: state is field 3, utime 14 and stime 15 (1-based)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


def bench_workers(
    name: str,
    sink: Sink,
    libs: List[str],
    runs: int,
    checks: Checks,
    make_cfg: Callable[[str], Dict[str, Any]],
    expected: Optional[Callable[[str, Dict[str, Any]], Optional[int]]] = None,
    *,
    wait_for: Optional[Callable[[str, Dict[str, Any]], Optional[int]]] = None,
    after: Optional[Callable[[str, Dict[str, Any]], str]] = None,
) -> Dict[str, List[Dict[str, Any]]]:
    """Run ``runs`` x ``libs`` workers, libraries in rotated order in each run.

    ``expected(lib, res)``: events that must reach the sink, each exactly once (a check).
    ``wait_for(lib, res)``: events to wait for at the sink, without that check (a
    scenario where drops are allowed checks what it needs in ``after``).
    ``after(lib, res)``: called with the sink's counts in ``res["sink"]`` (only for a
    worker that ran); adds derived figures and checks, returns text for the log line.
    Each result also gets ``sink_cpu_s`` (CPU the sink used during the run) and
    ``loadavg_before`` (the machine's load average when the worker started).
    """
    out: Dict[str, List[Dict[str, Any]]] = {lib: [] for lib in libs}
    for r in range(runs):
        for lib in rotated(libs, r):
            cfg = make_cfg(lib)
            cfg.update(lib=lib, host=sink.url, stall_host=sink.stall_url)
            t0 = time.monotonic()
            load = os.getloadavg()
            cpu0 = sink.cpu_s()
            res = run_worker(cfg)
            cpu1 = sink.cpu_s()  # before collect: decoding the bodies for /__stats is not the run's
            ok = bool(res.get("ok"))
            sent = expected(lib, res) if (expected and ok) else None
            wait = wait_for(lib, res) if (wait_for and ok) else sent
            res["sink"] = sink.collect(wait)
            res["sink_cpu_s"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
            res["loadavg_before"] = load
            note = ""
            if not ok:
                checks.add(
                    f"{name}: worker ran",
                    False,
                    res.get("error", "?") + "\n" + res.get("traceback", res.get("stderr", "")),
                    lib,
                )
            else:
                if sent is not None:
                    checks.delivery(name, lib, res["sink"], sent)
                if after is not None:
                    note = after(lib, res)
                unsupported_options(checks, name, lib, cfg, res)
            log(
                f"  {name} run {r + 1}/{runs} {lib:17s} {time.monotonic() - t0:5.1f}s  "
                + summary(name, res)
                + (f"  {note}" if note else "")
            )
            out[lib].append(res)
    return out


def unsupported_options(
    checks: Checks, name: str, lib: str, cfg: Dict[str, Any], res: Dict[str, Any]
) -> None:
    """A variant option (``--capture-mode``) this library version ignored: not measured."""
    left_out = res.get("unsupported_options") or []
    if left_out:
        checks.add(
            f"{name}: the variant's options are known to the library",
            False,
            f"left out (unknown to this version): {', '.join(left_out)} of {cfg.get('options')}",
            lib,
        )


def summary(name: str, res: Dict[str, Any]) -> str:
    if not res.get("ok"):
        return "ERROR " + res.get("error", "")
    keys = {
        "calls": ("us_per_call", "us/call"),
        "drain": ("events_per_s", "events/s"),
        "memory": ("bytes_per_event", "B/event"),
        "latency": ("p99_us", "us p99"),
        "flags": ("us_per_eval", "us/eval"),
        "flood": ("us_per_call", "us/call"),
    }
    for prefix, (key, unit) in keys.items():
        if name.startswith(prefix) and key in res:
            return f"{res[key]:,.2f} {unit}"
    return res.get("skipped", "")


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
        "switch_interval_s": sys.getswitchinterval(),
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
