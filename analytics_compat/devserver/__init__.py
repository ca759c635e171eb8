"""A local PostHog-compatible server for development, demos and tests.

It accepts what PostHog's capture service accepts (``/batch/``, ``/capture/``, ``/e/``,
``/i/v0/e/``; JSON, gzip, posthog-js form bodies; and capture v1,
``/i/v1/analytics/events``, with a result per event), stores events in SQLite
(deduplicated by ``uuid``, with the protocol that delivered each), builds persons and
groups the way PostHog does, serves and evaluates feature flags, answers PostHog's
app API for flags and annotations (``/api/projects/@current/...``), and shows a live
events page at ``/``::

    from analytics_compat.devserver import DevServer

    with DevServer(tokens=("phc_test",)) as server:
        ...  # point an SDK at server.url
        assert server.store.count(event="signed_up") == 1

Limits: a request body of at most ``MAX_BODY_BYTES`` (20 MiB) on the wire and
``MAX_DECODED_BYTES`` (20 MiB) after decompression, else 413; gzip is inflated in
linear time, at most ``MAX_GZIP_MEMBERS`` members (400) and ``MAX_INFLATE_SECONDS``
(413). By default only loopback ``Host`` names are answered, and only the capture
and flag-evaluation endpoints answer other origins (CORS); see ``_security``. This
package imports nothing from analytics_compat except the flag model and evaluator.
"""

from __future__ import annotations

from ._decoding import MAX_BODY_BYTES, MAX_DECODED_BYTES, MAX_GZIP_MEMBERS, MAX_INFLATE_SECONDS
from ._messages import RequestRecord
from ._server import DevServer, State, is_loopback_host
from ._store import EventStore, IngestResult, default_db_path

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "MAX_GZIP_MEMBERS",
    "MAX_INFLATE_SECONDS",
    "DevServer",
    "EventStore",
    "IngestResult",
    "RequestRecord",
    "State",
    "default_db_path",
    "is_loopback_host",
]
