"""Keep project and personal API keys out of log records we do not write ourselves.

Our own log lines never contain a key. But PostHog's flag-definitions endpoint takes
the project key in the query string (``?token=...``), and urllib3 logs request URLs
at DEBUG. This module owns a logging *filter* (not a handler) on urllib3's
connection-pool logger that replaces every registered key with ``[redacted]``.
Knows nothing about clients beyond the strings it is given.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote

from ._lifecycle import after_fork_in_child

__all__ = ["register_secret"]

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_INSTALLED = False


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _SECRETS
        if not secrets:
            return True
        text = record.getMessage()
        if any(s in text for s in secrets):
            for secret in secrets:
                text = text.replace(secret, "[redacted]")
            record.msg, record.args = text, None
        return True


def register_secret(*secrets: str | None) -> None:
    """Redact these strings (and their URL-quoted forms) from urllib3's log records."""
    global _INSTALLED
    with _LOCK:
        for secret in secrets:
            if secret:
                _SECRETS.add(secret)
                _SECRETS.add(quote(secret, safe=""))
        if not _INSTALLED:
            logging.getLogger("urllib3.connectionpool").addFilter(_RedactFilter())
            _INSTALLED = True


def _new_lock_in_child() -> None:
    # A lock some other thread held at fork() stays held forever in the child.
    global _LOCK
    _LOCK = threading.Lock()


after_fork_in_child(_new_lock_in_child)
