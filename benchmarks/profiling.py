"""Where the time goes inside one worker process: cProfile by thread, CPU time by thread.

Owns ``Profiler`` (cProfile of the calling thread, of every thread, or only of the
threads a library starts: its delivery worker) and ``ThreadCPU`` (CPU seconds each
thread used between two points, from the per-thread CPU clocks). It must not know
about libraries or scenarios.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

MODES = ("caller", "all", "started")
OWN_THREADS = "bench-"  # prefix of the benchmark's own threads (producers)


def _strip_paths(text: str) -> str:
    for prefix in sorted({p for p in sys.path if p and len(p) > 8}, key=len, reverse=True):
        text = text.replace(prefix + os.sep, "")
    return text


class Profiler:
    """cProfile of some threads.

    ``caller``: the thread that calls ``start`` (a producer's hot loop). ``all``: that
    thread and every thread started after ``start``. ``started``: only the threads
    started after ``start`` (a library's delivery worker, without the producer), so
    the report says what the worker itself spends its time on. The benchmark's own
    threads (named ``bench-...``: producers) are never profiled in ``started`` mode.
    """

    def __init__(self, mode: str = "caller") -> None:
        if mode not in MODES:
            raise ValueError(f"profiler mode {mode!r} not in {MODES}")
        self.mode = mode
        self.profiles: List[Tuple[str, cProfile.Profile]] = []
        self._caller: Optional[cProfile.Profile] = None
        self._orig_run: Any = None

    def start(self) -> None:
        if self.mode != "caller":
            self._orig_run = orig = threading.Thread.run
            profiles = self.profiles

            skip_own = self.mode == "started"

            def run(thread: threading.Thread) -> None:
                if skip_own and thread.name.startswith(OWN_THREADS):
                    orig(thread)
                    return
                prof = cProfile.Profile()
                profiles.append((thread.name, prof))
                prof.enable()
                try:
                    orig(thread)
                finally:
                    prof.disable()

            threading.Thread.run = run  # type: ignore[method-assign]
        if self.mode != "started":
            self._caller = cProfile.Profile()
            self.profiles.insert(0, (threading.current_thread().name, self._caller))
            self._caller.enable()

    def stop(self) -> None:
        if self._caller is not None:
            self._caller.disable()
        if self._orig_run is not None:
            threading.Thread.run = self._orig_run  # type: ignore[method-assign]
            self._orig_run = None

    def report(self, top: int = 25) -> str:
        stats: Optional[pstats.Stats] = None
        names: List[str] = []
        for name, prof in self.profiles:
            prof.disable()  # threads still blocked (stalled server): take what they have
            try:
                if stats is None:
                    stats = pstats.Stats(prof)
                else:
                    stats.add(prof)
            except TypeError:  # a profile with no data yet
                continue
            names.append(name)
        if stats is None:
            return "(no profile data)"
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(top)
        text = _strip_paths(out.getvalue())
        start = text.find("   ncalls")  # keep from the column header on
        head = text[:start].strip().splitlines()
        summary = next((line.strip() for line in head if "function calls" in line), "")
        who = "threads profiled: " + ", ".join(sorted(set(names)))
        return (who + "\n" + summary + "\n" + text[start:]).rstrip()


class ThreadCPU:
    """CPU seconds used by each thread (and the process) since construction.

    Read from the per-thread CPU clocks (``pthread_getcpuclockid``), at nanosecond
    resolution. A thread that ends before ``read`` is counted in ``process_s`` only.
    """

    def __init__(self) -> None:
        self._main = threading.main_thread().ident
        self._proc0 = time.process_time()
        self._t0 = self._snapshot()

    @staticmethod
    def _snapshot() -> Dict[int, Tuple[str, float]]:
        out: Dict[int, Tuple[str, float]] = {}
        getclock = getattr(time, "pthread_getcpuclockid", None)
        if getclock is None:
            return out
        for thread in threading.enumerate():
            if thread.ident is None:
                continue
            with contextlib.suppress(OSError, ProcessLookupError):
                out[thread.ident] = (thread.name, time.clock_gettime(getclock(thread.ident)))
        return out

    def read(self) -> Dict[str, Any]:
        """``main_s``, ``bench_s`` (the benchmark's own threads: producers), ``threads_s``
        (every other thread: the library's), ``process_s``, and ``by_thread``."""
        now = self._snapshot()
        threads: Dict[str, float] = {}
        main_s = None
        for ident, (name, cpu) in now.items():
            used = cpu - self._t0.get(ident, (name, 0.0))[1]
            if ident == self._main:
                main_s = used
            else:
                threads[name] = threads.get(name, 0.0) + used
        own = sum(v for k, v in threads.items() if k.startswith(OWN_THREADS))
        return {
            "process_s": time.process_time() - self._proc0,
            "main_s": main_s,
            "bench_s": own,
            "threads_s": sum(threads.values()) - own,
            "by_thread": {k: round(v, 4) for k, v in sorted(threads.items())},
        }


def loadavg() -> Optional[Tuple[float, float, float]]:
    try:
        return os.getloadavg()
    except OSError:
        return None
