"""analytics-compat: the legacy Segment analytics-node API on a PostHog core.

::

    import analytics_compat as analytics

    analytics.init({"secret": "phc_...", "host": "http://127.0.0.1:8010", "flushAt": 20})
    analytics.track({"userId": "u1", "event": "Signed Up"}).on("flush", lambda: print("sent"))
    analytics.flush(lambda err: print("flushed", err))

segment-analytics-python's way works too: ``analytics.write_key = "phc_..."`` (and its
other settings, ``host``, ``on_error``, ``debug``, ...), then
``analytics.track("user_id", "Signed Up", {"plan": "pro"})``.

Public names are re-exported here; the ``_modules`` behind them are private.
"""

from __future__ import annotations

import sys
from typing import Any

from . import triggers
from ._client import Client
from ._config import DEFAULT_HOST, CaptureMode, ClientOptions, FlushPolicy
from ._context_calls import (
    get_context_distinct_id,
    get_context_session_id,
    get_tags,
    identify_context,
    new_context,
    scoped,
    set_context_session,
    tag,
)
from ._default import (
    SETTINGS,
    SettingsModule,
    alias,
    capture_exception,
    default_client,
    flush,
    group,
    identify,
    init,
    on,
    once,
    page,
    remove_listener,
    screen,
    setting,
    shutdown,
    started_client,
    track,
)
from ._dispatch import Lifecycle
from ._engine import FlushInfo
from ._flushes import FlushResult
from ._promise import MessagePromise, PromiseState
from ._version import __version__
from .errors import (
    AnalyticsError,
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    EncodingError,
    EventDroppedError,
    HTTPStatusError,
    NotInitializedError,
    QueueFullError,
    RetriesExhaustedError,
    ShutdownTimeoutError,
    TransportError,
    ValidationError,
)

__all__ = [
    "DEFAULT_HOST",
    "VERSION",
    "AnalyticsError",
    "CaptureMode",
    "Client",
    "ClientClosedError",
    "ClientOptions",
    "ConfigurationError",
    "DeliveryError",
    "EncodingError",
    "EventDroppedError",
    "FeatureFlagResult",
    "FlushInfo",
    "FlushPolicy",
    "FlushResult",
    "HTTPStatusError",
    "Lifecycle",
    "MessagePromise",
    "NotInitializedError",
    "Posthog",
    "PromiseState",
    "QueueFullError",
    "RetriesExhaustedError",
    "ShutdownTimeoutError",
    "TransportError",
    "ValidationError",
    "__version__",
    "alias",
    "capture_exception",
    "default_client",
    "flush",
    "get_context_distinct_id",
    "get_context_session_id",
    "get_tags",
    "group",
    "identify",
    "identify_context",
    "init",
    "new_context",
    "on",
    "once",
    "page",
    "remove_listener",
    "scoped",
    "screen",
    "set_context_session",
    "shutdown",
    "tag",
    "track",
    "triggers",
]


Posthog = Client  # posthog-python's name: ``Posthog("phc_...", host=...)``
VERSION = __version__  # segment-python's name

# PostHog's calls at module level act on the default client, as ``posthog.capture(...)``
# does: looked up on it at call time (so they follow ``init``), never written twice.
_DEFAULT_CLIENT_CALLS = frozenset(
    {
        "capture",
        "capture_immediate",
        "set",
        "set_once",
        "group_identify",
        "group_identify_immediate",
        "identify_immediate",
        "alias_immediate",
        "register",
        "unregister",
        "join",
        "feature_enabled",
        "is_feature_enabled",
        "get_feature_flag",
        "get_feature_flag_result",
        "get_feature_flag_payload",
        "get_all_flags",
        "get_all_flags_and_payloads",
        "get_remote_config_payload",
        "load_feature_flags",
        "reload_feature_flags",
        "override_feature_flags",
        "is_local_evaluation_ready",
        "wait_for_local_evaluation_ready",
    }
)


def __getattr__(name: str) -> Any:
    if name in _DEFAULT_CLIENT_CALLS:
        return getattr(started_client(strict=False), name)
    if name in SETTINGS:  # segment-python's settings, not assigned yet: None
        return setting(name)
    # FeatureFlagResult lives in the flags package, imported only when first needed.
    if name == "FeatureFlagResult":
        from .flags import FlagResult

        return FlagResult
    raise AttributeError(f"module 'analytics_compat' has no attribute {name!r}")


# ``analytics_compat.write_key = ...`` and the other settings go through the module's class.
sys.modules[__name__].__class__ = SettingsModule
