"""How each API spells each option: analytics-node, posthog-python, segment-analytics-python.

Owns the table from every accepted option name to its place in the canonical
configuration (``_config``): which sub-config, which field, which kind of value
(and so which unit), and the lower bound; the aliases other SDKs use for the same
option; and the options of other SDKs we refuse, each with what to use instead, so a
migrating user gets a sentence, not "unknown option". Names are matched after
``snake_case`` (``flushAt`` is ``flush_at``), except the few camelCase names whose
unit differs from their snake_case twin's (``CAMEL``: analytics-node's
``flushInterval`` is milliseconds, posthog-python's ``flush_interval`` seconds). Also
``did_you_mean``, the near-miss a misspelt name gets (options here, fields in
``_legacy``).

Knows nothing about parsing beyond the table (that is ``_options``).
"""

from __future__ import annotations

import difflib
from typing import Iterable, Optional

__all__ = [
    "ALIASES",
    "CAMEL",
    "REFUSED",
    "SEGMENT_HOSTS",
    "SPEC",
    "camel_case",
    "did_you_mean",
    "posthog_ingestion_host",
]

# name -> (sub-config, field, kind, lower bound). Kinds: str, name, optstr, int, num,
# ms (milliseconds, stored as seconds), bool, triggers, policy, clock, provider,
# mapping, callable, mode (capture_mode), compression (capture_compression), path
# (None: the default), names (module names), patterns (regular expressions), notbool
# (a bool stored inverted), proxies (requests-style), handler (a logging.Handler),
# ignored (accepted, warned about once, and dropped).
# The sub-config "root" holds ``secret`` and ``host``, which several parts share.
SPEC: dict[str, tuple[str, str, str, float]] = {
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
    "capture_mode": ("delivery", "capture_mode", "mode", 0),
    "capture_compression": ("delivery", "capture_compression", "compression", 0),
    "personal_api_key": ("flags", "personal_api_key", "optstr", 0),
    "poll_interval": ("flags", "poll_interval", "num", 0.01),
    "feature_flags_polling_interval": ("flags", "poll_interval", "ms", 10),
    "flags_request_timeout": ("flags", "request_timeout", "num", 0.001),
    "flag_definitions_path": ("flags", "definitions_path", "optstr", 0),
    "flag_definitions_cache_file": ("flags", "definitions_cache_file", "optstr", 0),
    "flag_definitions_cache": ("flags", "definitions_cache", "provider", 0),
    "disable_geoip": ("root", "disable_geoip", "bool", 0),
    "send_feature_flag_events": ("flags", "send_events", "bool", 0),
    "enable_local_evaluation": ("flags", "local_evaluation", "bool", 0),
    # posthog-python's names for what a user sees on every call
    "flush_interval": ("batch", "flush_interval", "num", 0),  # seconds; see _options
    "super_properties": ("capture", "super_properties", "mapping", 0),
    "before_send": ("capture", "before_send", "callable", 0),
    "disabled": ("capture", "disabled", "bool", 0),
    "sync_mode": ("capture", "sync_mode", "bool", 0),
    "on_error": ("capture", "on_error", "callable", 0),
    "debug": ("capture", "debug", "bool", 0),
    "thread": ("capture", "threads", "int", 1),
    "app_host": ("capture", "app_host", "optstr", 0),  # client.api (PostHog's app API)
    "is_server": ("delivery", "is_server", "bool", 0),
    # segment-analytics-python's and analytics-node's later versions
    "proxies": ("delivery", "proxies", "proxies", 0),
    "log_handler": ("capture", "log_handler", "handler", 0),
    "flush_interval_ms": ("batch", "flush_interval", "ms", 1),  # analytics-node's flushInterval
    "http_request_timeout": ("delivery", "timeout", "ms", 1),  # @segment/analytics-node 1.x
    "enable": ("capture", "disabled", "notbool", 0),  # analytics-node 3.x: False = no-ops
    "endpoints": ("root", "endpoints", "ignored", 0),  # analytics-node 0.x's Segment paths
    # error tracking
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
ALIASES_BASE = {"api_key": "secret", "project_api_key": "secret", "write_key": "secret"}


ALIASES = {
    **ALIASES_BASE,
    "upload_size": "flush_at",  # segment-python: messages per batch
    "upload_interval": "flush_interval",  # segment-python: seconds a batch may wait
    "max_events_in_batch": "flush_at",  # @segment/analytics-node's older name of flushAt
    "retry_count": "max_retries",  # analytics-node 3.x
    "disable": "disabled",  # @segment/analytics-node 1.x
    "error_handler": "on_error",  # analytics-node 3.x's errorHandler(err)
    "secret_key": "personal_api_key",  # posthog-python 7's name for the personal API key
    "feature_flags_request_timeout_seconds": "flags_request_timeout",
    "flag_definition_cache_provider": "flag_definitions_cache",
}

# camelCase names read before snake_case: the same words, another unit.
CAMEL = {"flushInterval": "flush_interval_ms"}

_AI = "PostHog's LLM analytics options; analytics-compat does not capture AI events"
_OAUTH = (
    "Segment's OAuth has no PostHog equivalent: capture is authenticated by the project "
    "API key alone (the secret option)"
)
_AXIOS = "analytics-compat sends with its own HTTP client; set timeout, proxies or gzip"
_EMAIL = "PostHog's email API is not part of analytics-compat"
REFUSED = {
    "privacy_mode": _AI,
    "enable_full_ai_capture": _AI,
    "use_ai_lane": _AI,
    "enable_multimodal_capture": _AI,
    "metrics": "analytics-compat sends no SDK metrics; remove it",
    "traces": "analytics-compat sends no traces; remove it",
    "capture_trace_context": "analytics-compat adds no trace context; tag() it in a context",
    "flag_fallback_cache_url": (
        "use flag_definitions_cache_file (one file shared by the processes of a host) "
        "or flag_definitions_cache (any cache provider)"
    ),
    "email_request_timeout_seconds": _EMAIL,
    "email_request_max_retries": _EMAIL,
    "migrated_from": _EMAIL,
    "path": (
        "the path is the capture protocol's (/batch/, or /i/v1/analytics/events with "
        "capture_mode='v1'); to send through a proxy under a prefix, put the prefix in "
        "host (host='https://proxy.example/posthog')"
    ),
    "oauth_client_id": _OAUTH,
    "oauth_client_key": _OAUTH,
    "oauth_key_id": _OAUTH,
    "oauth_auth_server": _OAUTH,
    "oauth_scope": _OAUTH,
    "max_total_backoff_duration": (
        "retries are bounded by max_retries and max_retry_backoff (seconds), and by "
        "shutdown_timeout at shutdown; set those"
    ),
    "max_rate_limit_duration": (
        "a Retry-After is waited up to max_retry_after seconds per attempt, within "
        "max_retries; set those"
    ),
    "axios_config": _AXIOS,
    "axios_instance": _AXIOS,
    "http_client": _AXIOS,
}

# Segment's own API hosts: a PostHog body sent there is refused, so say it at init.
SEGMENT_HOSTS = ("segment.io", "segment.com", "segmentapis.com")

_CLOUD_APP_HOSTS = {
    "https://app.posthog.com": "https://us.i.posthog.com",
    "https://us.posthog.com": "https://us.i.posthog.com",
    "https://eu.posthog.com": "https://eu.i.posthog.com",
}


def posthog_ingestion_host(host: str) -> str:
    """PostHog Cloud's app hosts send to its ingestion hosts, as posthog-python does."""
    return _CLOUD_APP_HOSTS.get(host, host)


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


def did_you_mean(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate ``name`` was most likely meant to be, or None.

    The same letters in another case or with other underscores (``userid``,
    ``flushat``) win, in the caller's style (snake_case if the name has an
    underscore); else the closest spelling (``propertys`` -> ``properties``).
    """
    pool = sorted(set(candidates))
    same = [c for c in pool if _squash(c) == _squash(name) and c != name]
    if same:
        snake = "_" in name
        same.sort(key=lambda c: ("_" in c) != snake)
        return same[0]
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
    return close[0] if close else None


def camel_case(name: str) -> str:
    """``flush_at`` -> ``flushAt`` (the spelling analytics-node users write)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
