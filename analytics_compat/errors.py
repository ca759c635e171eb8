"""The exception tree of analytics-compat.

Owns every error class the library raises or hands out. It knows nothing about
clients, queues or HTTP beyond the few fields an error carries.

::

    AnalyticsError
    ├── ConfigurationError (ValueError)   raised by Client()/init() for a bad or unknown option
    │   └── NotInitializedError           raised by a call on a client that init() never set up
    ├── ValidationError (ValueError)      raised by a call for a bad message; names the field
    ├── ClientClosedError (RuntimeError)  raised by a call on a shut-down client
    └── DeliveryError                     never raised on the caller's thread: handed to the
        │                                 client's ``error`` listeners and to message promises
        ├── QueueFullError                the queue held ``maxQueueSize`` messages; this one dropped
        ├── EncodingError                 the message could not be encoded, or exceeds the event cap
        ├── HTTPStatusError               the server answered with a non-2xx status
        ├── TransportError                no answer: connection refused, reset, timeout, ...
        ├── RetriesExhaustedError         a retryable failure persisted through every attempt
        ├── ShutdownTimeoutError          shutdown's (or exit's) deadline passed before delivery
        └── EventDroppedError             the event was dropped on purpose (``reason`` says by whom)

The one exception to "never raised on the caller's thread": ``client.api`` (PostHog's
app REST API) is a synchronous call the caller waits for, so it raises
``HTTPStatusError`` or ``TransportError`` there, as ``requests`` would.

Error text never contains a project key or a personal API key: messages are built
from statuses, counts and field names only.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "AnalyticsError",
    "ClientClosedError",
    "ConfigurationError",
    "DeliveryError",
    "EncodingError",
    "EventDroppedError",
    "HTTPStatusError",
    "NotInitializedError",
    "QueueFullError",
    "RetriesExhaustedError",
    "ShutdownTimeoutError",
    "TransportError",
    "ValidationError",
]


class AnalyticsError(Exception):
    """Base class of every error analytics-compat raises or reports."""


class ConfigurationError(AnalyticsError, ValueError):
    """Raised by ``Client(...)`` / ``init(...)`` when an option is unknown, missing or ill-typed.

    ``option`` names the offending option as the caller spelled it.
    """

    def __init__(self, message: str, *, option: Optional[str] = None) -> None:
        super().__init__(message)
        self.option = option


class NotInitializedError(ConfigurationError):
    """Raised by a call on a client (or the module-level default) before ``init(...)``."""

    def __init__(
        self,
        message: str = "the client is not initialized: call init({'secret': ...}) first",
        *,
        option: Optional[str] = "secret",
    ) -> None:
        super().__init__(message, option=option)


class ValidationError(AnalyticsError, ValueError):
    """Raised synchronously by a call whose message is malformed, before anything is queued.

    ``field`` is a dotted path to the offending field (``"userId"``,
    ``"properties.price"``).
    """

    def __init__(self, message: str, *, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


class ClientClosedError(AnalyticsError, RuntimeError):
    """Raised by a call on a client after ``shutdown()``."""

    def __init__(
        self, message: str = "the client was shut down; it accepts no more messages"
    ) -> None:
        super().__init__(message)


class DeliveryError(AnalyticsError):
    """A message could not be delivered. Never raised on the caller's thread.

    ``url`` is where it was being sent (scheme, host, port and path: never a key or
    a query string) when a request was involved, else None. ``operation`` says what
    failed: ``"delivery"`` (sending events) or ``"feature flags"`` (a flags request:
    the client's ``error`` listeners hear about those too).
    """

    operation = "delivery"

    def __init__(self, message: str = "", *, url: Optional[str] = None) -> None:
        super().__init__(message)
        self.url = url


class QueueFullError(DeliveryError):
    """The client's queue already held ``maxQueueSize`` messages; the new message was dropped."""


class EncodingError(DeliveryError):
    """The message could not be encoded as JSON, or its encoding exceeds the per-event cap."""


_KEYS = {
    "project": "the project API key (the 'secret' option, phc_...)",
    "personal": "the personal API key (the 'personal_api_key' option, phx_...)",
}


def _status_hint(status: int, credential: str) -> str:
    """What a person should check after this status (the same words whichever endpoint)."""
    key = _KEYS.get(credential, _KEYS["project"])
    if status == 401:
        return f"{key} was not accepted: check that it is a key of a project on this host"
    if status == 403:
        return f"{key} is not allowed to do this: check its project and its scopes"
    if status == 404:
        return "nothing answers at this path: check that host points at a PostHog server"
    return ""


class HTTPStatusError(DeliveryError):
    """The server answered with a non-2xx status.

    ``status_code`` is the HTTP status; ``retryable`` tells whether the library
    retried it (408, 429 and 5xx are retried; other 4xx are not). The text names
    ``url``, says what to check for 401 / 403 / 404 (``credential`` is the key the
    request carried: ``"project"`` or ``"personal"``), then what the server said.
    """

    def __init__(
        self,
        status_code: int,
        *,
        retryable: bool,
        detail: str = "",
        url: Optional[str] = None,
        credential: str = "project",
    ) -> None:
        text = f"{url or 'the server'} answered HTTP {status_code}"
        hint = _status_hint(status_code, credential)
        if hint:
            text = f"{text}: {hint}"
        if detail:
            text = f"{text} (the server said: {detail})"
        super().__init__(text, url=url)
        self.status_code = status_code
        self.retryable = retryable
        self.credential = credential


class TransportError(DeliveryError):
    """The request got no HTTP answer (connection refused or reset, timeout, TLS failure)."""


class RetriesExhaustedError(DeliveryError):
    """A retryable failure persisted through every attempt; ``last_error`` is the final one."""

    def __init__(self, attempts: int, last_error: DeliveryError) -> None:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(f"gave up after {tries}: {last_error}", url=last_error.url)
        self.attempts = attempts
        self.last_error = last_error
        self.operation = last_error.operation


class ShutdownTimeoutError(DeliveryError):
    """``shutdown()`` (or interpreter exit) reached its deadline before this message was sent.

    ``last_error`` is what the last attempt met if the message was being sent when
    the deadline came (a hung server, say), else None (it was still queued).
    """

    def __init__(
        self,
        message: str,
        *,
        last_error: Optional[DeliveryError] = None,
        url: Optional[str] = None,
    ) -> None:
        if last_error is not None:
            message = f"{message} (last attempt: {last_error})"
            url = url or last_error.url
        super().__init__(message, url=url)
        self.last_error = last_error


class EventDroppedError(DeliveryError):
    """The event was dropped on purpose before delivery, so it will never be sent.

    ``reason`` names who dropped it: a processor stage of the client's pipeline (its
    name), or the server. ``details`` carries what the server said, when it said it.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        details: Optional[str] = None,
        url: Optional[str] = None,
    ) -> None:
        super().__init__(message, url=url)
        self.reason = reason
        self.details = details
