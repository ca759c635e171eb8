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

Knows nothing about queues, threads or HTTP beyond refusing a host ``requests``
could not post to.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from typing import Any, Dict, Mapping, Optional

import requests

from ._config import (
    BatchConfig,
    CaptureConfig,
    ClientOptions,
    DeliveryConfig,
    ExceptionsConfig,
    FlagsConfig,
    FlushPolicy,
)
from .errors import ConfigurationError

__all__ = ["parse_options", "snake_case"]

# name -> (sub-config, field, kind, lower bound). Kinds: str, name, optstr, int, num,
# ms (milliseconds, stored as seconds), bool, triggers, policy, clock, provider,
# path (None: the default), names (module names), patterns (regular expressions).
# The sub-config "root" holds ``secret`` and ``host``, which several parts share.
_SPEC: dict[str, tuple[str, str, str, float]] = {
    "secret": ("root", "secret", "str", 0),
    "host": ("root", "host", "str", 0),
    "flush_at": ("batch", "flush_at", "int", 1),
    "flush_after": ("batch", "flush_after", "ms", 0),
    "max_queue_size": ("batch", "max_queue_size", "int", 1),
    "timer_interval": ("batch", "timer_interval", "ms", 1),
    "triggers": ("batch", "triggers", "triggers", 0),
    "flush_policy": ("batch", "flush_policy", "policy", 0),
    "max_batch_size": ("batch", "max_batch_size", "int", 1),
    "shutdown_timeout": ("batch", "shutdown_timeout", "num", 0),
    "clock": ("batch", "clock", "clock", 0),
    "send": ("capture", "send", "bool", 0),
    "group_type": ("capture", "group_type", "name", 0),
    "max_batch_bytes": ("delivery", "max_batch_bytes", "int", 1024),
    "max_event_bytes": ("delivery", "max_event_bytes", "int", 64),
    "gzip": ("delivery", "gzip", "bool", 0),
    "timeout": ("delivery", "timeout", "num", 0.001),
    "max_retries": ("delivery", "max_retries", "int", 0),
    "retry_backoff": ("delivery", "retry_backoff", "num", 0),
    "max_retry_backoff": ("delivery", "max_retry_backoff", "num", 0),
    "max_retry_after": ("delivery", "max_retry_after", "num", 0),
    "historical_migration": ("delivery", "historical_migration", "bool", 0),
    "personal_api_key": ("flags", "personal_api_key", "optstr", 0),
    "poll_interval": ("flags", "poll_interval", "num", 0.01),
    "feature_flags_polling_interval": ("flags", "poll_interval", "ms", 10),
    "flags_request_timeout": ("flags", "request_timeout", "num", 0.001),
    "flag_definitions_path": ("flags", "definitions_path", "optstr", 0),
    "flag_definitions_cache_file": ("flags", "definitions_cache_file", "optstr", 0),
    "flag_definitions_cache": ("flags", "definitions_cache", "provider", 0),
    "disable_geoip": ("flags", "disable_geoip", "bool", 0),
    "send_feature_flag_events": ("flags", "send_events", "bool", 0),
    "enable_exception_autocapture": ("exceptions", "enable_exception_autocapture", "bool", 0),
    "project_root": ("exceptions", "project_root", "path", 0),
    "in_app_modules": ("exceptions", "in_app_modules", "names", 0),
    "log_captured_exceptions": ("exceptions", "log_captured_exceptions", "bool", 0),
    "capture_exception_code_variables": (
        "exceptions",
        "capture_exception_code_variables",
        "bool",
        0,
    ),
    "code_variables_mask_patterns": ("exceptions", "code_variables_mask_patterns", "patterns", 0),
    "code_variables_ignore_patterns": (
        "exceptions",
        "code_variables_ignore_patterns",
        "patterns",
        0,
    ),
}
_ALIASES = {"api_key": "secret", "project_api_key": "secret", "write_key": "secret"}


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
            name = snake_case(raw_name)
            name = _ALIASES.get(name, name)
            if name not in _SPEC:
                raise ConfigurationError(f"unknown option {raw_name!r}", option=raw_name)
            section, field, kind, low = _SPEC[name]
            checked = _check(raw_name, kind, low, value)
            if checked is None and kind in ("path", "patterns"):
                merged[section].pop(field, None)  # None: the documented default
            else:
                merged[section][field] = checked
            spelled[field] = raw_name
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
        root["host"] = host.rstrip("/")
        if not _usable_host(root["host"]):
            raise ConfigurationError("host is not a usable URL", option=spelled["host"])
    return _build(root, merged)


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
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("True or False")
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
