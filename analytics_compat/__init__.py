"""analytics-compat: the legacy Segment analytics-node API on a PostHog core.

::

    import analytics_compat as analytics

    analytics.init({"secret": "phc_...", "host": "http://127.0.0.1:8010", "flushAt": 20})
    analytics.track({"userId": "u1", "event": "Signed Up"}).on("flush", lambda: print("sent"))
    analytics.flush(lambda err: print("flushed", err))

Public names are re-exported here; the ``_modules`` behind them are private.
"""

from __future__ import annotations

from . import triggers
from ._client import Client
from ._config import DEFAULT_HOST, ClientOptions, FlushPolicy
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
    alias,
    capture_exception,
    default_client,
    flush,
    group,
    identify,
    init,
    on,
    once,
    remove_listener,
    shutdown,
    track,
)
from ._dispatch import Lifecycle
from ._engine import FlushInfo
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
    "AnalyticsError",
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
    "HTTPStatusError",
    "Lifecycle",
    "MessagePromise",
    "NotInitializedError",
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
    "remove_listener",
    "scoped",
    "set_context_session",
    "shutdown",
    "tag",
    "track",
    "triggers",
]


def __getattr__(name: str) -> object:
    # FeatureFlagResult lives in the flags package, imported only when first needed.
    if name == "FeatureFlagResult":
        from .flags import FlagResult

        return FlagResult
    raise AttributeError(f"module 'analytics_compat' has no attribute {name!r}")
