"""The import command's pacing and reporting while it runs.

Owns three small things, each with an injectable clock so tests need not sleep:

- ``RateLimiter``: ``--rate`` as a token bucket (a burst of at most a twentieth of a
  second's worth, so the server sees a steady flow, not a sawtooth);
- ``RecentIds``: the uuids sent lately, in two generations of at most ``size`` each,
  so a duplicate of one of the last ``size`` messages (often more, never ``2 * size``)
  is skipped and memory stays bounded (an older duplicate is sent again and stored once by the
  server, which deduplicates by uuid);
- ``Progress``: on a terminal one line rewritten in place a few times a second; not
  on a terminal, one plain line every ``interval`` seconds. Lines done / total
  (estimated from the bytes read until the input is read to its end), events per
  second, failures, rejects and the time left.

It knows nothing about Segment, files or the client.
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Deque, Hashable, Optional, TextIO, Tuple

import attrs

__all__ = ["Progress", "RateLimiter", "RecentIds", "Snapshot", "duration"]

Clock = Callable[[], float]


class RateLimiter:
    """At most ``rate`` acquisitions per second on average."""

    def __init__(
        self, rate: float, *, clock: Clock = time.monotonic, sleep: Callable[[float], object]
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._burst = max(1.0, rate / 20)
        self._clock = clock
        self._sleep = sleep
        self._tokens = 1.0
        self._last = clock()

    def acquire(self) -> None:
        now = self._clock()
        tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return
        wait = (1.0 - tokens) / self._rate
        self._sleep(wait)
        # the token waited for is spent; time slept beyond ``wait`` refills the bucket
        self._tokens = 0.0
        self._last = now + wait


class RecentIds:
    """Membership among at least the last ``size`` ids added (0: remembers none)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._new: set[Hashable] = set()
        self._old: set[Hashable] = set()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._new or key in self._old

    def add(self, key: Hashable) -> None:
        if not self._size:
            return
        self._new.add(key)
        if len(self._new) >= self._size:
            self._old, self._new = self._new, set()


@attrs.frozen(kw_only=True)
class Snapshot:
    """Where an import stands."""

    done: int  # lines settled: sent, skipped, rejected or failed
    read: int  # lines read (skipped ones included)
    total: Optional[int]  # every line, once the input has been read to its end
    fraction: float  # of the input's bytes read
    sent: int
    failed: int
    rejected: int
    in_flight: int = 0  # sent and not yet acknowledged

    def estimated_total(self) -> Optional[float]:
        if self.total is not None:
            return float(self.total)
        if self.fraction > 0 and self.read:
            return max(float(self.read), self.read / self.fraction)
        return None


def duration(seconds: float) -> str:
    """``3h04m``, ``2m05s``, ``9s``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Renders snapshots: ``mode`` is ``"tty"``, ``"plain"`` or ``"off"``."""

    _WINDOW = 10.0  # seconds of history the rates are measured over
    _TTY_EVERY = 0.25

    def __init__(
        self, out: TextIO, *, mode: str, interval: float, clock: Clock = time.monotonic
    ) -> None:
        self._out = out
        self._mode = mode
        self._every = self._TTY_EVERY if mode == "tty" else interval
        self._clock = clock
        start = clock()
        self._next = start + self._every
        self._samples: Deque[Tuple[float, int, int]] = collections.deque([(start, 0, 0)])
        self._drawn = False

    def update(self, snapshot: Snapshot, *, final: bool = False) -> None:
        if self._mode == "off":
            return
        now = self._clock()
        if not final and now < self._next:
            return
        self._next = now + self._every
        text = self.render(snapshot, now)
        if self._mode == "tty":
            self._out.write("\r" + text + "\x1b[K" + ("\n" if final else ""))
            self._drawn = not final
        else:
            self._out.write(text + "\n")
        self._out.flush()

    def close(self) -> None:
        """End an in-place line (after an interruption, say)."""
        if self._drawn:
            self._out.write("\n")
            self._out.flush()
            self._drawn = False

    def render(self, snapshot: Snapshot, now: float) -> str:
        samples = self._samples
        while len(samples) > 1 and now - samples[1][0] >= self._WINDOW:
            samples.popleft()
        then, done_then, sent_then = samples[0]
        samples.append((now, snapshot.done, snapshot.sent))
        elapsed = now - then
        total = snapshot.estimated_total()
        if total is None:
            of = "?"
        else:
            of = f"{total:,.0f}" if snapshot.total is not None else f"~{total:,.0f}"
        parts = [f"{snapshot.done:,} / {of} lines"]
        if total:
            parts[0] += f" ({min(100.0, 100.0 * snapshot.done / total):.0f}%)"
        rate = (snapshot.sent - sent_then) / elapsed if elapsed > 0 else 0.0
        parts.append(f"{rate:,.0f} events/s")
        parts.append(f"sent {snapshot.sent:,}")
        parts.append(f"in flight {snapshot.in_flight:,}")
        parts.append(f"failed {snapshot.failed:,}")
        parts.append(f"rejected {snapshot.rejected:,}")
        line_rate = (snapshot.done - done_then) / elapsed if elapsed > 0 else 0.0
        if total is not None and line_rate > 0:
            parts.append(f"{duration(max(0.0, total - snapshot.done) / line_rate)} left")
        return "import: " + ", ".join(parts)
