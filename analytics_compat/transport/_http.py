"""The HTTP part of delivery: one connection, compression, one attempt, backoff.

Owns how a capture request reaches the server: one persistent HTTP/1.1 connection
per client worker (``http.client``, renewed after a fork, reopened when the server
closed it), request compression (gzip, deflate or none), one POST bounded by a
**total** deadline (the ``timeout`` option, capped by the shutdown ``Deadline``: see
``_socket``, which makes every socket step obey it, so a server that trickles a byte
at a time cannot hold the worker), the ``Reply`` (status, ``Retry-After``,
``Location``, the body when the protocol reads it, and a short error detail with
every key redacted before it is cut), and the delay before the next attempt
(exponential backoff with jitter, or ``Retry-After`` up to a cap).

Capture requests never follow redirects and never decode a 2xx body they do not
read: a 2xx means delivered. ``post`` never raises: a request that got no HTTP
answer is a ``TransportError``. Knows nothing about what the body holds,
protocols, queues or promises.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import http.client
import random
import socket
import urllib.parse
import zlib
from typing import Mapping, Optional, Sequence, Union

from .._version import __version__
from ..errors import TransportError
from ._outcome import Deadline
from ._socket import AttemptClock, dropped, open_connection, proxy_for

__all__ = [
    "USER_AGENT",
    "HttpClient",
    "Reply",
    "is_retryable_status",
    "parse_retry_after",
    "redact",
]

USER_AGENT = f"analytics-compat/{__version__}"
_MAX_BODY = 1 << 20  # a reply body we read at most (results of a v1 batch fit easily)
_DETAIL_CHARS = 200


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class Reply:
    """What the server answered to one attempt."""

    __slots__ = ("body", "detail", "location", "retry_after", "status", "url")

    def __init__(
        self,
        status: int,
        *,
        retry_after: Optional[float] = None,
        detail: str = "",
        location: Optional[str] = None,
        body: Optional[bytes] = None,
        url: Optional[str] = None,
    ) -> None:
        self.status = status
        self.url = url  # where the request went (no key, no query string), for error text
        self.retry_after = retry_after
        self.detail = detail  # short, one line, keys redacted
        self.location = location  # a redirect's target, keys redacted
        self.body = body  # the body when asked for and readable, else None (not redacted)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpClient:
    """Posts request bodies for one client's worker; used from that thread only."""

    def __init__(
        self,
        *,
        host: str,
        secrets: Sequence[str],
        compression: Optional[str],
        timeout: float,
        retry_backoff: float,
        max_retry_backoff: float,
        max_retry_after: float,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> None:
        parts = urllib.parse.urlsplit(host)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base = parts.path.rstrip("/")
        self._secrets = tuple(s for s in secrets if s)
        self.compression = compression
        self._timeout = timeout
        self._backoff = retry_backoff
        self._max_backoff = max_retry_backoff
        self._max_retry_after = max_retry_after
        self._proxy = proxy_for(host, proxies)
        default_port = 443 if parts.scheme == "https" else 80
        port = "" if self._port == default_port else f":{self._port}"
        # What error text names as the destination: the host option's own words, keys cut.
        self.origin = redact(f"{self._scheme}://{self._host}{port}{self._base}", self._secrets)
        self._clock = AttemptClock()
        self._conn: Optional[http.client.HTTPConnection] = None
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"<HttpClient {self._scheme}://{self._host}:{self._port} {self.compression}>"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def after_fork(self) -> None:
        """A forked child opens its own connection (the parent's belongs to the parent:
        closing the child's copy of its socket does not end it for the parent)."""
        self.close()

    # -- one attempt -------------------------------------------------------------------
    def compress(self, raw: bytes) -> bytes:
        if self.compression == "gzip":
            # Level 1: analytics JSON is repetitive enough that faster beats smaller here.
            packer = zlib.compressobj(1, zlib.DEFLATED, 31)
            return packer.compress(raw) + packer.flush()
        if self.compression == "deflate":
            return zlib.compress(raw, 1)  # zlib-wrapped, as PostHog's servers expect
        return raw

    def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: Deadline,
        *,
        read_body: bool = False,
    ) -> Union[Reply, TransportError]:
        """One attempt, over within ``timeout`` seconds (less if ``deadline`` is nearer)."""
        self._clock.start(self._timeout, deadline)
        target = self._base + path
        self.requests_sent += 1
        try:
            conn = self._connection()
            sent = dict(headers)
            if self._proxy is not None and self._scheme == "http":
                target = f"http://{self._host}:{self._port}{target}"  # absolute, for the proxy
                sent.update(self._proxy[2])
            if self.compression is not None:
                sent["Content-Encoding"] = self.compression
            conn.request("POST", target, body=body, headers=sent)
            response = conn.getresponse()
            return self._reply(response, read_body, self.origin + path)
        except Exception as exc:  # no answer: refused, reset, timed out, TLS, bad status line
            self.close()
            url = self.origin + path
            return TransportError(f"no answer from {url} ({_describe(exc)})", url=url)

    def _connection(self) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is not None and dropped(conn):
            self.close()
            conn = None
        if conn is None:
            conn = self._open()
            self._conn = conn
        return conn

    def _open(self) -> http.client.HTTPConnection:
        if self._proxy is None:
            return open_connection(self._scheme, self._host, self._port, self._clock, None)
        host, port, headers = self._proxy
        tunnel = (self._host, self._port, headers) if self._scheme == "https" else None
        return open_connection(self._scheme, host, port, self._clock, tunnel)

    def _reply(self, response: http.client.HTTPResponse, read_body: bool, url: str) -> Reply:
        status = response.status
        keep = not response.will_close
        body: Optional[bytes] = None
        if 200 <= status < 300 and not read_body:
            keep = keep and _drain(response)
        else:
            body = _read(response)
            keep = keep and body is not None
        if not keep:
            response.close()  # the reader's hold on the socket ends with the answer
            self.close()
        if 200 <= status < 300:
            if not read_body:
                return Reply(status, url=url)
            # A per-event protocol may ask to resend some events, and when to.
            return Reply(
                status,
                retry_after=parse_retry_after(response.getheader("Retry-After")),
                body=_decoded(body, response.getheader("Content-Encoding")),
                url=url,
            )
        text = _decoded(body, response.getheader("Content-Encoding")) or b""
        location = response.getheader("Location")
        return Reply(
            status,
            retry_after=parse_retry_after(response.getheader("Retry-After")),
            detail=redact(" ".join(text.decode("utf-8", "replace").split()), self._secrets),
            location=None if location is None else redact(location, self._secrets),
            body=text if read_body else None,  # unredacted: the protocol redacts what it uses
            url=url,
        )

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self._max_retry_after)
        ceiling = min(self._max_backoff, self._backoff * (2 ** (attempt - 1)))
        return float(ceiling * random.uniform(0.5, 1.0))  # jitter keeps many clients from syncing


# -- helpers ---------------------------------------------------------------------------
def redact(text: str, secrets: Sequence[str], limit: int = _DETAIL_CHARS) -> str:
    """``text`` with every secret, and every start of one, replaced; then cut to ``limit``.

    Redacting before cutting means a cut never leaves part of a key; and a server that
    echoed a key cut short (``"phc_abc..."``) shows none of it either: any run of text
    that matches the first ``_PREFIX`` or more characters of a key is replaced.
    """
    for secret in secrets:
        text = _without(text, secret)
    return text[:limit]


_PREFIX = 5  # "phc_" says nothing; "phc_" plus one character of the key already does


def _without(text: str, secret: str) -> str:
    if len(secret) <= _PREFIX:
        return text.replace(secret, "[redacted]") if secret else text
    head = secret[:_PREFIX]
    out = []
    start = 0
    while True:
        found = text.find(head, start)
        if found < 0:
            out.append(text[start:])
            return "".join(out)
        end = found + _PREFIX
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        out.append(text[start:found])
        out.append("[redacted]")
        start = end


def _drain(response: http.client.HTTPResponse) -> bool:
    """Read and discard a body nobody needs; False if the connection cannot be reused."""
    try:
        left = _MAX_BODY
        while left > 0:
            chunk = response.read(min(65536, left))
            if not chunk:
                return True
            left -= len(chunk)
        return False
    except Exception:  # a 2xx whose body is garbage is still a 2xx
        return False


def _read(response: http.client.HTTPResponse) -> Optional[bytes]:
    try:
        data = response.read(_MAX_BODY + 1)
    except Exception:
        return None
    return None if len(data) > _MAX_BODY else data


def _decoded(body: Optional[bytes], encoding: Optional[str]) -> Optional[bytes]:
    if body is None or not encoding or encoding.strip().lower() in ("identity", ""):
        return body
    try:
        if encoding.strip().lower() in ("gzip", "x-gzip"):
            return zlib.decompress(body, 47)
        if encoding.strip().lower() == "deflate":
            return zlib.decompress(body)
    except zlib.error:
        return None
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: is the server running?"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    return type(exc).__name__


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
