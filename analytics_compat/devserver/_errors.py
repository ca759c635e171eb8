"""The one error the devserver's request-processing code raises: ``RequestError``.

Owns the mapping from "this request is unacceptable" to an HTTP status and a short,
PostHog-like JSON error body: ``{"type", "code", "detail"}`` (and ``attr``, the field
at fault, for the app API), or capture v1's ``{"error", "error_description",
"error_uri"}`` for a ``CaptureV1Error``, which also says ``Retry-After: 1`` on 429,
500 and 503 as PostHog's v1 capture does. It knows nothing about sockets, SQLite or
flags. Messages are built from field names and sizes, never from what the client
sent; a 401 may name the project tokens the server accepts, never a personal API key.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["CaptureV1Error", "RequestError"]


class RequestError(Exception):
    """A request the server refuses as a whole; raised before anything is stored.

    ``status`` is the HTTP status to answer with and ``code`` a short machine-readable
    reason (PostHog's capture service answers with a ``type``/``code``/``detail`` body).
    """

    def __init__(self, status: int, code: str, detail: str, *, attr: Optional[str] = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.attr = attr

    def body(self) -> dict[str, Any]:
        """The JSON body answered to the client."""
        kinds = {401: "authentication_error", 404: "invalid_request"}
        kind = kinds.get(self.status, "validation_error")
        body: dict[str, Any] = {"type": kind, "code": self.code, "detail": self.detail}
        if self.attr is not None:
            body["attr"] = self.attr
        return body

    def headers(self) -> tuple[tuple[str, str], ...]:
        """Response headers this refusal adds."""
        return ()


class CaptureV1Error(RequestError):
    """A refusal of capture v1 (``/i/v1/analytics/events``), worded as PostHog's v1 words it."""

    def body(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "error_description": self.detail,
            "error_uri": "https://posthog.com/docs/api",
        }

    def headers(self) -> tuple[tuple[str, str], ...]:
        return (("Retry-After", "1"),) if self.status in (429, 500, 503) else ()
