"""The three benchmarked libraries behind one interface, and the workload they all get.

Owns how each library is built (benchmark settings, or the library's own defaults),
called, flushed and asked for its drops, and the options of a *variant* (for
instance ``capture_mode="v1"``) that a library version may not know: such an
option is left out and recorded in ``UNSUPPORTED``, never a crash. It must not
know about scenarios, timing or the sink.

Every library gets the same events: ``event="Benchmark Event"``, one of 2,000
distinct ids, and 5 small properties (str, int, float, bool, short str), in a dict
made fresh for each call (posthog-python adds ``$lib`` to the dict it is given, so
dicts are never shared between calls).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any, Callable, Dict, List, Optional

EVENT = "Benchmark Event"
UIDS = [f"user_{i}" for i in range(2000)]
PLANS = ["free", "pro", "team", "enterprise"]
TAGS = [f"t{i}" for i in range(16)]
SECRET = "phc_benchmark_project_key"
PERSONAL = "phx_benchmark_personal_key"
SEGMENT_KEY = "segment_benchmark_write_key"

# Options of the variant under test (``benchmarks.run --capture-mode v1``), set by the
# worker from its config. A version that does not know one of them runs without it;
# the name lands in UNSUPPORTED so the parent can say the variant was not measured.
VARIANT: Dict[str, Any] = {}
UNSUPPORTED: List[str] = []


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


def _note_unsupported(name: str) -> None:
    if name not in UNSUPPORTED:
        UNSUPPORTED.append(name)


def _by_signature(factory: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Keep the keyword arguments ``factory`` accepts; record the variant's it does not."""
    accepted = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return kwargs
    for name in kwargs:
        if name not in accepted and name in VARIANT:
            _note_unsupported(name)
    return {k: v for k, v in kwargs.items() if k in accepted}


def compat_client(options: Dict[str, Any]) -> Any:
    """``analytics_compat.Client(options)`` plus the variant's options it knows."""
    from analytics_compat import Client

    try:
        from analytics_compat.errors import ConfigurationError
    except ImportError:  # a version without it: nothing can be left out safely
        return Client({**options, **VARIANT})
    options = {**options, **VARIANT}
    while True:
        try:
            return Client(options)
        except ConfigurationError as exc:
            name = getattr(exc, "option", None)
            # Only an option of the variant, and only when it is unknown (a known
            # option with a bad value is a real error, never skipped).
            if name not in VARIANT or not str(exc).startswith("unknown option"):
                raise
            _note_unsupported(name)
            options.pop(name)


def posthog_client(**kwargs: Any) -> Any:
    from posthog import Posthog

    kwargs = _by_signature(Posthog.__init__, {**kwargs, **VARIANT})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Posthog(SECRET, **kwargs)


def segment_client(**kwargs: Any) -> Any:
    from segment.analytics import Client

    # segment has no capture modes: the variant's options are not for it.
    return Client(SEGMENT_KEY, **_by_signature(Client.__init__, kwargs))


class Lib:
    """How to build, call and flush one library. ``loop`` is the timed hot loop."""

    name = ""
    sends = True  # False for the baseline, which calls no library

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        """The client with the benchmark's common settings (batches of 100, gzip on)."""
        raise NotImplementedError

    def make_default(self, host: str, **extra: Any) -> Any:
        """The client exactly as a user gets it: only the key and the host (and ``extra``)."""
        raise NotImplementedError

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        raise NotImplementedError

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        raise NotImplementedError

    def refused(self, returned: Any) -> bool:
        """Did the call's return value say the event was not queued (the library's own drop)?"""
        return False

    def flush(self, client: Any) -> None:
        raise NotImplementedError

    def dropped(self, client: Any) -> Optional[int]:
        """Messages the library counted as dropped (queue full), if it keeps a count."""
        return None

    def delivered(self, client: Any) -> Optional[int]:
        """Messages the library counted as delivered, if it keeps a count."""
        return None


class AnalyticsCompat(Lib):
    name = "analytics_compat"

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        options = {
            "secret": SECRET,
            "host": host,
            "flushAt": 100,
            "maxQueueSize": queue,
            "timeout": timeout,
        }
        options.update(extra)
        return compat_client(options)

    def make_default(self, host: str, **extra: Any) -> Any:
        return compat_client({"secret": SECRET, "host": host, **extra})

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        track = client.track
        for i, p in enumerate(plist):
            track({"userId": uids[i % 2000], "event": EVENT, "properties": p})

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        track = client.track
        return lambda uid, p: track({"userId": uid, "event": EVENT, "properties": p})

    def flush(self, client: Any) -> None:
        result = client.flush(timeout=600)
        # A FlushResult is false when a message failed too; only a timeout raises here
        # (and an older analytics_compat returned a bool).
        if not getattr(result, "settled", result):
            raise RuntimeError("analytics_compat flush timed out")

    def dropped(self, client: Any) -> Optional[int]:
        return int(client.stats["dropped_queue_full"])

    def delivered(self, client: Any) -> Optional[int]:
        value = client.stats.get("delivered")
        return None if value is None else int(value)


class PostHog(Lib):
    """posthog-python 7.x: ``capture(event, distinct_id=..., properties=...)``.

    Older majors (< 6) took ``capture(distinct_id, event, properties)``; the form is
    picked from the signature, and constructor options it lacks are left out.
    ``capture`` returns None when it did not queue the event (queue full, closed).
    """

    name = "posthog"
    old_capture = False

    def _made(self, client: Any) -> Any:
        first = next(iter(inspect.signature(client.capture).parameters))
        self.old_capture = first == "distinct_id"
        return client

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
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
        return self._made(posthog_client(**kwargs))

    def make_default(self, host: str, **extra: Any) -> Any:
        return self._made(posthog_client(host=host, **extra))

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

    def refused(self, returned: Any) -> bool:
        # 7.x returns the event's uuid, None when it dropped it; < 6 returned (ok, msg).
        if isinstance(returned, tuple):
            return returned[0] is False
        return returned is None

    def flush(self, client: Any) -> None:
        try:
            client.flush(timeout_seconds=None)
        except TypeError:  # posthog < 7: flush() takes no timeout and blocks until done
            client.flush()


class Segment(Lib):
    name = "segment"

    def make(self, host: str, queue: int, timeout: float = 30.0, **extra: Any) -> Any:
        kwargs = dict(host=host, upload_size=100, max_queue_size=queue, gzip=True, timeout=timeout)
        kwargs.update(extra)
        return segment_client(**kwargs)

    def make_default(self, host: str, **extra: Any) -> Any:
        return segment_client(host=host, **extra)

    def loop(self, client: Any, uids: List[str], plist: List[Dict[str, Any]]) -> None:
        track = client.track
        for i, p in enumerate(plist):
            track(uids[i % 2000], EVENT, p)

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        track = client.track
        return lambda uid, p: track(uid, EVENT, p)

    def refused(self, returned: Any) -> bool:
        return isinstance(returned, tuple) and returned[0] is False  # (False, msg): queue full

    def flush(self, client: Any) -> None:
        client.flush()


class Baseline(Lib):
    """No library: the call builds the message a library would get, and nothing else.

    The flood's calibration: its worst call is what the interpreter alone imposes on
    a producer (other producers' turns on the interpreter lock, the OS scheduler, the
    cyclic garbage collector), the floor under any library's worst call.
    """

    name = "baseline"
    sends = False

    def make_default(self, host: str, **extra: Any) -> Any:
        return None

    def one(self, client: Any) -> Callable[[str, Dict[str, Any]], Any]:
        return lambda uid, p: {"userId": uid, "event": EVENT, "properties": p}

    def flush(self, client: Any) -> None:
        return None


LIBS: Dict[str, Lib] = {
    lib.name: lib for lib in (AnalyticsCompat(), PostHog(), Segment(), Baseline())
}


class DropCounter(logging.Filter):
    """Counts a library's "queue is full" warnings without changing where they go.

    A filter on the library's logger sees each record that logger emits before the
    handlers (or Python's last-resort stderr handler) do, and lets it through: the
    output a user would see is unchanged. posthog-python reports a dropped
    ``$feature_flag_called`` this way only (the flag call's return value is the flag).
    """

    def __init__(self, logger: str) -> None:
        super().__init__()
        self.count = 0
        self._logger = logging.getLogger(logger)
        self._logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if "queue is full" in str(record.msg):
            self.count += 1
        return True
