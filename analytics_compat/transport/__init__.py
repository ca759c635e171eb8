"""Delivery of batches: the HTTP part, and the capture protocol as a strategy.

``Transport`` (``_sender``) encodes a batch with its protocol strategy, cuts it into
requests and sees every message to a final ``Outcome``; ``HttpClient`` (``_http``)
owns the session, compression, one attempt and backoff; ``V0Protocol`` (``v0``) is
PostHog's ``/batch/`` and ``V1Protocol`` (``v1``) its ``/i/v1/analytics/events``, with
an answer per event. A protocol is a strategy: nothing above this package changes
with it. Knows nothing about queues, promises or listeners.
"""

from __future__ import annotations

from ._http import HttpClient, Reply, is_retryable_status, parse_retry_after
from ._outcome import DELIVERED, Deadline, Outcome, Verdict
from ._sender import Report, Strategy, Transport
from .v0 import V0Protocol
from .v1 import V1Protocol

__all__ = [
    "DELIVERED",
    "Deadline",
    "HttpClient",
    "Outcome",
    "Reply",
    "Report",
    "Strategy",
    "Transport",
    "V0Protocol",
    "V1Protocol",
    "Verdict",
    "is_retryable_status",
    "parse_retry_after",
]
