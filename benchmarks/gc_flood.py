"""What the garbage collector does during a flood: ``python -m benchmarks.gc_flood``.

A diagnostic, not a scenario of the report: 200,000 ``track()`` calls from one thread
into a client with library defaults (the benchmark's sink in its own process), every
collection timed through ``gc.callbacks``. It prints how many collections of each
generation ran during the calls, the longest of each, the worst call and how many
calls took over 10 ms, so a slow call can be told apart from a collection.
``--freeze`` calls ``gc.freeze()`` after the imports (what an application may do).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import defaultdict
from typing import Any, Dict, List, Optional, Tuple

from benchmarks.harness import Sink


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gc_flood", description=__doc__)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--freeze", action="store_true", help="gc.freeze() after the imports")
    args = ap.parse_args(argv)
    from analytics_compat import Client

    sink = Sink()  # the benchmark's sink, in its own process
    pauses: List[Tuple[int, int, int]] = []  # generation, start ns, end ns
    started = [0]

    def timed(phase: str, info: Dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        else:
            pauses.append((info["generation"], started[0], time.perf_counter_ns()))

    props = [{"i": i, "plan": "pro", "n": 3, "ok": True} for i in range(args.calls)]
    if args.freeze:
        gc.freeze()
    client = Client({"secret": "phc_gc_flood", "host": sink.url})
    gc.collect()
    gc.callbacks.append(timed)
    track, clock = client.track, time.perf_counter_ns
    worst = over = 0
    t0 = clock()
    for p in props:
        c0 = clock()
        track({"userId": "u1", "event": "flood", "properties": p})
        d = clock() - c0
        worst = max(worst, d)
        over += d > 10_000_000
    t1 = clock()
    gc.callbacks.remove(timed)
    client.flush(timeout=120)
    by_gen: Dict[int, List[float]] = defaultdict(list)
    for generation, start, end in pauses:
        if t0 <= start <= t1:
            by_gen[generation].append((end - start) / 1e6)
    print(
        f"calls {args.calls:,} in {(t1 - t0) / 1e9:.2f} s; worst call {worst / 1e6:.1f} ms; "
        f"calls over 10 ms {over}; dropped {client.stats['dropped_queue_full']}"
    )
    for generation in sorted(by_gen):
        ms = by_gen[generation]
        print(f"  gen {generation}: {len(ms)} collections, longest {max(ms):.1f} ms")
    client.shutdown(10)
    sink.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
