"""Client options as callers spell them: legacy names, snake_case twins, units, checks.

Owns ``parse_options``, which accepts a legacy mapping (``{'secret': ..., 'flushAt': 20}``)
and/or snake_case keywords, raises ``ConfigurationError`` naming the option (as the
caller spelled it) for anything unknown, ill-typed or out of range, and builds the one
canonical ``ClientOptions`` of ``_config``.

Units follow the names: the legacy options (``flushAfter``, ``timerInterval``,
``featureFlagsPollingInterval``) are milliseconds in both spellings, as in
analytics-node; the PostHog-style ones (``timeout``, ``shutdown_timeout``,
``poll_interval``, ``retry_backoff``) are seconds, as in posthog-python. The
canonical form is seconds throughout.

An unknown name gets the near-miss it most likely meant (``flushat`` -> ``flushAt``);
an option of another SDK we refuse says what to use instead; a Segment API host is
refused (a PostHog body sent there is lost); analytics-node 0.x's ``endpoints`` is
accepted and ignored, with one warning per process.

The environment is read here, once per ``parse_options`` (so once per ``init``):
``POSTHOG_CAPTURE_MODE`` and ``POSTHOG_CAPTURE_COMPRESSION`` when the matching option
is not given, as posthog-python reads them. A bad option value is a
``ConfigurationError``; a bad environment value (an operator's typo) is logged and
ignored, as in posthog-python.

Knows nothing about queues, threads or HTTP beyond refusing a host ``requests``
could not post to.
"""

from __future__ import annotations

import logging
import math
import os
import re
import urllib.parse
from typing import Any, Dict, Mapping, Optional

import requests

from ._config import (
    BatchConfig,
    CaptureConfig,
    CaptureMode,
    ClientOptions,
    DeliveryConfig,
    ExceptionsConfig,
    FlagsConfig,
    FlushPolicy,
)
from ._spellings import (
    ALIASES,
    CAMEL,
    REFUSED,
    SEGMENT_HOSTS,
    SPEC,
    camel_case,
    did_you_mean,
    posthog_ingestion_host,
)
from .errors import ConfigurationError

__all__ = ["CAPTURE_COMPRESSION_ENV", "CAPTURE_MODE_ENV", "parse_options", "snake_case"]

logger = logging.getLogger(__name__)

CAPTURE_MODE_ENV = "POSTHOG_CAPTURE_MODE"
CAPTURE_COMPRESSION_ENV = "POSTHOG_CAPTURE_COMPRESSION"
# posthog-python's spellings (matched ignoring case and surrounding whitespace)
_MODES = {
    "v0": CaptureMode.V0,
    "legacy": CaptureMode.V0,
    "v1": CaptureMode.V1,
    "analytics_v1": CaptureMode.V1,
}
_COMPRESSIONS = {"gzip": "gzip", "deflate": "deflate", "none": "none", "identity": "none"}


def snake_case(name: str) -> str:
    """``flushAt`` -> ``flush_at``; snake_case names are returned unchanged."""
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def parse_options(options: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> ClientOptions:
    """Build ``ClientOptions`` from a legacy mapping and/or keywords (keywords win)."""
    if options is not None and not isinstance(options, Mapping):
        raise ConfigurationError(
            f"options must be a mapping, not {type(options).__name__}", option="options"
        )
    merged: Dict[str, Dict[str, Any]] = {
        "root": {},
        "batch": {},
        "delivery": {},
        "capture": {},
        "flags": {},
        "exceptions": {},
    }
    spelled: dict[str, str] = {}
    for source in (options or {}, kwargs):
        for raw_name, value in source.items():
            if not isinstance(raw_name, str):
                raise ConfigurationError(f"option name {raw_name!r} is not a string")
            name = CAMEL.get(raw_name) or snake_case(raw_name)
            name = ALIASES.get(name, name)
            if name in REFUSED:
                raise ConfigurationError(
                    f"option {raw_name!r} is not supported: {REFUSED[name]}", option=raw_name
                )
            if name not in SPEC:
                raise ConfigurationError(_unknown(raw_name), option=raw_name)
            section, field, kind, low = SPEC[name]
            if kind == "ignored":
                _ignore_once(raw_name)
                continue
            checked = _check(raw_name, kind, low, value)
            if checked is None and kind in ("path", "patterns"):
                merged[section].pop(field, None)  # None: the documented default
            else:
                merged[section][field] = checked
            spelled[field] = raw_name
    batch = merged["batch"]
    if "flush_interval" in batch:  # posthog-python's: a partial batch leaves this late
        interval = batch.pop("flush_interval")
        batch.setdefault("flush_after", interval)
        batch.setdefault("timer_interval", max(interval, 0.001))  # 0 would spin the worker
    _from_environment(merged["delivery"])
    root = merged["root"]
    if not root.get("secret"):
        raise ConfigurationError(
            "the 'secret' option (the project API key) is required and must be a non-empty string",
            option=spelled.get("secret", "secret"),
        )
    host = root.get("host")
    if host is not None:
        if not host.startswith(("http://", "https://")):
            raise ConfigurationError(
                "host must start with http:// or https://", option=spelled["host"]
            )
        root["host"] = posthog_ingestion_host(host.rstrip("/"))
        if not _usable_host(root["host"]):
            raise ConfigurationError("host is not a usable URL", option=spelled["host"])
        hostname = (urllib.parse.urlsplit(root["host"]).hostname or "").rstrip(".")
        if any(hostname == h or hostname.endswith("." + h) for h in SEGMENT_HOSTS):
            raise ConfigurationError(
                f"host {hostname!r} is Segment's API, which cannot read what analytics-compat "
                "sends (PostHog's format): set host to your PostHog host "
                "(https://us.i.posthog.com, https://eu.i.posthog.com, or your own)",
                option=spelled["host"],
            )
    return _build(root, merged)


_KNOWN = frozenset(SPEC) | frozenset(ALIASES) | frozenset(REFUSED) | frozenset(CAMEL)
_WARNED: set[str] = set()


def _unknown(raw_name: str) -> str:
    spellings = _KNOWN | {camel_case(name) for name in _KNOWN if name not in CAMEL}
    meant = did_you_mean(raw_name, spellings - {"flush_interval_ms"})
    if meant is None:
        return f"unknown option {raw_name!r}"
    return f"unknown option {raw_name!r}; did you mean {meant!r}?"


def _ignore_once(raw_name: str) -> None:
    if raw_name in _WARNED:
        return
    _WARNED.add(raw_name)
    logger.warning(
        "option %r is ignored: analytics-compat posts to PostHog's capture endpoint "
        "under host (analytics-node 0.x's Segment endpoints do not apply)",
        raw_name,
    )


def _build(root: Dict[str, Any], merged: Dict[str, Dict[str, Any]]) -> ClientOptions:
    delivery = DeliveryConfig(**root, **merged["delivery"])
    flags = merged["flags"]
    flags.setdefault("poll_timeout", delivery.timeout)  # definitions polls: the HTTP timeout
    return ClientOptions(
        secret=delivery.secret,
        host=delivery.host,
        batch=BatchConfig(**merged["batch"]),
        delivery=delivery,
        capture=CaptureConfig(**merged["capture"]),
        flags=FlagsConfig(**root, **flags),
        exceptions=ExceptionsConfig(**merged["exceptions"]),
    )


def _from_environment(delivery: Dict[str, Any]) -> None:
    """posthog-python's environment variables, for the options the caller left out."""
    if delivery.get("capture_mode") is None:
        delivery["capture_mode"] = _environ(CAPTURE_MODE_ENV, _MODES, "v0") or CaptureMode.V0
    if delivery.get("capture_compression") is None:
        delivery["capture_compression"] = _environ(
            CAPTURE_COMPRESSION_ENV, _COMPRESSIONS, "what the gzip option says"
        )


def _environ(name: str, table: Mapping[str, Any], fallback: str) -> Any:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    value = table.get(raw.strip().lower())
    if value is None:
        logger.warning(
            "ignoring %s=%r: expected one of %s; using %s",
            name,
            raw[:40],
            ", ".join(sorted(table)),
            fallback,
        )
    return value


def _usable_host(host: str) -> bool:
    """What requests/urllib3 would refuse only at send time, refused at init instead."""
    try:  # the same parsing requests applies to every POST
        requests.models.PreparedRequest().prepare_url(host + "/batch/", None)
        hostname = urllib.parse.urlsplit(host).hostname or ""
    except Exception:
        return False
    labels = hostname.rstrip(".").split(".")
    return bool(hostname) and all(0 < len(label) <= 63 for label in labels)


def _check(name: str, kind: str, low: float, value: Any) -> Any:
    def bad(expected: str) -> ConfigurationError:
        return ConfigurationError(
            f"option {name!r} must be {expected}, not {type(value).__name__}", option=name
        )

    if kind == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if kind == "name":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if kind == "optstr":
        if value is not None and not isinstance(value, str):
            raise bad("a string or None")
        return value or None
    if kind in ("bool", "notbool"):
        if not isinstance(value, bool):
            raise bad("True or False")
        return value if kind == "bool" else not value
    if kind == "proxies":
        if value is not None and not (
            isinstance(value, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise bad("a mapping of scheme to proxy URL ({'https': 'http://proxy:3128'}) or None")
        return None if value is None else dict(value)
    if kind == "handler":
        if value is not None and not isinstance(value, logging.Handler):
            raise bad("a logging.Handler (or None)")
        return value
    if kind in ("int", "num", "ms"):
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if not (is_int or (kind != "int" and isinstance(value, float))):
            raise bad("an integer" if kind == "int" else "a number")
        if not math.isfinite(value):
            raise ConfigurationError(f"option {name!r} must be a finite number", option=name)
        if value < low:
            raise ConfigurationError(f"option {name!r} must be at least {low}", option=name)
        return value / 1000.0 if kind == "ms" else value
    if kind == "triggers":
        if callable(value):
            value = (value,)
        if not isinstance(value, (list, tuple)) or not all(callable(t) for t in value):
            raise bad("a list of callables taking the client and returning a bool")
        return tuple(value)
    if kind == "policy":
        try:
            return FlushPolicy(value.value if isinstance(value, FlushPolicy) else value)
        except ValueError:
            raise ConfigurationError(
                f"option {name!r} must be 'legacy' or 'posthog'", option=name
            ) from None
    if kind == "mapping":
        if value is not None and not isinstance(value, Mapping):
            raise bad("a mapping (dict)")
        return dict(value or {})
    if kind == "callable":
        if value is not None and not callable(value):
            raise bad("a callable (or None)")
        return value
    if kind == "mode":
        if value is None or isinstance(value, CaptureMode):
            return value  # None: not given (the environment, then v0)
        mode = _MODES.get(value.strip().lower()) if isinstance(value, str) else None
        if mode is None:
            raise ConfigurationError(
                f"option {name!r} must be 'v0' or 'v1' (or 'legacy', 'analytics_v1'), "
                f"not {value!r:.40}",
                option=name,
            )
        return mode
    if kind == "compression":
        if value is None:
            return None  # not given: the environment, then the gzip option
        compression = _COMPRESSIONS.get(value.strip().lower()) if isinstance(value, str) else None
        if compression is None:
            raise ConfigurationError(
                f"option {name!r} must be 'gzip', 'deflate' or 'none' (zstd is not "
                f"supported), not {value!r:.40}",
                option=name,
            )
        return compression
    if kind == "provider":
        wanted = ("should_fetch_flag_definitions", "get_flag_definitions")
        if value is not None and not all(callable(getattr(value, m, None)) for m in wanted):
            raise bad("a flag definitions cache provider (or None)")
        return value
    if kind == "path":
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise bad("a path or None")
        return None if value is None else os.path.abspath(os.fspath(value))
    if kind in ("names", "patterns"):
        if value is None:
            return None if kind == "patterns" else ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise bad("a list of strings")
        if kind == "patterns":
            for item in items:
                try:
                    re.compile(item)
                except re.error as exc:
                    raise ConfigurationError(
                        f"option {name!r} has an invalid pattern {item!r}: {exc}", option=name
                    ) from None
        return tuple(items)
    if kind == "clock":
        if not callable(value):
            raise bad("a callable returning seconds")
        return value
    raise AssertionError(kind)  # pragma: no cover - _SPEC and this function move together
