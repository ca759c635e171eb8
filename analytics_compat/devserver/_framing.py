"""HTTP/1.1 message framing: where a request's body ends, decided before reading it.

Owns the rules that keep one request from hiding inside another on a keep-alive
connection (RFC 9112 section 6), applied to the parsed header block of every request
whatever its method:

- the header block must parse: a line that is not ``name: value`` (the parser would
  drop it and every header after it, a ``Content-Length`` included) or a folded line
  is 400 ``malformed_headers``;
- ``Transfer-Encoding`` is not supported: 411 alone, 400 beside a ``Content-Length``;
- ``Content-Length`` is plain ASCII digits; copies of it (or a list in one) must agree,
  else 400 ``invalid_content_length`` (``int()`` alone would take ``+106`` or ``1_06``);
- a header that has one meaning per request (``Host``, ``Content-Type``,
  ``Content-Encoding``, ``Authorization``, ``Origin``, the ``Sec-Fetch-*`` trio) may
  not come twice with different values: 400 ``conflicting_headers``.

After any of these refusals the server cannot know where the next request would
start, so the socket layer closes the connection. It knows nothing about sockets,
routes or what a body contains.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Optional

import attrs

from ._errors import RequestError

__all__ = ["Framing", "check_framing"]

_DIGITS = re.compile(r"[0-9]+")
_SINGLETONS = frozenset(
    {
        "host",
        "content-type",
        "content-encoding",
        "authorization",
        "origin",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
    }
)


@attrs.frozen(kw_only=True)
class Framing:
    """A request's checked headers: ``length`` is None without a ``Content-Length``;
    ``headers`` maps lower-cased names to one value (repeats of list-valued headers
    are joined with ``", "``)."""

    length: Optional[int]
    headers: dict[str, str]


def _malformed() -> RequestError:
    return RequestError(400, "malformed_headers", "a header line is not 'name: value'")


def _content_length(values: list[str]) -> Optional[int]:
    if not values:
        return None
    parts = [part.strip() for value in values for part in value.split(",")]
    if not all(_DIGITS.fullmatch(part) for part in parts) or len(set(map(int, parts))) != 1:
        raise RequestError(
            400,
            "invalid_content_length",
            "Content-Length must be plain digits, given once (or repeated identically)",
        )
    return int(parts[0])


def check_framing(message: Message) -> Framing:
    """Check a parsed header block; raise ``RequestError`` if its framing is unsafe."""
    payload = message.get_payload()
    if message.defects or payload:
        raise _malformed()
    collected: dict[str, list[str]] = {}
    for name, value in message.items():
        if "\r" in value or "\n" in value:
            raise _malformed()  # obs-fold: a continuation line folded into the value
        collected.setdefault(name.lower(), []).append(value.strip())
    length = _content_length(collected.pop("content-length", []))
    if "transfer-encoding" in collected:
        if length is not None:
            raise RequestError(
                400, "conflicting_framing", "send either Content-Length or Transfer-Encoding"
            )
        raise RequestError(411, "length_required", "send a Content-Length, not chunks")
    headers: dict[str, str] = {}
    for name, values in collected.items():
        if name in _SINGLETONS and len(set(values)) > 1:
            raise RequestError(
                400, "conflicting_headers", f"{name} is given twice with different values"
            )
        headers[name] = values[0] if name in _SINGLETONS else ", ".join(values)
    if length is not None:
        headers["content-length"] = str(length)
    return Framing(length=length, headers=headers)
