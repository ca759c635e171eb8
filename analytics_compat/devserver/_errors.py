"""The one error the devserver's request-processing code raises: ``RequestError``.

Owns the mapping from "this request is unacceptable" to an HTTP status and a short,
PostHog-like JSON error body. It knows nothing about sockets, SQLite or flags.
Messages are built from field names and sizes, never from what the client sent; a
401 may name the project tokens the server accepts, never a personal API key.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RequestError"]


class RequestError(Exception):
    """A request the server refuses as a whole; raised before anything is stored.

    ``status`` is the HTTP status to answer with and ``code`` a short machine-readable
    reason (PostHog's capture service answers with a ``type``/``code``/``detail`` body).
    """

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON body answered to the client."""
        kind = "authentication_error" if self.status == 401 else "validation_error"
        return {"type": kind, "code": self.code, "detail": self.detail}
