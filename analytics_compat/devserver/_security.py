"""Who may talk to the devserver: the Host check, the same-origin rule and CORS.

The server runs beside a browser full of other sites, so it decides per route family:

- ``Access.BROWSER_SDK`` (capture endpoints v0 and v1, ``/flags``, ``/decide``): a
  browser SDK on any origin must reach them, so they answer CORS for every origin
  (``Access-Control-Allow-Origin: *``, no credentials). They need the project token,
  which PostHog treats as public: it ships inside every web page that uses it.
- ``Access.SAME_ORIGIN`` (the page, ``/api/events``, flag definitions, the app API
  under ``/api/projects/``, ``/_health``): no CORS headers,
  ``Cross-Origin-Resource-Policy: same-origin``, and a request the browser marks as
  coming from elsewhere is refused with 403: an ``Origin`` other than the server's
  own, or ``Sec-Fetch-Site`` ``cross-site``/``same-site`` (another port of localhost
  is the same *site*) on anything but a top-level navigation.
- Every route: unless the server was started with ``allow_remote``, the ``Host`` header
  must name a loopback address (``localhost``, 127.0.0.0/8, ``[::1]``) or the bound host,
  so a DNS-rebinding page (its own name resolving to 127.0.0.1) gets 403 as well.

It knows nothing about sockets, bodies, events or flags.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Mapping, Optional
from urllib.parse import urlsplit

import attrs

from ._errors import RequestError

__all__ = ["Access", "HostPolicy", "check_same_origin", "cors_headers", "is_loopback_host"]


class Access(enum.Enum):
    """Which cross-origin policy a route family has."""

    BROWSER_SDK = "browser-sdk"
    SAME_ORIGIN = "same-origin"


_CORS_ANY_ORIGIN = (
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Allow-Headers",
        # capture v1's own headers too, or a browser's preflight for it would fail
        "Content-Type, Content-Encoding, Authorization, PostHog-Sdk-Info, PostHog-Attempt,"
        " PostHog-Request-Id, PostHog-Request-Timestamp",
    ),
    ("Access-Control-Max-Age", "600"),
)
_SAME_ORIGIN_ONLY = (("Cross-Origin-Resource-Policy", "same-origin"),)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower().rstrip(".") in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cors_headers(access: Optional[Access]) -> tuple[tuple[str, str], ...]:
    """The cross-origin headers every response of a route family carries."""
    if access is Access.BROWSER_SDK:
        return _CORS_ANY_ORIGIN
    if access is Access.SAME_ORIGIN:
        return _SAME_ORIGIN_ONLY
    return ()


def _host_name(host: str) -> str:
    """``example.com:8010`` -> ``example.com``; ``[::1]:8010`` -> ``::1``."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, _, _port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return name


@attrs.frozen(kw_only=True)
class HostPolicy:
    """Which ``Host`` headers a server bound to ``bound_host`` answers."""

    bound_host: str
    allow_remote: bool = False

    def check(self, host: Optional[str], *, http_11: bool) -> None:
        """Raise ``RequestError`` (400 without a Host on HTTP/1.1, 403 for another name)."""
        if host is None or not host.strip():
            if http_11:
                raise RequestError(400, "missing_host", "an HTTP/1.1 request needs a Host header")
            return
        if self.allow_remote:
            return
        name = _host_name(host)
        if is_loopback_host(name) or name.lower() == self.bound_host.strip("[]").lower():
            return
        raise RequestError(
            403,
            "host_not_allowed",
            "this devserver answers only requests addressed to a loopback name "
            "(127.0.0.1, localhost, [::1]); start it with --allow-remote to serve other names",
        )


def check_same_origin(headers: Mapping[str, str]) -> None:
    """Refuse (403) a request a browser sent on behalf of another origin.

    ``headers`` has lower-cased names. A request without ``Origin`` and
    ``Sec-Fetch-*`` (curl, SDKs, the CLI) is not from a browser page and passes.
    """
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is not None:
        split = urlsplit(origin.strip())
        if split.scheme != "http" or split.netloc.lower() != host.strip().lower():
            raise RequestError(
                403, "cross_origin", "this endpoint answers only pages served by the devserver"
            )
    site = (headers.get("sec-fetch-site") or "").strip().lower()
    if site in ("cross-site", "same-site"):
        mode = (headers.get("sec-fetch-mode") or "").strip().lower()
        dest = (headers.get("sec-fetch-dest") or "").strip().lower()
        if not (mode == "navigate" and dest == "document"):
            raise RequestError(
                403, "cross_origin", "this endpoint answers only pages served by the devserver"
            )
