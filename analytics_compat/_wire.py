"""What every wire protocol's encoder shares: compact JSON, UTF-8, timestamps, SDK properties.

Owns the C JSON encoder built once, UTF-8 with lone surrogates replaced (PostHog's
JSON parsers refuse them, with the whole batch), the ISO-8601 text of an instant
(formatted once per second), and the properties the SDK adds to every event when it
is encoded (``$lib``, ``$geoip_disable``, ``$is_server``).

Knows nothing about messages, queues or HTTP.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Callable, Dict, Union

from ._version import __version__

__all__ = [
    "LIB_NAME",
    "add_sdk_properties",
    "iso_timestamp",
    "json_string",
    "json_text",
    "sdk_properties",
    "utf8",
]

LIB_NAME = "analytics-compat"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _json_encoder() -> Callable[[Any], str]:
    """Compact JSON of our own values (already JSON-safe and acyclic: ``_jsonsafe``).

    The C encoder is built once: ``JSONEncoder.encode`` builds one per call, which
    costs more than encoding a small event.
    """
    try:
        from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

        if c_make_encoder is None:
            raise ImportError
        encoder = c_make_encoder(None, None, encode_basestring, None, ":", ",", False, False, False)
        encoder({}, 0)
    except (ImportError, TypeError):  # another interpreter, or a changed signature
        return json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode

    def dumps(value: Any) -> str:
        return "".join(encoder(value, 0))

    return dumps


json_text = _json_encoder()
json_string: Callable[[str], str] = json.encoder.encode_basestring  # a quoted JSON string


def sdk_properties(*, disable_geoip: bool, is_server: bool) -> Dict[str, Any]:
    """What the SDK adds to every event's properties when it is encoded: ``$lib`` and
    ``$lib_version``, ``$geoip_disable`` (unless the event says otherwise) and, asked
    for, ``$is_server``. Protocols that carry ``$lib`` elsewhere drop those two."""
    added: Dict[str, Any] = {"$lib": LIB_NAME, "$lib_version": __version__}
    if disable_geoip:
        added["$geoip_disable"] = True
    if is_server:
        added["$is_server"] = True
    return added


def add_sdk_properties(props: Dict[str, Any], added: Dict[str, Any]) -> None:
    """Add ``added`` (from ``sdk_properties``): ``$lib`` always wins; ``$geoip_disable``
    and ``$is_server`` only where the event did not set them itself."""
    lib = added.get("$lib")
    if lib is not None:
        props["$lib"] = lib
        props["$lib_version"] = added["$lib_version"]
    if "$geoip_disable" in added:
        props.setdefault("$geoip_disable", True)
    if "$is_server" in added:
        props.setdefault("$is_server", True)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (which no JSON parser of PostHog's accepts, and
    which would fail the whole batch) becomes U+FFFD, a surrogate pair its character."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return fixed.encode("utf-8")


_seconds: Dict[int, str] = {}  # "YYYY-MM-DDTHH:MM:SS" of recent whole seconds


def iso_timestamp(when: Union[float, str]) -> str:
    """An event's timestamp as ISO-8601 UTC text: an ISO string as given, epoch seconds
    as ``datetime.isoformat()`` writes them, to the microsecond; the date and time of
    day are formatted once per second."""
    if isinstance(when, str):
        return when
    second, micros = divmod(round(when * 1_000_000), 1_000_000)
    head = _seconds.get(second)
    if head is None:
        if len(_seconds) > 64:
            _seconds.clear()
        head = _seconds[second] = (_EPOCH + _dt.timedelta(seconds=second)).isoformat()[:19]
    return f"{head}.{micros:06d}+00:00" if micros else f"{head}+00:00"
