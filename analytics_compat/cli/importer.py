"""``analytics-compat import``: send a Segment export to PostHog as historical events.

Owns the command's options, turning them into a client (``historical_migration``
set, batches of ``--batch-size``, retries that outlast a short outage), the files of
record (checkpoint and reject file, by default beside the first input), the signals
(the first Ctrl-C or SIGTERM stops reading and waits for what is in flight; a second
one leaves at once), the summary and the exit status. The loop itself is
``_import_run``; reading files is ``_import_files``; the mapping is ``_segment_export``.

The project key comes from ``--key`` or ``$ANALYTICS_COMPAT_KEY`` and is never
printed, logged or written to the checkpoint. Exit statuses: see ``EXIT_*``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Dict, Iterator, List, Optional, TextIO, Tuple
from urllib.parse import urlsplit, urlunsplit

from analytics_compat import Client, ConfigurationError

from ._import_files import InputError, InputFile, find_inputs
from ._import_progress import Progress, duration
from ._import_run import Importer, Settings, Tally
from ._import_state import (
    FileMark,
    RejectLog,
    StateError,
    carried_entries,
    load_checkpoint,
    resume_point,
    save_checkpoint,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "KEY_ENV",
    "add_parser",
    "exit_status",
    "run",
]

KEY_ENV = "ANALYTICS_COMPAT_KEY"
EXIT_OK = 0  # every line sent, or skipped as a duplicate / already imported
EXIT_FAILED = 1  # some events were not acknowledged (or the key was refused): --resume
EXIT_USAGE = 2  # bad options, an input that cannot be read, a checkpoint of another host
EXIT_REJECTED = 3  # some lines could not be mapped (see the reject file); the rest was sent
EXIT_INTERRUPTED = 4  # stopped by Ctrl-C / SIGTERM; the checkpoint says where: --resume

_EPILOG = f"""\
Each line of each FILE is one Segment message (identify, track, page, screen, group,
alias), as Segment's exports write them: JSON lines, plain or gzip; a directory is
read at any depth. Every event gets a uuid made from its messageId (uuid5 in the
namespace ae07bd7c-32c3-58d5-802e-6973d5c93a91, as the live calls; without one, from its
content), so running an import again never stores an event twice: PostHog keeps one
event per uuid. --resume also skips what an earlier run already had acknowledged.

The key may come from ${KEY_ENV} instead of --key (a command line is visible to other
users of the machine); it is never printed.

exit status:
  {EXIT_OK}  everything was sent (or skipped: a duplicate, or done by an earlier run)
  {EXIT_FAILED}  some events were not acknowledged, or the server refused the key;
     run again with --resume to send what is missing
  {EXIT_USAGE}  bad options, an input that cannot be read, a checkpoint of another host
  {EXIT_REJECTED}  some lines could not be mapped (listed in the reject file); the rest was sent
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C, SIGTERM): run again with --resume
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``import`` and its options."""
    cmd: argparse.ArgumentParser = sub.add_parser(
        "import",
        help="send a Segment export to PostHog as historical events",
        description="Send Segment messages (JSON lines, plain or gzip) to a PostHog host "
        "as historical events, each once, with progress, a reject file and a checkpoint.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("files", nargs="+", metavar="FILE", help="export files or directories")
    cmd.add_argument("--host", metavar="URL", help="PostHog host, e.g. https://us.i.posthog.com")
    cmd.add_argument("--key", metavar="KEY", help=f"project API key (default: ${KEY_ENV})")
    cmd.add_argument("--dry-run", action="store_true", help="read, map and count; send nothing")
    cmd.add_argument("--resume", action="store_true", help="skip what the checkpoint says is done")
    cmd.add_argument("--state", metavar="FILE", help="checkpoint file (default: beside the input)")
    cmd.add_argument("--rejects", metavar="FILE", help="reject file (default: beside the input)")
    cmd.add_argument("--rate", type=_at_least(float, 0.001), metavar="N", help="at most N events/s")
    cmd.add_argument("--batch-size", type=_at_least(int, 1), default=500, metavar="N")
    cmd.add_argument(
        "--in-flight",
        type=_at_least(int, 1),
        default=5000,
        metavar="N",
        help="events sent and not yet acknowledged, at most (default: %(default)s)",
    )
    cmd.add_argument("--max-retries", type=_at_least(int, 0), default=10, metavar="N")
    cmd.add_argument("--timeout", type=_at_least(float, 0.001), default=30.0, metavar="SECONDS")
    cmd.add_argument(
        "--stop-after-failures",
        type=_at_least(int, 0),
        metavar="N",
        help="stop once N events in a row were not acknowledged, each after its retries "
        "(default: 3 batches; 0: never)",
    )
    cmd.add_argument(
        "--group-type", default="company", metavar="NAME", help="$group_type of group calls"
    )
    cmd.add_argument("--geoip", action="store_true", help="let PostHog locate events by $ip")
    cmd.add_argument("--max-line-bytes", type=_at_least(int, 64), default=1024 * 1024, metavar="N")
    cmd.add_argument(
        "--dedup-window",
        type=_at_least(int, 0),
        default=100_000,
        metavar="N",
        help="recent messageIds remembered to skip duplicates (default: %(default)s)",
    )
    cmd.add_argument(
        "--progress-interval",
        type=_at_least(float, 0.01),
        default=10.0,
        metavar="SECONDS",
        help="between progress lines when stderr is not a terminal (default: %(default)s)",
    )
    cmd.add_argument("--quiet", action="store_true", help="no progress")
    cmd.add_argument("--verbose", action="store_true", help="show the library's log")
    return cmd


def _at_least(kind: Any, minimum: float) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= minimum:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its errors
    return parse


class _UsageError(Exception):
    pass


def _shown_host(url: str) -> str:
    """The host as printed and recorded: without any user:password part."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _beside(first: str, suffix: str) -> Path:
    path = Path(first).resolve()
    if path.is_dir():
        return path / f".analytics-compat{suffix}"
    return path.with_name(path.name + suffix)


def _target(args: argparse.Namespace) -> Tuple[str, str]:
    key = args.key or os.environ.get(KEY_ENV) or ""
    host = args.host or ""
    if args.dry_run:
        return key or "phc_dry_run", host or "http://127.0.0.1:9"
    if not host:
        raise _UsageError("--host is required (the PostHog host to send to)")
    if urlsplit(host).scheme not in ("http", "https") or not urlsplit(host).netloc:
        raise _UsageError(f"--host must be an http:// or https:// URL, not {_shown_host(host)!r}")
    if not key:
        raise _UsageError(f"no project key: pass --key or set {KEY_ENV}")
    return key, host


def _client(args: argparse.Namespace, key: str, host: str) -> Client:
    try:
        return Client(
            secret=key,
            host=host,
            historical_migration=True,
            send=not args.dry_run,
            flush_policy="posthog",
            flush_at=args.batch_size,
            max_batch_size=args.batch_size,
            flush_after=200,  # ms: a partial batch waits at most this long
            timer_interval=100,
            max_queue_size=args.in_flight + args.batch_size,
            max_retries=args.max_retries,
            timeout=args.timeout,
            group_type=args.group_type,
            disable_geoip=not args.geoip,
            shutdown_timeout=10.0,
        )
    except ConfigurationError as error:
        raise _UsageError(str(error)) from None


def _plan(
    args: argparse.Namespace, files: List[InputFile], state: Path, rejects_path: Path, host: str
) -> Tuple[List[FileMark], List[Dict[str, Any]], RejectLog, List[str]]:
    """Where each file starts, the checkpoint entries to carry, the reject file, warnings."""
    if not args.resume:
        return [FileMark(file=f, lines_done=0) for f in files], [], RejectLog(rejects_path), []
    try:
        entries = load_checkpoint(state, host)
    except StateError as error:
        raise _UsageError(str(error)) from None
    marks, warnings = [], []
    for file in files:
        skip, warning = resume_point(entries.get(str(file.path)), file)
        marks.append(FileMark(file=file, lines_done=skip))
        if warning:
            warnings.append(warning)
    skips = {str(m.file.path): m.lines_done for m in marks}
    rejects = RejectLog(rejects_path, keep=lambda name, line: line <= skips.get(name, 0))
    return marks, carried_entries(entries, files), rejects, warnings


@contextlib.contextmanager
def _library_logging(verbose: bool, err: TextIO) -> Iterator[None]:
    """The summary reports delivery errors; the library's own lines only with --verbose."""
    log = logging.getLogger("analytics_compat")
    handler: logging.Handler = logging.StreamHandler(err) if verbose else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    propagate, level = log.propagate, log.level
    log.addHandler(handler)
    log.propagate = False
    if verbose:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = propagate, level


@contextlib.contextmanager
def _signals(stop: threading.Event, err: TextIO) -> Iterator[None]:
    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        if stop.is_set():
            err.write("\nstopped at once; the checkpoint is at most a second old\n")
            err.flush()
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        err.write("\nstopping: waiting for the events in flight (again to leave at once)\n")
        err.flush()

    previous: Dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT.value, signal.SIGTERM.value):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Import the files; returns the exit status."""
    try:
        key, host = _target(args)
        state = Path(args.state) if args.state else _beside(args.files[0], ".import-state.json")
        own = [state, state.with_name(state.name + ".tmp")]
        if args.rejects:
            own.append(Path(args.rejects))
        files = find_inputs(args.files, exclude=own)
        rejects_path = (
            Path(args.rejects) if args.rejects else _beside(args.files[0], ".rejects.jsonl")
        )
        for path in [rejects_path] if args.dry_run else [rejects_path, state]:
            if not os.access(path.parent, os.W_OK):
                raise _UsageError(f"cannot write {path}: no such directory, or not writable")
        marks, carried, rejects, warnings = _plan(
            args, files, state, rejects_path, _shown_host(host)
        )
        client = _client(args, key, host)
    except (_UsageError, InputError) as error:
        err.write(f"analytics-compat import: {error}\n")
        return EXIT_USAGE
    for warning in warnings:
        err.write(f"warning: {warning}\n")
    shown = _shown_host(host)

    def save(current: Any) -> None:
        save_checkpoint(state, shown, current, carried)

    mode = "off" if args.quiet else ("tty" if err.isatty() else "plain")
    progress = Progress(err, mode=mode, interval=args.progress_interval)
    settings = Settings(
        max_line_bytes=args.max_line_bytes,
        in_flight=args.in_flight,
        dedup_window=args.dedup_window,
        rate=args.rate,
        stop_after_failures=(
            3 * args.batch_size if args.stop_after_failures is None else args.stop_after_failures
        ),
    )
    stop = threading.Event()
    with _library_logging(args.verbose, err), _signals(stop, err):
        importer = Importer(
            client,
            files,
            marks,
            rejects,
            progress,
            settings,
            save=None if args.dry_run else save,
            stop=stop,
        )
        tally = importer.run()
    out.write(summary(tally, dry_run=args.dry_run, host=shown, rejects=rejects, state=state))
    out.flush()
    return exit_status(tally)


def exit_status(tally: Tally) -> int:
    """The documented exit status for a finished run."""
    if tally.interrupted:
        return EXIT_INTERRUPTED
    if tally.input_errors:
        return EXIT_USAGE
    if tally.failed or tally.aborted:
        return EXIT_FAILED
    if tally.rejected or tally.rejected_earlier:
        return EXIT_REJECTED
    return EXIT_OK


def _count(counter: Any) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counter.most_common())


def summary(tally: Tally, *, dry_run: bool, host: str, rejects: RejectLog, state: Path) -> str:
    """What a person reads at the end: counts, where things went, what to do next."""
    t = tally
    rate = t.sent / t.seconds if t.seconds > 0 else 0.0
    head = "dry run, nothing was sent" if dry_run else f"to {host}"
    lines = [
        f"import {'stopped' if t.interrupted else 'finished'} in {duration(t.seconds)} ({head})",
        f"  read        {t.lines:,} lines in {t.files:,} file(s)"
        + (f", {t.blank:,} blank" if t.blank else ""),
    ]
    if dry_run:
        lines.append(f"  valid       {t.sent:,} events would be sent")
    else:
        lines.append(f"  sent        {t.sent:,} events acknowledged ({rate:,.0f} events/s)")
    if t.by_type:
        lines.append(f"              by type: {_count(t.by_type)}")
    lines.append(f"  duplicates  {t.duplicates:,} lines skipped: their messageId came earlier")
    if t.resumed:
        lines.append(f"  resumed     {t.resumed:,} lines skipped: done by an earlier run")
    reject_where = f": listed in {rejects.path}" if rejects.total else ""
    lines.append(f"  rejected    {t.rejected:,} lines{reject_where}")
    if t.reject_kinds:
        lines.append(f"              {_count(t.reject_kinds)}")
    if t.rejected_earlier:
        lines.append(f"              and {t.rejected_earlier:,} by the earlier run, kept there")
    lines.append(f"  failed      {t.failed:,} events" + (": not acknowledged" if t.failed else ""))
    for reason, count in t.failures.most_common():
        lines.append(f"    {count:>10,}  {reason}")
    for error in t.input_errors:
        lines.append(f"  input error {error}")
    for warning in t.warnings:
        lines.append(f"  warning     {warning}")
    if t.aborted:
        hint = f"; check --key / ${KEY_ENV}" if "project key" in t.aborted else ""
        lines.append(f"  stopped early: {t.aborted}{hint}")
    status = exit_status(t)
    advice = {
        EXIT_OK: "everything was sent",
        EXIT_FAILED: "run the same command with --resume to send what is missing",
        EXIT_USAGE: "some input could not be read",
        EXIT_REJECTED: "fix or drop the rejected lines; everything else was sent",
        EXIT_INTERRUPTED: "run the same command with --resume to carry on",
    }[status]
    if dry_run and status == EXIT_REJECTED:
        advice = "fix or drop the rejected lines"
    lines.append(f"exit status {status}: {advice}")
    if not dry_run and status in (EXIT_FAILED, EXIT_INTERRUPTED):
        lines.append(f"  checkpoint  {state}")
    return "\n".join(lines) + "\n"
