"""What one delivery attempt means for each message, and the deadline an attempt runs under.

Owns ``Outcome`` (delivered, failed with a reason, retry, or too large to send in
one request), the shared ``DELIVERED`` outcome, and ``Deadline``: the shutdown
deadline the batcher may set while a request or a backoff sleep is under way, with
an interruptible wait so shutdown can cut a sleep short.

Knows nothing about HTTP, protocols or queues.
"""

from __future__ import annotations

import enum
import threading
import time
from typing import Optional

from ..errors import DeliveryError

__all__ = ["DELIVERED", "Deadline", "Outcome", "Verdict"]


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # final: ``error`` says why
    RETRY = "retry"  # try again later (``retry_after`` seconds if the server said so)
    TOO_LARGE = "too_large"  # the request was too large: split it and resend


class Outcome:
    """The verdict on one message after an attempt (or, finally, after all of them)."""

    __slots__ = ("error", "retry_after", "verdict")

    def __init__(
        self,
        verdict: Verdict,
        error: Optional[DeliveryError] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.verdict = verdict
        self.error = error
        self.retry_after = retry_after

    @classmethod
    def failed(cls, error: DeliveryError) -> Outcome:
        return cls(Verdict.FAILED, error)

    @property
    def delivered(self) -> bool:
        return self.verdict is Verdict.DELIVERED

    def __repr__(self) -> str:
        return f"<Outcome {self.verdict.value} {self.error or ''}>".replace(" >", ">")


DELIVERED = Outcome(Verdict.DELIVERED)


class Deadline:
    """A deadline that may be set (once shutdown starts) while the worker is sending."""

    __slots__ = ("_interrupt", "at")

    def __init__(self) -> None:
        self.at: Optional[float] = None  # time.monotonic() seconds, or None: no deadline
        self._interrupt = threading.Event()

    def set(self, at: float) -> None:
        """Set the deadline and wake a sleeping sender so it re-checks it."""
        self.at = at
        self._interrupt.set()

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def remaining(self, cap: float) -> float:
        """``cap`` seconds, or less if the deadline is nearer (never below 50 ms)."""
        if self.at is None:
            return cap
        return max(0.05, min(cap, self.at - time.monotonic()))

    def sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless the deadline forbids it; False means give up."""
        end = time.monotonic() + delay
        while True:
            if self.at is not None and end > self.at:
                return False
            remaining = end - time.monotonic()
            if remaining <= 0:
                return True
            # Woken early when shutdown sets a deadline, to re-check it.
            if self._interrupt.wait(remaining):
                self._interrupt.clear()
