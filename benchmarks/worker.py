"""One measurement: one library, one scenario, in its own process.

``python -m benchmarks.worker '<json config>'`` prints one JSON line (the result)
and exits with ``os._exit`` so no library's exit hook (drain at exit, joins on a
stalled server) runs after the measurement. The parent (``benchmarks.run``) owns
the sink and checks what arrived there.

Every library gets the same events: ``event="Benchmark Event"``, one of 2,000
distinct ids, and 5 small properties (str, int, float, bool, short str), in a dict
made fresh for each call (posthog-python adds ``$lib`` to the dict it is given, so
dicts are never shared between calls).
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

EVENT = "Benchmark Event"
UIDS = [f"user_{i}" for i in range(2000)]
PLANS = ["free", "pro", "team", "enterprise"]
TAGS = [f"t{i}" for i in range(16)]
SECRET = "phc_benchmark_project_key"
PERSONAL = "phx_benchmark_personal_key"


def props(i: int) -> Dict[str, Any]:
    return {
        "plan": PLANS[i & 3],
        "count": i,
        "ratio": i / 7.0,
        "active": not i & 1,
        "tag": TAGS[i & 15],
    }


def props_list(n: int, start: int = 0) -> List[Dict[str, Any]]:
    return [props(i) for i in range(start, start + n)]


def rss_kb() -> Dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


# --------------------------------------------------------------------------- libraries


class Lib:
    """How to build, call and flush one library. ``loop`` is the timed hot loop."""

    name = ""

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        raise NotImplementedError

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        raise NotImplementedError

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        raise NotImplementedError

    def flush(self, client: Any) -> None:
        raise NotImplementedError

    def dropped(self, client: Any) -> Optional[int]:
        return None


class AnalyticsCompat(Lib):
    name = "analytics_compat"

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        from analytics_compat import Client

        options = {
            "secret": SECRET,
            "host": host,
            "flushAt": 100,
            "maxQueueSize": queue,
            "timeout": timeout,
        }
        options.update(extra)
        return Client(options)

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        track = client.track
        for i, p in enumerate(plist):
            track({"userId": uids[i % 2000], "event": EVENT, "properties": p})

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        track = client.track
        return lambda uid, p: track({"userId": uid, "event": EVENT, "properties": p})

    def flush(self, client: Any) -> None:
        if not client.flush(timeout=600):
            raise RuntimeError("analytics_compat flush timed out")

    def dropped(self, client: Any) -> Optional[int]:
        return int(client.stats["dropped_queue_full"])


class PostHog(Lib):
    """posthog-python 7.x: ``capture(event, distinct_id=..., properties=...)``.

    Older majors (< 6) took ``capture(distinct_id, event, properties)``; the form is
    picked from the signature, and constructor options it lacks are left out.
    """

    name = "posthog"

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        import inspect

        from posthog import Posthog

        kwargs = dict(
            host=host,
            flush_at=100,
            max_queue_size=queue,
            gzip=True,
            timeout=timeout,
            disable_geoip=True,
            enable_exception_autocapture=False,
        )
        kwargs.update(extra)
        accepted = inspect.signature(Posthog.__init__).parameters
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = Posthog(SECRET, **kwargs)
        first = next(iter(inspect.signature(client.capture).parameters))
        self.old_capture = first == "distinct_id"
        return client

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        capture = client.capture
        if self.old_capture:
            for i, p in enumerate(plist):
                capture(uids[i % 2000], EVENT, p)
            return
        for i, p in enumerate(plist):
            capture(EVENT, distinct_id=uids[i % 2000], properties=p)

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        capture = client.capture
        if self.old_capture:
            return lambda uid, p: capture(uid, EVENT, p)
        return lambda uid, p: capture(EVENT, distinct_id=uid, properties=p)

    def flush(self, client: Any) -> None:
        try:
            client.flush(timeout_seconds=None)
        except TypeError:  # posthog < 7: flush() takes no timeout and blocks until done
            client.flush()


class Segment(Lib):
    name = "segment"

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        from segment.analytics import Client

        kwargs = dict(host=host, upload_size=100, max_queue_size=queue, gzip=True, timeout=timeout)
        kwargs.update(extra)
        return Client("segment_benchmark_write_key", **kwargs)

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        track = client.track
        for i, p in enumerate(plist):
            track(uids[i % 2000], EVENT, p)

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        track = client.track
        return lambda uid, p: track(uid, EVENT, p)

    def flush(self, client: Any) -> None:
        client.flush()


LIBS: Dict[str, Lib] = {lib.name: lib for lib in (AnalyticsCompat(), PostHog(), Segment())}


# --------------------------------------------------------------------------- profiling


class _Profiler:
    """cProfile of the calling thread, or of every thread started after ``start``."""

    def __init__(self, all_threads: bool) -> None:
        self.all_threads = all_threads
        self.profiles: List[cProfile.Profile] = []
        self._orig_run: Any = None

    def start(self) -> None:
        main = cProfile.Profile()
        self.profiles.append(main)
        if self.all_threads:
            self._orig_run = orig = threading.Thread.run
            profiles = self.profiles

            def run(thread: threading.Thread) -> None:
                prof = cProfile.Profile()
                profiles.append(prof)
                prof.enable()
                try:
                    orig(thread)
                finally:
                    prof.disable()

            threading.Thread.run = run  # type: ignore[method-assign]
        main.enable()

    def stop(self) -> None:
        self.profiles[0].disable()

    def report(self, top: int = 25) -> str:
        for prof in self.profiles[1:]:
            prof.disable()  # threads still blocked (stalled server): take what they have
        stats = pstats.Stats(self.profiles[0])
        for prof in self.profiles[1:]:
            with contextlib.suppress(TypeError):  # a profile with no data yet
                stats.add(prof)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(top)
        text = out.getvalue()
        for prefix in sorted({p for p in sys.path if p and len(p) > 8}, key=len, reverse=True):
            text = text.replace(prefix + os.sep, "")
        # keep from the column header on
        start = text.find("   ncalls")
        head = text[:start].strip().splitlines()
        summary = next((line.strip() for line in head if "function calls" in line), "")
        return (summary + "\n" + text[start:]).rstrip()


# --------------------------------------------------------------------------- scenarios


def scenario_calls(cfg: Dict[str, Any]) -> Dict[str, Any]:
    lib = LIBS[cfg["lib"]]
    n, threads, warm = cfg["n"], cfg["threads"], cfg.get("warmup", 2000)
    client = lib.make(cfg["host"], queue=n + warm + 10_000)
    lib.loop(client, UIDS, props_list(warm, 10_000_000))
    lib.flush(client)
    per = n // threads
    plists = [props_list(per, t * per) for t in range(threads)]
    uid_lists = [UIDS[t * 7 % 2000 :] + UIDS[: t * 7 % 2000] for t in range(threads)]
    barrier = threading.Barrier(threads + 1)
    spans: List[Any] = [None] * threads
    prof = _Profiler(all_threads=False) if cfg.get("profile") else None

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
    lib = LIBS[cfg["lib"]]
    n = cfg["n"]
    extra = dict(cfg.get("extra") or {})
    prof = _Profiler(all_threads=True) if cfg.get("profile") else None
    if prof:
        prof.start()
    client = lib.make(cfg["host"], queue=n + 1000, **extra)
    plist = props_list(n)
    gc.collect()
    t0 = time.perf_counter()
    lib.loop(client, UIDS, plist)
    t1 = time.perf_counter()
    lib.flush(client)
    t2 = time.perf_counter()
    if prof:
        prof.stop()
    result = {
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
    prof = _Profiler(all_threads=False) if cfg.get("profile") else None
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


def _posthog_flags(cfg: Dict[str, Any], send_events: bool) -> Any:
    lib = LIBS["posthog"]
    import inspect

    from posthog import Posthog

    params = inspect.signature(Posthog.__init__).parameters
    key_arg = "secret_key" if "secret_key" in params else "personal_api_key"
    client = lib.make(
        cfg["host"],
        queue=200_000,
        poll_interval=3600,
        enable_local_evaluation=False,
        **{key_arg: PERSONAL},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.load_feature_flags()
    get = client.get_feature_flag_result

    def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
        res = get(
            key,
            did,
            groups=groups,
            person_properties=person,
            group_properties=gprops,
            only_evaluate_locally=True,
            send_feature_flag_events=send_events,
        )
        return None if res is None else res.get_value()

    return client, evaluate, lambda: lib.flush(client)


def _compat_flags(cfg: Dict[str, Any], send_events: bool) -> Any:
    """analytics_compat through Client's flag methods, or (``pure``) the bare evaluator."""
    import analytics_compat

    pure = cfg.get("pure") or not hasattr(analytics_compat.Client, "get_feature_flag")
    if not pure:
        lib = LIBS["analytics_compat"]
        client = lib.make(
            cfg["host"], queue=200_000, personal_api_key=PERSONAL, poll_interval=3600.0
        )
        if hasattr(client, "wait_for_local_evaluation_ready"):
            client.wait_for_local_evaluation_ready(15)
        elif hasattr(client, "load_feature_flags"):
            client.load_feature_flags()
        result_getter = getattr(client, "get_feature_flag_result", None)
        if result_getter is not None:
            api = "Client.get_feature_flag_result(only_evaluate_locally=True)"

            def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
                res = result_getter(
                    key,
                    did,
                    groups=groups,
                    person_properties=person,
                    group_properties=gprops,
                    only_evaluate_locally=True,
                    send_feature_flag_events=send_events,
                )
                return None if res is None else res.value

        else:
            getter = client.get_feature_flag
            api = "Client.get_feature_flag(only_evaluate_locally=True)"

            def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
                return getter(
                    key,
                    did,
                    groups=groups,
                    person_properties=person,
                    group_properties=gprops,
                    only_evaluate_locally=True,
                    send_feature_flag_events=send_events,
                )

        deadline = time.monotonic() + 15
        while evaluate("rollout-0", "warmup_user", {}, None, None) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("analytics_compat never loaded flag definitions")
            time.sleep(0.05)
        return client, evaluate, lambda: lib.flush(client), api

    # The pure evaluator over the same definitions (no events: it does no I/O).
    if send_events:
        return None
    import urllib.request

    from analytics_compat.flags.evaluator import evaluate_flag
    from analytics_compat.flags.model import parse_definitions

    with urllib.request.urlopen(cfg["host"] + "/api/feature_flag/local_evaluation/") as resp:
        raw = json.loads(resp.read())
    t0 = time.perf_counter()
    defs = parse_definitions(raw)
    parse_ms = (time.perf_counter() - t0) * 1000

    def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
        res = evaluate_flag(
            defs, key, did, person_properties=person, groups=groups, group_properties=gprops
        )
        return None if res is None or not res.decided else res.value

    evaluate.parse_ms = parse_ms  # type: ignore[attr-defined]
    return None, evaluate, lambda: None, "analytics_compat.flags.evaluator.evaluate_flag (pure)"


def scenario_flags(cfg: Dict[str, Any]) -> Dict[str, Any]:
    from benchmarks.flagdefs import callers, definitions

    send_events = cfg["events"]
    keys = [f["key"] for f in definitions()["flags"]]
    people = callers()[: cfg.get("ids", 2000)]
    if cfg["lib"] == "posthog":
        _client, evaluate, flush = _posthog_flags(cfg, send_events)
        api = "Posthog.get_feature_flag_result(only_evaluate_locally=True)"
    else:
        made = _compat_flags(cfg, send_events)
        if made is None:
            return {"skipped": "the pure evaluator sends no events"}
        _client, evaluate, flush, api = made
    # warm-up on ids outside the measured set (fills nothing the measured loop reuses)
    for key in keys:
        evaluate(key, "warmup_user", people[0][1], people[0][2], people[0][3])
    prof = _Profiler(all_threads=False) if cfg.get("profile") else None
    values: List[Any] = []
    append = values.append
    gc.collect()
    if prof:
        prof.start()
    t0 = time.perf_counter()
    for did, person, groups, gprops in people:
        for key in keys:
            append(evaluate(key, did, person, groups, gprops))
    elapsed = time.perf_counter() - t0
    if prof:
        prof.stop()
    t1 = time.perf_counter()
    flush()
    flush_s = time.perf_counter() - t1
    count = len(values)
    result: Dict[str, Any] = {
        "api": api,
        "evaluations": count,
        "us_per_eval": elapsed / count * 1e6,
        "evals_per_s": count / elapsed,
        "undecided": sum(1 for v in values if v is None),
        "flush_s": flush_s,
        "parse_ms": getattr(evaluate, "parse_ms", None),
    }
    if cfg.get("values_out"):
        with open(cfg["values_out"], "w") as fh:
            json.dump(values, fh)
    if prof:
        result["profile"] = prof.report()
    return result


def _default_client(lib: str, host: str, **extra: Any) -> Any:
    """The library exactly as a user gets it: only the key and the host are given."""
    if lib == "analytics_compat":
        from analytics_compat import Client

        return Client({"secret": SECRET, "host": host, **extra})
    if lib == "posthog":
        import inspect

        from posthog import Posthog

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = Posthog(SECRET, host=host, **extra)
        first = next(iter(inspect.signature(client.capture).parameters))
        LIBS["posthog"].old_capture = first == "distinct_id"  # type: ignore[attr-defined]
        return client
    from segment.analytics import Client as SegmentClient

    return SegmentClient("segment_benchmark_write_key", host=host, **extra)


def scenario_flood(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``n`` calls as fast as ``threads`` producers can, library defaults throughout.

    The queue (10,000 for all three libraries) is what a user gets; what does not fit
    is dropped. Every call is timed, to find the worst one a producer saw.
    """
    lib = LIBS[cfg["lib"]]
    n, threads = cfg["n"], cfg["threads"]
    client = _default_client(cfg["lib"], cfg["host"])
    f = lib.one(client)
    per = n // threads
    plists = [props_list(per, t * per) for t in range(threads)]
    worst = [0] * threads
    spans: List[Any] = [None] * threads
    barrier = threading.Barrier(threads + 1)
    clock = time.perf_counter_ns

    def producer(t: int) -> None:
        uids, plist = UIDS, plists[t]
        barrier.wait()
        mx = 0
        t0 = time.perf_counter()
        for i, p in enumerate(plist):
            c0 = clock()
            f(uids[(i + t * 7) % 2000], p)
            d = clock() - c0
            if d > mx:
                mx = d
        spans[t] = (t0, time.perf_counter())
        worst[t] = mx

    gc.collect()
    workers = [threading.Thread(target=producer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    for w in workers:
        w.join()
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    t1 = time.perf_counter()
    lib.flush(client)
    return {
        "calls": per * threads,
        "sent": per * threads,
        "calls_s": wall,
        "us_per_call": wall / (per * threads) * 1e6,
        "worst_call_ms": max(worst) / 1e6,
        "flush_s": time.perf_counter() - t1,
        "dropped": lib.dropped(client),
    }


def scenario_flags_defaults(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The flags loop with every library default: events on, the default queue."""
    from benchmarks.flagdefs import callers, definitions

    keys = [f["key"] for f in definitions()["flags"]]
    people = callers()[: cfg.get("ids", 2000)]
    name = cfg["lib"]
    if name == "posthog":
        client = _default_client(name, cfg["host"], personal_api_key=PERSONAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.load_feature_flags()

        def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
            res = client.get_feature_flag_result(
                key, did, groups=groups, person_properties=person, group_properties=gprops
            )
            return None if res is None else res.get_value()

    else:
        client = _default_client(name, cfg["host"], personal_api_key=PERSONAL)
        client.wait_for_local_evaluation_ready(15)

        def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
            res = client.get_feature_flag_result(
                key, did, groups=groups, person_properties=person, group_properties=gprops
            )
            return None if res is None else res.value

    gc.collect()
    t0 = time.perf_counter()
    undecided = 0
    for did, person, groups, gprops in people:
        for key in keys:
            if evaluate(key, did, person, groups, gprops) is None:
                undecided += 1
    elapsed = time.perf_counter() - t0
    LIBS[name].flush(client)
    count = len(people) * len(keys)
    return {
        "evaluations": count,
        "us_per_eval": elapsed / count * 1e6,
        "undecided": undecided,
        "dropped": LIBS[name].dropped(client),
    }


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
    logging_quiet = cfg.get("quiet_logs", False)
    if logging_quiet:
        import logging

        logging.disable(logging.CRITICAL)
    try:
        result = SCENARIOS[cfg["scenario"]](cfg)
        result["ok"] = True
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
