"""The canonical client configuration: one frozen object made of small sub-configs.

Owns what every option means once the caller's spelling has been read (that is
``_options``): units are settled (seconds everywhere here), defaults are documented
in one place, and each part of the client gets only the sub-config it needs:

- ``BatchConfig``: when queued messages leave (the batcher);
- ``DeliveryConfig``: where and how batches are sent (the transport);
- ``CaptureConfig``: what the call surface needs (test mode, legacy group type);
- ``FlagsConfig``: polling, remote evaluation and flag events (the flags service);
- ``ExceptionsConfig``: error tracking (``capture_exception`` and autocapture).

``ClientOptions`` holds them, plus the flat names custom triggers read
(``client.options.flush_at``, ``.flush_after``, ...). Knows nothing about queues,
threads or HTTP.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from typing import Any, Callable, Dict, Optional, Tuple

import attrs

__all__ = [
    "DEFAULT_HOST",
    "BatchConfig",
    "CaptureConfig",
    "CaptureMode",
    "ClientOptions",
    "DeliveryConfig",
    "ExceptionsConfig",
    "FlagsConfig",
    "FlushPolicy",
    "Trigger",
]

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


class CaptureMode(enum.Enum):
    """The capture protocol a client speaks, chosen once per client.

    ``V0`` (default): ``POST /batch/``, one answer for the whole batch.
    ``V1``: ``POST /i/v1/analytics/events``, an answer per event (a dropped event
    fails its own promise; only the events the server asks for are resent).
    """

    V0 = "v0"
    V1 = "v1"


def _default_triggers() -> Tuple[Trigger, ...]:
    from . import triggers  # imports nothing from the package

    return (triggers.size, triggers.time)


@attrs.frozen(kw_only=True)
class BatchConfig:
    """The batcher's settings. Times are seconds."""

    flush_at: int = 20
    flush_after: float = 10.0
    max_queue_size: int = 10_000
    timer_interval: float = 10.0
    triggers: Tuple[Trigger, ...] = attrs.field(factory=_default_triggers)
    flush_policy: FlushPolicy = FlushPolicy.LEGACY
    max_batch_size: int = 1000
    shutdown_timeout: float = 5.0
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)

    @property
    def default_triggers(self) -> bool:
        """True when ``triggers`` are the built-in size and time triggers (inlined)."""
        return self.triggers == _default_triggers()


@attrs.frozen(kw_only=True)
class DeliveryConfig:
    """The transport's settings. Times are seconds."""

    host: str = DEFAULT_HOST
    secret: str = attrs.field(repr=False)
    disable_geoip: bool = True  # every event says $geoip_disable: true unless it says otherwise
    is_server: bool = False  # add $is_server: true to every event (posthog-python does)
    gzip: bool = True
    timeout: float = 10.0
    max_retries: int = 3
    retry_backoff: float = 0.5
    max_retry_backoff: float = 30.0
    max_retry_after: float = 60.0
    historical_migration: bool = False
    max_batch_bytes: int = 5 * 1024 * 1024
    max_event_bytes: int = 900 * 1024
    capture_mode: CaptureMode = CaptureMode.V0
    # v1 only: "gzip", "deflate" or "none"; None follows ``gzip`` (v0 always does).
    capture_compression: Optional[str] = None
    # requests-style {"https": "http://proxy:3128"}; None: the environment's (HTTPS_PROXY)
    proxies: Optional[Dict[str, str]] = attrs.field(default=None, repr=False)

    @property
    def compression(self) -> Optional[str]:
        """The request body's Content-Encoding for this protocol (None: uncompressed)."""
        if self.capture_mode is CaptureMode.V1 and self.capture_compression is not None:
            return None if self.capture_compression == "none" else self.capture_compression
        return "gzip" if self.gzip else None


@attrs.frozen(kw_only=True)
class CaptureConfig:
    """What the call surface and the engine need.

    ``send=False`` is test mode: nothing leaves, promises emit ``flush``. ``disabled``:
    every call is a no-op (promises settle at once as ``flush``), flags give None and
    nothing touches the network. ``sync_mode``: each message is sent on the caller's
    thread before the call returns. ``on_error(error, messages)`` is called after the
    client's ``error`` event for a delivery failure, with the messages it failed (as
    dicts). ``threads`` is accepted for posthog-python's ``thread``: one worker does.
    """

    send: bool = True
    group_type: str = "company"
    super_properties: Dict[str, Any] = attrs.field(factory=dict)
    before_send: Optional[Callable[[Dict[str, Any]], Any]] = attrs.field(default=None, repr=False)
    disabled: bool = False
    sync_mode: bool = False
    on_error: Optional[Callable[..., Any]] = attrs.field(default=None, repr=False)
    debug: bool = False
    threads: int = 1
    app_host: Optional[str] = None  # client.api's host; None: derived from ``host``
    log_handler: Optional[logging.Handler] = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class FlagsConfig:
    """The flags service's settings. Times are seconds."""

    host: str = DEFAULT_HOST
    secret: str = attrs.field(repr=False)
    personal_api_key: Optional[str] = attrs.field(default=None, repr=False)
    poll_interval: float = 30.0
    poll_timeout: float = 10.0
    request_timeout: float = 3.0
    # None: /flags/definitions, falling back to /api/feature_flag/local_evaluation/ on 404
    definitions_path: Optional[str] = None
    definitions_cache_file: Optional[str] = None  # shared by the processes of one host
    definitions_cache: Any = attrs.field(default=None, repr=False)  # a cache provider
    local_evaluation: bool = True  # poll definitions when a personal API key is set
    disable_geoip: bool = True
    send_events: bool = True


# posthog-python's defaults: names of local variables whose values are never sent.
DEFAULT_MASK_PATTERNS: Tuple[str, ...] = tuple(
    "(?i)" + word
    for word in (
        "password", "secret", "passwd", "pwd", "api_key", "apikey", "auth", "credentials",
        "privatekey", "private_key", "token", "aws_access_key_id", "_pass", "sk_", "jwt",
        "connection_string", "connectionstring", "conn_str", "connstr", "dsn", "[?&]sig=",
    )
)  # fmt: skip
DEFAULT_IGNORE_PATTERNS: Tuple[str, ...] = (r"^__.*",)


def _cwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:  # the working directory was removed
        return None


@attrs.frozen(kw_only=True)
class ExceptionsConfig:
    """Error tracking's settings (posthog-python's option names)."""

    enable_exception_autocapture: bool = False  # sys and threading excepthooks
    # in_app: frames under project_root (default: the working directory at init) or
    # in these modules (and their submodules); never site-packages or the stdlib.
    project_root: Optional[str] = attrs.field(factory=_cwd)
    in_app_modules: Tuple[str, ...] = ()
    log_captured_exceptions: bool = False
    # Off by default: local variables can hold secrets. On: in-app frames only, masked.
    capture_exception_code_variables: bool = False
    code_variables_mask_patterns: Tuple[str, ...] = DEFAULT_MASK_PATTERNS
    code_variables_ignore_patterns: Tuple[str, ...] = DEFAULT_IGNORE_PATTERNS


@attrs.frozen(kw_only=True)
class ClientOptions:
    """A client's whole configuration. Build it with ``_options.parse_options``."""

    secret: str = attrs.field(repr=False)
    host: str
    batch: BatchConfig
    delivery: DeliveryConfig
    capture: CaptureConfig
    flags: FlagsConfig
    exceptions: ExceptionsConfig = attrs.field(factory=ExceptionsConfig)

    # The flat names a custom trigger (and older code) reads from ``client.options``.
    @property
    def flush_at(self) -> int:
        return self.batch.flush_at

    @property
    def flush_after(self) -> float:
        """``flushAfter`` in seconds."""
        return self.batch.flush_after

    @property
    def flush_after_ms(self) -> float:
        return self.batch.flush_after * 1000.0

    @property
    def timer_interval(self) -> float:
        """``timerInterval`` in seconds."""
        return self.batch.timer_interval

    @property
    def timer_interval_ms(self) -> float:
        return self.batch.timer_interval * 1000.0

    @property
    def max_queue_size(self) -> int:
        return self.batch.max_queue_size

    @property
    def flush_policy(self) -> FlushPolicy:
        return self.batch.flush_policy

    @property
    def triggers(self) -> Tuple[Trigger, ...]:
        return self.batch.triggers

    @property
    def send(self) -> bool:
        return self.capture.send
