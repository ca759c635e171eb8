"""Turning a request body into JSON: gzip, posthog-js's form encoding, strict JSON.

Owns the documented body limits and the decoding rules of the capture endpoints:

- ``Content-Encoding: gzip`` (or ``x-gzip``), ``?compression=gzip-js`` / ``gzip``, or a
  body that starts with the gzip magic bytes is inflated *incrementally* with a cap, so
  a decompression bomb is refused after at most ``MAX_DECODED_BYTES + 1`` bytes of
  output instead of being inflated in memory;
- a form body (``application/x-www-form-urlencoded``) carries the payload in its
  ``data`` field, base64-encoded (as posthog-js sends it) or as plain JSON;
- the JSON itself must be strict: ``NaN`` / ``Infinity`` and numbers out of range
  (``1e400``) are refused, as PostHog's parser refuses them, and so is a lone UTF-16
  surrogate escape (``"\\ud800"``), which no UTF-8 store can hold (PostHog replaces
  it with U+FFFD; this server says so instead, 400 ``invalid_unicode``).

``inflate_deflate`` does the same for capture v1's ``Content-Encoding: deflate``
(zlib-wrapped or raw), and ``strict_json`` is the JSON rule alone, for routes that
decompress by their own rules.

Inflation is linear in the body (input is fed in slices, so a body of many small
members costs no more than one large one) and bounded three ways: output
(``MAX_DECODED_BYTES``), members (``MAX_GZIP_MEMBERS``) and time
(``MAX_INFLATE_SECONDS``).

It knows nothing about sockets, tokens, events or storage.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import zlib
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import parse_qs

from ._errors import RequestError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "MAX_GZIP_MEMBERS",
    "MAX_INFLATE_SECONDS",
    "decode_json_body",
    "inflate",
    "inflate_deflate",
    "strict_json",
]

#: Largest request body accepted on the wire (compressed or not): 20 MiB, PostHog's
#: capture limit for a batch. A larger ``Content-Length`` is answered 413 unread.
MAX_BODY_BYTES = 20 * 1024 * 1024
#: Largest body accepted after decompression: also 20 MiB. Inflating stops there (413).
MAX_DECODED_BYTES = 20 * 1024 * 1024

#: Most gzip members accepted in one body. Clients send one; ``cat a.gz b.gz`` makes a
#: few. A body of a million empty members is an attack, refused (400) at the limit.
MAX_GZIP_MEMBERS = 1000
#: Longest time inflating one body may take before it is refused (413). Inflating
#: 20 MiB takes a small fraction of it; the bound holds whatever the input.
MAX_INFLATE_SECONDS = 5.0

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Input goes to zlib in slices of this size: ``unused_data`` (what follows a member)
# is then at most one slice, so starting the next member never copies the whole rest
# of the body, which made many small members quadratic.
_SLICE = 64 * 1024


def inflate(
    data: bytes,
    cap: int = MAX_DECODED_BYTES,
    *,
    max_members: int = MAX_GZIP_MEMBERS,
    max_seconds: float = MAX_INFLATE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Gunzip ``data`` (one or more members), refusing more than ``cap`` bytes of output.

    Linear in ``len(data)`` plus the output. Raises ``RequestError`` 400 for a corrupt
    or truncated stream or more than ``max_members`` members, and 413 as soon as the
    output would exceed ``cap`` (the stream is never inflated past it) or inflating has
    taken ``max_seconds`` by ``clock``.
    """
    deadline = clock() + max_seconds
    out = bytearray()
    view = memoryview(data)
    position = 0
    members = 0
    inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
    started = False  # the current member has been fed at least one byte
    pending = b""
    while True:
        if not pending:
            if position >= len(data):
                break
            pending = bytes(view[position : position + _SLICE])
            position += len(pending)
        if not started:
            if pending[:1] == b"\x00" and members:
                # NUL padding after the last member (tape-era gzip writers add it)
                rest_is_nul = data.count(0, position) == len(data) - position
                if pending.count(0) == len(pending) and rest_is_nul:
                    return bytes(out)
                raise RequestError(400, "invalid_gzip", "the body is not valid gzip")
            members += 1
            if members > max_members:
                raise RequestError(
                    400,
                    "too_many_gzip_members",
                    f"the body has more than {max_members} gzip members",
                )
        try:
            chunk = inflater.decompress(pending, cap + 1 - len(out))
        except zlib.error:
            raise RequestError(400, "invalid_gzip", "the body is not valid gzip") from None
        started = True
        out += chunk
        _check_bounds(len(out), cap, clock() > deadline, max_seconds)
        if inflater.eof:
            pending = inflater.unused_data
            if not pending and position >= len(data):
                return bytes(out)
            # Concatenated gzip members are one stream (RFC 1952 section 2.2).
            inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
            started = False
            continue
        pending = inflater.unconsumed_tail
    if started or members == 0:
        raise RequestError(400, "invalid_gzip", "the gzip body is truncated")
    return bytes(out)


def inflate_deflate(
    data: bytes,
    cap: int = MAX_DECODED_BYTES,
    *,
    max_seconds: float = MAX_INFLATE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Inflate a ``Content-Encoding: deflate`` body, refusing more than ``cap`` bytes of output.

    zlib-wrapped (RFC 1950) when the first byte is ``0x78``, else raw deflate (RFC 1951),
    as PostHog's capture service decides. The same bounds as ``inflate``: 400 for a
    corrupt or truncated stream (or bytes after its end), 413 past ``cap`` or
    ``max_seconds``.
    """
    deadline = clock() + max_seconds
    wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits=wbits)
    out = bytearray()
    view = memoryview(data)
    position = 0
    pending = b""
    while True:
        if not pending:
            if position >= len(data):
                break
            pending = bytes(view[position : position + _SLICE])
            position += len(pending)
        try:
            chunk = inflater.decompress(pending, cap + 1 - len(out))
        except zlib.error:
            raise RequestError(400, "invalid_deflate", "the body is not valid deflate") from None
        out += chunk
        _check_bounds(len(out), cap, clock() > deadline, max_seconds)
        if inflater.eof:
            if inflater.unused_data or position < len(data):
                raise RequestError(400, "invalid_deflate", "the body goes on after its end")
            return bytes(out)
        pending = inflater.unconsumed_tail
    raise RequestError(400, "invalid_deflate", "the deflate body is truncated")


def _check_bounds(size: int, cap: int, late: bool, max_seconds: float) -> None:
    """413 once the output passed ``cap`` bytes or inflating passed ``max_seconds``."""
    if size > cap:
        raise RequestError(413, "payload_too_large", f"the decompressed body exceeds {cap} bytes")
    if late:
        raise RequestError(
            413, "payload_too_large", f"inflating the body took over {max_seconds:g} s"
        )


def _is_gzip(
    raw: bytes, content_encoding: Optional[str], query: Mapping[str, Sequence[str]]
) -> bool:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return True
    if encoding not in ("", "identity"):
        raise RequestError(
            415, "unsupported_encoding", "only gzip and identity content encodings are supported"
        )
    compression = (query.get("compression") or [""])[-1].strip().lower()
    if compression in ("gzip-js", "gzip"):
        return True
    if compression not in ("", "none", "base64"):
        raise RequestError(
            415, "unsupported_compression", "only gzip-js and base64 compression are supported"
        )
    return raw.startswith(_GZIP_MAGIC)


def _b64decode(text: str) -> bytes:
    cleaned = "".join(text.split())
    cleaned += "=" * (-len(cleaned) % 4)
    altchars = b"-_" if ("-" in cleaned or "_" in cleaned) else None
    try:
        return base64.b64decode(cleaned, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "invalid_payload", "the data field is not base64") from None


def _unwrap_form(body: bytes, content_type: Optional[str]) -> Optional[bytes]:
    """Return the JSON bytes carried by a posthog-js form body, or None if not a form."""
    is_form = (content_type or "").lower().startswith("application/x-www-form-urlencoded")
    if not is_form and not body.startswith(b"data="):
        return None
    if body.lstrip().startswith((b"{", b"[")):
        return None  # JSON sent with a form content type (curl -d does this)
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise RequestError(400, "invalid_payload", "the form body is not ASCII") from None
    values = fields.get("data")
    if not values:
        raise RequestError(400, "invalid_payload", "the form body has no data field")
    data = values[-1].strip()
    if data.startswith(("{", "[")):
        return data.encode("utf-8")
    return _b64decode(data)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # 1e400 parses to inf, which the store cannot write back as JSON
        raise ValueError("number out of range")
    return value


# A JSON escape of a UTF-16 surrogate. Only such an escape can put a surrogate into a
# decoded string (the body itself was strict UTF-8), so without one there is no check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    try:
        # a valid pair was joined by the parser; a lone half cannot be encoded
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def strict_json(body: bytes, *, finite: bool = True) -> Any:
    """Parse UTF-8 JSON, refusing ``NaN`` / ``Infinity`` (and, when ``finite``, numbers
    out of range such as ``1e400``) with 400 ``invalid_json``. Lone surrogate escapes
    are left in: each caller decides what one means."""
    try:
        return json.loads(
            body.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float if finite else float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None


def decode_json_body(
    raw: bytes,
    *,
    content_encoding: Optional[str] = None,
    content_type: Optional[str] = None,
    query: Optional[Mapping[str, Sequence[str]]] = None,
) -> Any:
    """Decode a request body to a JSON value, or raise ``RequestError`` (400/413/415)."""
    query = query or {}
    body = inflate(raw) if _is_gzip(raw, content_encoding, query) else raw
    if len(body) > MAX_DECODED_BYTES:
        raise RequestError(413, "payload_too_large", f"the body exceeds {MAX_DECODED_BYTES} bytes")
    form_data = _unwrap_form(body, content_type)
    if form_data is not None:
        body = form_data
    elif (query.get("compression") or [""])[-1].strip().lower() == "base64":
        body = _b64decode(body.decode("ascii", errors="replace"))
    if not body.strip():
        raise RequestError(400, "empty_body", "the request body is empty")
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        lone_surrogate = _SURROGATE_ESCAPE.search(text) is not None and _has_lone_surrogate(value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None
    if lone_surrogate:
        raise RequestError(
            400, "invalid_unicode", "a string in the body has a lone UTF-16 surrogate escape"
        )
    return value
