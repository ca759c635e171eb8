"""Worker side of the scenarios run with every library's DEFAULTS (issue 9): flood, flags_defaults.

Each client is built as a user gets it: only the key and the host (plus, for flags,
the personal key). Default queue (10,000 for all three), default batching, default
compression. What does not fit in the queue is dropped by the library; the parent
(``benchmarks.run_defaults``) counts what reached the sink and compares. This module
owns the measurement inside one process; it must not know about the sink's counts,
the other libraries' results or the targets.
"""

from __future__ import annotations

import gc
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchmarks.libs import LIBS, PERSONAL, UIDS, DropCounter, props_list
from benchmarks.profiling import OWN_THREADS, Profiler, ThreadCPU, loadavg
from benchmarks.worker_flags import timed_flag_loop

SLOW_NS = 1_000_000  # calls slower than 1 ms are kept (there are few) to count the slow tail


def scenario_flood(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``n`` calls as fast as ``threads`` producers can, library defaults throughout.

    Every call is timed (``perf_counter_ns`` around the call only) to find the worst one
    a producer saw. The library's own drop count is its counter where it keeps one
    (analytics_compat's ``stats``), else what the call returned (posthog-python's
    ``capture`` returns None, segment's ``track`` ``(False, msg)``, for a dropped event).
    """
    lib = LIBS[cfg["lib"]]
    n, threads = cfg["n"], cfg["threads"]
    load0 = loadavg()
    prof = Profiler(cfg["profile"]) if cfg.get("profile") else None
    cpu = ThreadCPU()
    if prof:
        prof.start()  # before the client: its delivery thread starts in the constructor
    client = lib.make_default(cfg["host"])
    f = lib.one(client)
    refused_of = lib.refused
    check_returns = lib.dropped(client) is None  # no counter: read the return values
    per = n // threads
    plists = [props_list(per, t * per) for t in range(threads)]
    worst = [0] * threads
    refused = [0] * threads
    slow: List[List[int]] = [[] for _ in range(threads)]
    spans: List[Tuple[float, float]] = [(0.0, 0.0)] * threads
    producer_cpu = [0.0] * threads  # read in each producer: a thread's clock ends with it
    done = [0] * threads
    # The baseline's calls are so cheap that one pass would end before the producers
    # ever contend for the interpreter lock: it repeats its list for ``min_s`` seconds.
    min_s = 0.0 if lib.sends else float(cfg.get("baseline_s", 1.0))
    barrier = threading.Barrier(threads + 1)
    clock = time.perf_counter_ns

    def producer(t: int) -> None:
        uids, plist, offset, slow_t = UIDS, plists[t], t * 7, slow[t]
        mx = nref = 0
        barrier.wait()
        t0, cpu0 = time.perf_counter(), time.thread_time()
        end = t0 + min_s
        while True:
            for i, p in enumerate(plist):
                c0 = clock()
                r = f(uids[(i + offset) % 2000], p)
                d = clock() - c0
                if d > mx:
                    mx = d
                if d > SLOW_NS:
                    slow_t.append(d)
                if check_returns and refused_of(r):
                    nref += 1
            done[t] += len(plist)
            if time.perf_counter() >= end:
                break
        spans[t] = (t0, time.perf_counter())
        producer_cpu[t] = time.thread_time() - cpu0
        worst[t], refused[t] = mx, nref

    gc.collect()
    workers = [
        threading.Thread(target=producer, args=(t,), name=f"{OWN_THREADS}producer-{t}")
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    barrier.wait()
    for w in workers:
        w.join()
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    cpu_calls = cpu.read()
    t1 = time.perf_counter()
    lib.flush(client)
    flush_s = time.perf_counter() - t1
    if prof:
        prof.stop()
    calls = sum(done)
    sent = calls if lib.sends else 0
    own = lib.dropped(client)
    slow_all = [d for s in slow for d in s]
    result: Dict[str, Any] = {
        "calls": calls,
        "sent": sent,
        "calls_s": wall,
        "us_per_call": wall / calls * 1e6,
        "worst_call_ms": max(worst) / 1e6,
        "worst_call_ms_by_thread": [w / 1e6 for w in worst],
        "calls_over_1ms": len(slow_all),
        "calls_over_10ms": sum(1 for d in slow_all if d > 10 * SLOW_NS),
        "flush_s": flush_s,
        "lib_dropped": own if own is not None else (sum(refused) if lib.sends else None),
        "lib_drop_source": "counter" if own is not None else "return value",
        "lib_delivered": lib.delivered(client),
        "lib_stats": dict(getattr(client, "stats", {}) or {}) if own is not None else None,
        "cpu_during_calls": cpu_calls,
        "cpu_producers_s": sum(producer_cpu),
        "cpu_lib_threads_s": cpu_calls["threads_s"],
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
    }
    if prof:
        result["profile"] = prof.report()
    return result


def _flag_evaluator(name: str, host: str) -> Tuple[Any, Callable[..., Any]]:
    """A default client with local evaluation, and ``evaluate(key, id, person, groups, gprops)``."""
    lib = LIBS[name]
    client = lib.make_default(host, personal_api_key=PERSONAL)
    if name == "posthog":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.load_feature_flags()

        def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
            res = client.get_feature_flag_result(
                key, did, groups=groups, person_properties=person, group_properties=gprops
            )
            return None if res is None else res.get_value()

        return client, evaluate
    if hasattr(client, "wait_for_local_evaluation_ready"):
        client.wait_for_local_evaluation_ready(15)

    def evaluate_compat(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
        res = client.get_feature_flag_result(
            key, did, groups=groups, person_properties=person, group_properties=gprops
        )
        return None if res is None else res.value

    def ready() -> bool:  # without an event: the probe must not add to the count
        res = client.get_feature_flag_result(
            "rollout-0",
            "warmup_probe",
            only_evaluate_locally=True,
            send_feature_flag_events=False,
        )
        return res is not None

    deadline = time.monotonic() + 15
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError("analytics_compat never loaded flag definitions")
        time.sleep(0.05)
    return client, evaluate_compat


def scenario_flags_defaults(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The flags loop with every library default: ``$feature_flag_called`` on, default queue.

    ``flag_called_expected`` is the number of distinct (id, flag, value) triples this
    process evaluated (warm-up included): what both libraries promise to report once.
    """
    from benchmarks.flagdefs import callers, definitions

    name = cfg["lib"]
    lib = LIBS[name]
    keys = [f["key"] for f in definitions()["flags"]]
    people = callers()[: cfg.get("ids", 2000)]
    load0 = loadavg()
    drops: Optional[DropCounter] = DropCounter("posthog") if name == "posthog" else None
    client, evaluate = _flag_evaluator(name, cfg["host"])
    seen: List[Tuple[str, str, Any]] = []
    # warm-up on an id outside the measured set (its events are expected too)
    warm = people[0]
    for key in keys:
        seen.append(("warmup_user", key, evaluate(key, "warmup_user", *warm[1:])))
    prof = Profiler("caller") if cfg.get("profile") else None
    values, elapsed = timed_flag_loop(evaluate, people, keys, prof)
    t1 = time.perf_counter()
    lib.flush(client)
    flush_s = time.perf_counter() - t1
    it = iter(values)
    for did, _person, _groups, _gprops in people:
        for key in keys:
            seen.append((did, key, next(it)))
    own = lib.dropped(client)
    count = len(values)
    result: Dict[str, Any] = {
        "evaluations": count,
        "us_per_eval": elapsed / count * 1e6,
        "evals_per_s": count / elapsed,
        "undecided": sum(1 for v in values if v is None),
        "flag_called_expected": len({(d, k, repr(v)) for d, k, v in seen}),
        "flush_s": flush_s,
        "lib_dropped": own if own is not None else (drops.count if drops else None),
        "lib_drop_source": "counter" if own is not None else "log warnings",
        "lib_stats": dict(getattr(client, "stats", {}) or {}) if own is not None else None,
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
    }
    if prof:
        result["profile"] = prof.report()
    return result
