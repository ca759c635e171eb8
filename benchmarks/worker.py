"""One measurement: one library, one scenario, in its own process.

``python -m benchmarks.worker '<json config>'`` prints one JSON line (the result)
and exits with ``os._exit`` so no library's exit hook (drain at exit, joins on a
stalled server) runs after the measurement. The parent (``benchmarks.run``) owns
the sink and checks what arrived there.

This module owns the scenarios with the benchmark's common settings (calls, drain,
memory, latency) and the entry point; flags are in ``benchmarks.worker_flags``, the
library-defaults scenarios (flood, flags_defaults) in ``benchmarks.worker_defaults``,
the libraries and the workload in ``benchmarks.libs``. Config keys every scenario
reads: ``scenario``, ``lib``, ``host``, ``stall_host``; ``options`` (the variant's
client options, e.g. ``{"capture_mode": "v1"}``) is optional.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from typing import Any, Dict, List

from benchmarks import libs
from benchmarks.libs import LIBS, UIDS, props, props_list
from benchmarks.profiling import Profiler, ThreadCPU
from benchmarks.worker_defaults import scenario_flags_defaults, scenario_flood
from benchmarks.worker_flags import scenario_flags


def rss_kb() -> Dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


# --------------------------------------------------------------------------- scenarios


def scenario_calls(cfg: Dict[str, Any]) -> Dict[str, Any]:
    lib = LIBS[cfg["lib"]]
    n, threads, warm = cfg["n"], cfg["threads"], cfg.get("warmup", 2000)
    # Room for every event twice over: analytics_compat makes a producer wait for its
    # worker above half of maxQueueSize (backpressure, measured by the flood scenario);
    # this scenario measures what a call costs when the queue is not under pressure.
    client = lib.make(cfg["host"], queue=2 * (n + warm) + 10_000)
    lib.loop(client, UIDS, props_list(warm, 10_000_000))
    lib.flush(client)
    per = n // threads
    plists = [props_list(per, t * per) for t in range(threads)]
    uid_lists = [UIDS[t * 7 % 2000 :] + UIDS[: t * 7 % 2000] for t in range(threads)]
    barrier = threading.Barrier(threads + 1)
    spans: List[Any] = [None] * threads
    prof = Profiler("caller") if cfg.get("profile") else None

    def producer(t: int) -> None:
        barrier.wait()
        if prof and t == 0:
            prof.start()
        t0 = time.perf_counter()
        lib.loop(client, uid_lists[t], plists[t])
        spans[t] = (t0, time.perf_counter())
        if prof and t == 0:
            prof.stop()

    gc.collect()
    workers = [threading.Thread(target=producer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    for w in workers:
        w.join()
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    per_thread = [(s[1] - s[0]) / per * 1e6 for s in spans]
    t0 = time.perf_counter()
    lib.flush(client)
    tail = time.perf_counter() - t0
    result = {
        "calls": per * threads,
        "us_per_call": wall / (per * threads) * 1e6,
        "us_per_call_per_thread": sum(per_thread) / len(per_thread),
        "calls_per_s": per * threads / wall,
        "flush_after_s": tail,
        "sent": per * threads + warm,
        "dropped": lib.dropped(client),
    }
    if prof:
        result["profile"] = prof.report()
    return result


def scenario_drain(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Enqueue ``n`` events, then a blocking flush; CPU seconds per thread over the same span.

    ``profile``: True (or ``"all"``) profiles the producer and the library's threads
    together; ``"started"`` only the threads the library starts (its delivery worker).
    """
    lib = LIBS[cfg["lib"]]
    n = cfg["n"]
    extra = dict(cfg.get("extra") or {})
    mode = cfg.get("profile")
    prof = Profiler("all" if mode is True else mode) if mode else None
    if prof:
        prof.start()  # before the client: its delivery thread starts in the constructor
    client = lib.make(cfg["host"], queue=n + 1000, **extra)
    plist = props_list(n)
    gc.collect()
    cpu = ThreadCPU()
    t0 = time.perf_counter()
    lib.loop(client, UIDS, plist)
    t1 = time.perf_counter()
    lib.flush(client)
    t2 = time.perf_counter()
    used = cpu.read()
    if prof:
        prof.stop()
    result = {
        "cpu": used,
        "cpu_main_s": used["main_s"],
        "cpu_lib_threads_s": used["threads_s"],
        "cpu_process_s": used["process_s"],
        "events": n,
        "events_per_s": n / (t2 - t0),
        "total_s": t2 - t0,
        "enqueue_s": t1 - t0,
        "flush_s": t2 - t1,
        "sent": n,
        "dropped": lib.dropped(client),
    }
    if prof:
        result["profile"] = prof.report()
    return result


def scenario_memory(cfg: Dict[str, Any]) -> Dict[str, Any]:
    lib = LIBS[cfg["lib"]]
    n = cfg["n"]
    client = lib.make(cfg["stall_host"], queue=n + 10_000, timeout=120.0)
    f = lib.one(client)
    # Let the worker start its first (never answered) request before the baseline.
    for i in range(150):
        f(UIDS[i % 2000], props(i))
    time.sleep(0.3)
    trace = cfg.get("tracemalloc")
    if trace:
        import tracemalloc

        tracemalloc.start(1)
        snap0 = tracemalloc.take_snapshot()
    gc.collect()
    before = rss_kb()
    t0 = time.perf_counter()
    for i in range(150, 150 + n):
        f(UIDS[i % 2000], props(i))
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = rss_kb()
    result = {
        "events": n,
        "bytes_per_event": (after["VmRSS"] - before["VmRSS"]) * 1024 / n,
        "peak_bytes_per_event": (after["VmHWM"] - before["VmHWM"]) * 1024 / n,
        "rss_before_mb": before["VmRSS"] / 1024,
        "rss_after_mb": after["VmRSS"] / 1024,
        "enqueue_s": elapsed,
        "dropped": lib.dropped(client),
    }
    if trace:
        snap1 = tracemalloc.take_snapshot()
        stats = snap1.compare_to(snap0, "lineno")
        lines = []
        total = sum(s.size_diff for s in stats)
        for s in stats[:15]:
            frame = s.traceback[0]
            fname = frame.filename
            for prefix in sorted({p for p in sys.path if p and len(p) > 8}, key=len, reverse=True):
                fname = fname.replace(prefix + os.sep, "")
            per_event = f"{s.size_diff / n:8.1f} B/event {s.count_diff / n:6.2f} blocks/event"
            lines.append(f"{per_event}  {fname}:{frame.lineno}")
        result["profile"] = f"tracemalloc: {total / n:.1f} B/event in total\n" + "\n".join(lines)
    return result


def scenario_latency(cfg: Dict[str, Any]) -> Dict[str, Any]:
    lib = LIBS[cfg["lib"]]
    n, queue = cfg["n"], cfg["queue"]
    client = lib.make(cfg["stall_host"], queue=queue, timeout=120.0)
    f = lib.one(client)
    for i in range(queue * 2 + 200):  # fill the queue (and whatever the worker took)
        f(UIDS[i % 2000], props(i))
    time.sleep(0.2)
    clock = time.perf_counter_ns
    samples = [0] * n
    prof = Profiler("caller") if cfg.get("profile") else None
    gc.collect()
    if prof:
        prof.start()
    for i in range(n):
        p = props(i)
        uid = UIDS[i % 2000]
        t0 = clock()
        f(uid, p)
        samples[i] = clock() - t0
    if prof:
        prof.stop()
    samples.sort()

    def pct(q: float) -> float:
        return samples[min(n - 1, int(q * n))] / 1000.0

    result = {
        "calls": n,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "p999_us": pct(0.999),
        "max_us": samples[-1] / 1000.0,
        "mean_us": sum(samples) / n / 1000.0,
        "dropped": lib.dropped(client),
    }
    if prof:
        result["profile"] = prof.report()
    return result


SCENARIOS = {
    "flood": scenario_flood,
    "flags_defaults": scenario_flags_defaults,
    "calls": scenario_calls,
    "drain": scenario_drain,
    "memory": scenario_memory,
    "latency": scenario_latency,
    "flags": scenario_flags,
}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    libs.VARIANT.update(cfg.get("options") or {})
    logging_quiet = cfg.get("quiet_logs", False)
    if logging_quiet:
        import logging

        logging.disable(logging.CRITICAL)
    try:
        result = SCENARIOS[cfg["scenario"]](cfg)
        result["ok"] = True
        result["unsupported_options"] = list(libs.UNSUPPORTED)
    except Exception as exc:  # report, never hang the parent
        import traceback

        result = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
