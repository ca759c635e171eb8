"""Turning a request body into JSON: gzip, posthog-js's form encoding, strict JSON.

Owns the documented body limits and the decoding rules of the capture endpoints:

- ``Content-Encoding: gzip`` (or ``x-gzip``), ``?compression=gzip-js`` / ``gzip``, or a
  body that starts with the gzip magic bytes is inflated *incrementally* with a cap, so
  a decompression bomb is refused after at most ``MAX_DECODED_BYTES + 1`` bytes of
  output instead of being inflated in memory;
- a form body (``application/x-www-form-urlencoded``) carries the payload in its
  ``data`` field, base64-encoded (as posthog-js sends it) or as plain JSON;
- the JSON itself must be strict: ``NaN`` / ``Infinity`` are refused, as PostHog's
  parser refuses them.

It knows nothing about sockets, tokens, events or storage.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import parse_qs

from ._errors import RequestError

__all__ = ["MAX_BODY_BYTES", "MAX_DECODED_BYTES", "decode_json_body", "inflate"]

#: Largest request body accepted on the wire (compressed or not): 20 MiB, PostHog's
#: capture limit for a batch. A larger ``Content-Length`` is answered 413 unread.
MAX_BODY_BYTES = 20 * 1024 * 1024
#: Largest body accepted after decompression: also 20 MiB. Inflating stops there (413).
MAX_DECODED_BYTES = 20 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def inflate(data: bytes, cap: int = MAX_DECODED_BYTES) -> bytes:
    """Gunzip ``data`` (one or more members), refusing more than ``cap`` bytes of output.

    Raises ``RequestError`` 400 for a corrupt or truncated stream and 413 as soon as
    the output would exceed ``cap``: the stream is never inflated past the cap.
    """
    out = bytearray()
    inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
    pending = data
    while True:
        try:
            chunk = inflater.decompress(pending, cap + 1 - len(out))
        except zlib.error:
            raise RequestError(400, "invalid_gzip", "the body is not valid gzip") from None
        out += chunk
        if len(out) > cap:
            raise RequestError(
                413, "payload_too_large", f"the decompressed body exceeds {cap} bytes"
            )
        if inflater.eof:
            rest = inflater.unused_data
            if rest.strip(b"\x00"):
                # Concatenated gzip members are one stream (RFC 1952 section 2.2).
                inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
                pending = rest
                continue
            return bytes(out)
        pending = inflater.unconsumed_tail
        if not pending and not chunk:
            raise RequestError(400, "invalid_gzip", "the gzip body is truncated")


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
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None
