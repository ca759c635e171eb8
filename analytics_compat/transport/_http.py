"""The HTTP part of delivery: one session, compression, one attempt, backoff.

Owns the ``requests.Session`` a client's worker posts with (renewed after fork),
request compression, one POST bounded by the caller's ``Deadline``, the ``Reply``
it produced (status, ``Retry-After``, a short error detail with the project key
redacted), and the delay before the next attempt (exponential backoff with
jitter, or the server's ``Retry-After`` up to a cap).

``post`` never raises: a request that got no HTTP answer is a ``TransportError``.
Knows nothing about what the body holds, protocols, queues or promises.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import random
import urllib.parse
import zlib
from typing import Mapping, Optional, Union

import requests

from .._version import __version__
from ..errors import TransportError
from ._outcome import Deadline

__all__ = ["USER_AGENT", "HttpClient", "Reply", "is_retryable_status", "parse_retry_after"]

USER_AGENT = f"analytics-compat/{__version__}"


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class Reply:
    """What the server answered to one attempt."""

    __slots__ = ("detail", "retry_after", "status")

    def __init__(self, status: int, retry_after: Optional[float], detail: str) -> None:
        self.status = status
        self.retry_after = retry_after
        self.detail = detail

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpClient:
    """Posts request bodies for one client's worker; used from that thread only."""

    def __init__(
        self,
        *,
        secret: str,
        gzip: bool,
        timeout: float,
        retry_backoff: float,
        max_retry_backoff: float,
        max_retry_after: float,
    ) -> None:
        self._secret = secret
        self.gzip = gzip
        self._timeout = timeout
        self._backoff = retry_backoff
        self._max_backoff = max_retry_backoff
        self._max_retry_after = max_retry_after
        self._session = requests.Session()
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"<HttpClient gzip={self.gzip}>"

    def close(self) -> None:
        self._session.close()

    def after_fork(self) -> None:
        """A forked child gets its own connections (the parent's belong to the parent)."""
        self._session = requests.Session()

    def compress(self, raw: bytes) -> bytes:
        if not self.gzip:
            return raw
        # Level 1: analytics JSON is repetitive enough that faster beats smaller here.
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        return packer.compress(raw) + packer.flush()

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], deadline: Deadline
    ) -> Union[Reply, TransportError]:
        """One attempt; the timeout never reaches past ``deadline``."""
        try:
            response = self._session.post(
                url, data=body, headers=headers, timeout=deadline.remaining(self._timeout)
            )
        except Exception as exc:  # requests lets some errors through unwrapped (ValueError)
            path = urllib.parse.urlsplit(url).path
            return TransportError(f"{type(exc).__name__} posting a batch to {path}")
        finally:
            self.requests_sent += 1
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return Reply(status, None, "")
            detail = _short_detail(response).replace(self._secret, "[redacted]")
            return Reply(status, parse_retry_after(response.headers.get("Retry-After")), detail)

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self._max_retry_after)
        ceiling = min(self._max_backoff, self._backoff * (2 ** (attempt - 1)))
        return float(ceiling * random.uniform(0.5, 1.0))  # jitter keeps many clients from syncing


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date), or None."""
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
    """The server's error text, trimmed and on one line."""
    try:
        text = response.text[:200]
    except Exception:  # undecodable body: the status says enough
        return ""
    return " ".join(text.split())
