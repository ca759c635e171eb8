"""Transport: deliver one batch of encoded events to ``{host}/batch/``.

Owns the HTTP contract of PostHog's server SDKs: the batch body (``api_key``,
``batch``, ``sent_at``, ``historical_migration``), gzip, connection reuse through
one ``requests.Session``, retries with exponential backoff and jitter on network
errors, timeouts, 408, 429 and 5xx, ``Retry-After``, no retry on other 4xx, and
413 answered by splitting the batch in halves until one oversized event fails alone.

``send`` never raises: it returns one outcome per event (None = delivered, or the
``DeliveryError``). Backoff sleeps wait on an Event so shutdown can cut them short.

Knows nothing about queues, promises, listeners or the legacy API.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import logging
import random
import threading
import time
import zlib
from typing import Callable, List, Optional, Sequence

import requests

from ._version import __version__
from .errors import DeliveryError, HTTPStatusError, RetriesExhaustedError, TransportError

__all__ = ["Outcome", "Transport", "is_retryable_status"]

logger = logging.getLogger(__name__)

Outcome = Optional[DeliveryError]
USER_AGENT = f"analytics-compat/{__version__}"


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class Transport:
    """Posts batches for one client. Used from the client's worker thread only."""

    def __init__(
        self,
        *,
        host: str,
        secret: str,
        gzip: bool,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
        max_retry_backoff: float,
        max_retry_after: float,
        historical_migration: bool,
        deadline: Callable[[], Optional[float]] = lambda: None,
        interrupt: Optional[threading.Event] = None,
    ) -> None:
        self._url = f"{host}/batch/"
        self._secret = secret
        self._prefix = b'{"api_key":' + json.dumps(secret).encode() + b',"batch":['
        self._historical = b"true" if historical_migration else b"false"
        self._gzip = gzip
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = retry_backoff
        self._max_backoff = max_retry_backoff
        self._max_retry_after = max_retry_after
        self._deadline = deadline
        self._interrupt = interrupt or threading.Event()
        self._session = requests.Session()
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"<Transport {self._url} gzip={self._gzip}>"

    def close(self) -> None:
        self._session.close()

    def send(self, events: Sequence[bytes]) -> List[Outcome]:
        """Deliver ``events`` (each one encoded JSON object); one outcome per event."""
        if not events:
            return []
        error = self._send_with_retries(events)
        if isinstance(error, HTTPStatusError) and error.status_code == 413 and len(events) > 1:
            half = len(events) // 2
            return self.send(events[:half]) + self.send(events[half:])
        return [error] * len(events)

    def _body(self, events: Sequence[bytes]) -> bytes:
        sent_at = _dt.datetime.now(_dt.timezone.utc).isoformat()
        raw = b"".join(
            (
                self._prefix,
                b",".join(events),
                b'],"historical_migration":',
                self._historical,
                b',"sent_at":"',
                sent_at.encode(),
                b'"}',
            )
        )
        if not self._gzip:
            return raw
        # Level 1: analytics JSON is repetitive enough that faster beats smaller here.
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        return packer.compress(raw) + packer.flush()

    def _send_with_retries(self, events: Sequence[bytes]) -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            error, retry_after = self._post_once(events)
            if error is None:
                return None
            retryable = isinstance(error, TransportError) or (
                isinstance(error, HTTPStatusError) and error.retryable
            )
            if not retryable:
                return error
            if attempt > self._max_retries:
                return RetriesExhaustedError(attempt, error)
            delay = self._delay(attempt, retry_after)
            logger.debug("batch attempt %d failed (%s); retrying in %.2fs", attempt, error, delay)
            if not self._sleep(delay):
                return RetriesExhaustedError(attempt, error)

    def _post_once(self, events: Sequence[bytes]) -> tuple[Outcome, Optional[float]]:
        timeout = self._timeout
        deadline = self._deadline()
        if deadline is not None:
            timeout = max(0.05, min(timeout, deadline - time.monotonic()))
        try:
            response = self._session.post(
                self._url, data=self._body(events), headers=self._headers, timeout=timeout
            )
        except Exception as exc:  # requests lets some errors through unwrapped (ValueError)
            return TransportError(f"{type(exc).__name__} posting a batch to /batch/"), None
        finally:
            self.requests_sent += 1
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return None, None
            detail = _short_detail(response).replace(self._secret, "[redacted]")
            retry_after = _retry_after(response.headers.get("Retry-After"))
        return HTTPStatusError(status, retryable=is_retryable_status(status), detail=detail), (
            retry_after
        )

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self._max_retry_after)
        ceiling = min(self._max_backoff, self._backoff * (2 ** (attempt - 1)))
        return float(ceiling * random.uniform(0.5, 1.0))  # jitter keeps many clients from syncing

    def _sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless the deadline forbids it; False means give up."""
        end = time.monotonic() + delay
        while True:
            deadline = self._deadline()
            if deadline is not None and end > deadline:
                return False
            remaining = end - time.monotonic()
            if remaining <= 0:
                return True
            # Woken early when shutdown starts, to re-check the (new) deadline.
            if self._interrupt.wait(remaining):
                self._interrupt.clear()


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def _short_detail(response: requests.Response) -> str:
    """The server's error text, trimmed; it never contains our key (we only send it)."""
    try:
        text = response.text[:200]
    except Exception:  # undecodable body: the status says enough
        return ""
    return " ".join(text.split())
