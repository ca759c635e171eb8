"""The import command's throughput and peak memory: a generated Segment export into the devserver.

::

    python -m benchmarks.import_bench                    # 1,000,000 lines, one gzip file
    python -m benchmarks.import_bench --lines 20000 --layout plain --check

Generates the export (``segment_export``; not timed), starts ``analytics-compat serve``
in its own process on a free port with a SQLite file, runs ``analytics-compat import``
as another process and measures it: wall time, events acknowledged per second, peak
RSS (the child's ``ru_maxrss`` from ``wait4``, what ``/usr/bin/time -v`` reports) and
the CPU seconds of both processes (which side was the bottleneck). Then it counts the
stored events per name against the export's expectation (``--check``: exit status 1
on any difference). Prints one human line per figure and, last, a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from analytics_compat.devserver import EventStore
from benchmarks.segment_export import Expected, write_export

PY = sys.executable
TOKEN = "phc_dev"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (0.0 where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPU {model or platform.processor()}, Python {platform.python_version()}"
    )


def _serve(db: Path) -> Tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [PY, "-m", "analytics_compat", "serve", "--port", "0", "--db", str(db), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    first = server.stdout.readline()
    match = re.search(r"listening on (http://\S+)", first)
    if not match:
        server.kill()
        raise SystemExit(f"the devserver did not start: {first!r}")
    return server, match.group(1)


def _import(command: List[str], work: Path) -> Tuple[int, float, int, float, str]:
    """Run the import; (status, wall seconds, peak RSS KiB, CPU seconds, stdout)."""
    out_path, err_path = work / "import.out", work / "import.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.monotonic()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS and CPU
        wall = time.monotonic() - start
    child.returncode = code = os.waitstatus_to_exitcode(status)
    error = err_path.read_text()
    if error.strip():
        _log(error.strip()[-2000:])
    return code, wall, int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime, out_path.read_text()


def _stored(db: Path, expected: Expected) -> Dict[str, Tuple[int, int]]:
    with EventStore(db, readonly=True) as store:
        return {name: (store.count(event=name), want) for name, want in expected.events.items()}


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_bench")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--layout", choices=("gzip", "plain", "tree"), default="gzip")
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a stored count differs")
    parser.add_argument("import_args", nargs="*", help="extra options for the import command")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as scratch:
        work = Path(args.dir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        export = work / (
            "export" if args.layout == "tree" else f"export.jsonl{'.gz' * (args.layout == 'gzip')}"
        )
        started = time.monotonic()
        expected = write_export(export, args.lines, layout=args.layout, dup_every=500)
        size = sum(p.stat().st_size for p in expected.files)
        took = time.monotonic() - started
        _log(f"export: {args.lines:,} lines, {size / 1e6:.1f} MB on disk ({took:.1f} s to write)")
        db = work / "devserver.sqlite3"
        for leftover in work.glob("devserver.sqlite3*"):
            leftover.unlink()
        server, url = _serve(db)
        try:
            command = [PY, "-m", "analytics_compat", "import", str(export), "--host", url,
                       "--key", TOKEN, "--quiet", *args.import_args]  # fmt: skip
            load_before = os.getloadavg()
            server_cpu = _cpu_seconds(server.pid)
            code, wall, rss_kib, cpu, out = _import(command, work)
            server_cpu = _cpu_seconds(server.pid) - server_cpu
            load_after = os.getloadavg()
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        stored = _stored(db, expected)
    sent = re.search(r"sent\s+([\d,]+) events", out)
    events = int(sent.group(1).replace(",", "")) if sent else 0
    wrong = {name: pair for name, pair in stored.items() if pair[0] != pair[1]}
    result = {
        "lines": args.lines,
        "layout": args.layout,
        "events_sent": events,
        "events_expected": expected.valid,
        "duplicates_in_export": expected.duplicates,
        "exit_status": code,
        "seconds": round(wall, 2),
        "events_per_second": round(events / wall) if wall else 0,
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "import_cpu_seconds": round(cpu, 1),
        "server_cpu_seconds": round(server_cpu, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "machine": _machine(),
        "command": " ".join(["analytics-compat", *command[3:]]).replace(url, "URL"),
        "stored_counts_match": not wrong,
    }
    _log(
        f"import: {events:,} events in {wall:.1f} s = {result['events_per_second']:,} events/s, "
        f"peak RSS {result['peak_rss_mib']} MiB, "
        f"CPU import {cpu:.0f} s / server {server_cpu:.0f} s, "
        f"load {load_before[0]:.2f} -> {load_after[0]:.2f}, exit {code}"
    )
    if wrong:
        _log(f"stored counts differ (stored, expected): {wrong}")
    print(json.dumps(result))
    return 1 if args.check and (wrong or code != 0) else 0


if __name__ == "__main__":
    raise SystemExit(main())
