"""Client options: the legacy analytics-node names, their snake_case twins, and checks.

Owns ``ClientOptions`` (a frozen, keyword-only attrs class holding every option
with its documented default) and ``parse_options``, which accepts a legacy
mapping (``{'secret': ..., 'flushAt': 20}``) and/or snake_case keywords and raises
``ConfigurationError`` naming the option for anything unknown or ill-typed.

Units follow the names: the legacy options (``flushAfter``, ``timerInterval``,
``featureFlagsPollingInterval``) are milliseconds in both spellings, as in
analytics-node; the PostHog-style ones (``timeout``, ``shutdown_timeout``,
``poll_interval``, ``retry_backoff``) are seconds, as in posthog-python.

Knows nothing about queues, threads or HTTP.
"""

from __future__ import annotations

import enum
import math
import time
import urllib.parse
from typing import Any, Callable, Mapping, Optional, Tuple

import attrs
import requests

from .errors import ConfigurationError

__all__ = ["DEFAULT_HOST", "ClientOptions", "FlushPolicy", "parse_options"]

DEFAULT_HOST = "https://us.i.posthog.com"

Trigger = Callable[[Any], bool]


class FlushPolicy(enum.Enum):
    """When queued messages are released for sending.

    ``LEGACY`` (default): analytics-node 0.x. ``last_flush`` starts at the epoch, so the
    very first message is sent at once, alone; the time trigger then fires when
    ``flushAfter`` has passed since the last flush.

    ``POSTHOG``: a batch waits until ``flushAt`` messages are queued or its oldest
    message is ``flushAfter`` old, as PostHog's server SDKs batch.
    """

    LEGACY = "legacy"
    POSTHOG = "posthog"


def _default_triggers() -> Tuple[Trigger, ...]:
    from . import triggers  # the triggers module imports nothing from here at import time

    return (triggers.size, triggers.time)


@attrs.frozen(kw_only=True)
class ClientOptions:
    """Every client option, with its default. Build it with ``parse_options``."""

    secret: str = attrs.field(repr=False)
    host: str = DEFAULT_HOST
    flush_at: int = 20
    flush_after_ms: float = 10_000
    max_queue_size: int = 10_000
    timer_interval_ms: float = 10_000
    triggers: Tuple[Trigger, ...] = attrs.field(factory=_default_triggers)
    send: bool = True
    flush_policy: FlushPolicy = FlushPolicy.LEGACY
    group_type: str = "company"
    max_batch_size: int = 1000
    max_batch_bytes: int = 5 * 1024 * 1024
    max_event_bytes: int = 900 * 1024
    gzip: bool = True
    timeout: float = 10.0
    max_retries: int = 3
    retry_backoff: float = 0.5
    max_retry_backoff: float = 30.0
    max_retry_after: float = 60.0
    shutdown_timeout: float = 5.0
    historical_migration: bool = False
    personal_api_key: Optional[str] = attrs.field(default=None, repr=False)
    poll_interval: float = 30.0
    flags_request_timeout: float = 3.0
    flag_definitions_path: str = "/api/feature_flag/local_evaluation/"
    disable_geoip: bool = False
    send_feature_flag_events: bool = True
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)

    @property
    def flush_after(self) -> float:
        """``flushAfter`` in seconds."""
        return self.flush_after_ms / 1000.0

    @property
    def timer_interval(self) -> float:
        """``timerInterval`` in seconds."""
        return self.timer_interval_ms / 1000.0


# (canonical field, kind, lower bound). Kinds: str, int, num, bool, triggers, policy, clock.
_SPEC: dict[str, tuple[str, str, float]] = {
    "secret": ("secret", "str", 0),
    "host": ("host", "str", 0),
    "flush_at": ("flush_at", "int", 1),
    "flush_after": ("flush_after_ms", "num", 0),
    "max_queue_size": ("max_queue_size", "int", 1),
    "timer_interval": ("timer_interval_ms", "num", 1),
    "triggers": ("triggers", "triggers", 0),
    "send": ("send", "bool", 0),
    "flush_policy": ("flush_policy", "policy", 0),
    "group_type": ("group_type", "name", 0),
    "max_batch_size": ("max_batch_size", "int", 1),
    "max_batch_bytes": ("max_batch_bytes", "int", 1024),
    "max_event_bytes": ("max_event_bytes", "int", 64),
    "gzip": ("gzip", "bool", 0),
    "timeout": ("timeout", "num", 0.001),
    "max_retries": ("max_retries", "int", 0),
    "retry_backoff": ("retry_backoff", "num", 0),
    "max_retry_backoff": ("max_retry_backoff", "num", 0),
    "max_retry_after": ("max_retry_after", "num", 0),
    "shutdown_timeout": ("shutdown_timeout", "num", 0),
    "historical_migration": ("historical_migration", "bool", 0),
    "personal_api_key": ("personal_api_key", "optstr", 0),
    "poll_interval": ("poll_interval", "num", 0.01),
    "feature_flags_polling_interval": ("poll_interval", "ms", 10),
    "flags_request_timeout": ("flags_request_timeout", "num", 0.001),
    "flag_definitions_path": ("flag_definitions_path", "str", 0),
    "disable_geoip": ("disable_geoip", "bool", 0),
    "send_feature_flag_events": ("send_feature_flag_events", "bool", 0),
    "clock": ("clock", "clock", 0),
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
    merged: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for source in (options or {}, kwargs):
        for raw_name, value in source.items():
            if not isinstance(raw_name, str):
                raise ConfigurationError(f"option name {raw_name!r} is not a string")
            name = snake_case(raw_name)
            name = _ALIASES.get(name, name)
            if name not in _SPEC:
                raise ConfigurationError(f"unknown option {raw_name!r}", option=raw_name)
            canonical = _SPEC[name][0]
            merged[canonical] = _check(raw_name, _SPEC[name][1], _SPEC[name][2], value)
            spelled[canonical] = raw_name
    if "secret" not in merged or not merged["secret"]:
        raise ConfigurationError(
            "the 'secret' option (the project API key) is required and must be a non-empty string",
            option=spelled.get("secret", "secret"),
        )
    host = merged.get("host")
    if host is not None:
        if not host.startswith(("http://", "https://")):
            raise ConfigurationError(
                "host must start with http:// or https://", option=spelled["host"]
            )
        merged["host"] = host.rstrip("/")
        if not _usable_host(merged["host"]):
            raise ConfigurationError("host is not a usable URL", option=spelled["host"])
    return ClientOptions(**merged)


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
    if kind == "clock":
        if not callable(value):
            raise bad("a callable returning seconds")
        return value
    raise AssertionError(kind)  # pragma: no cover - _SPEC and this function move together
