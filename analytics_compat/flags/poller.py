"""Polling of feature-flag definitions for local evaluation.

Owns ``DefinitionsPoller``: one daemon thread that GETs
``{host}{path}?token={project_key}&send_cohorts`` with
``Authorization: Bearer {personal_api_key}`` and ``If-None-Match``, parses the
body once with ``parse_definitions`` and hands the result to ``on_update``. The path
is ``/flags/definitions`` by default (what posthog-python 7.x fetches); a server that
answers it with 404 (an older self-hosted PostHog) is asked
``/api/feature_flag/local_evaluation/`` instead, at once and for the poller's life. An
explicit ``path`` is used as given, without fallback.
Between polls it sleeps with ``stop_event.wait(delay)``, so ``stop()`` interrupts
the sleep. 401/403/429 double the delay (capped; a 429's ``Retry-After`` is
honoured); 402 (quota limited) clears the definitions; anything else that goes
wrong (500, bad JSON, network error) is reported through ``on_error`` and the
poller carries on at its normal interval. It never dies on a bad response, and
an exception in a callback is logged, not propagated.

Keys never appear in logs, reprs or error text: error messages are built from
statuses and exception names, and anything echoed from ``requests`` is redacted.

With a ``cache`` (a ``FlagDefinitionCacheProvider``, e.g. ``FileDefinitionsCache``),
each poll first asks it whether this process should poll: if not, the definitions come
from the cache (parsed again only when they changed); if it has nothing usable
(missing, stale, corrupt, or it fails), the server is asked anyway. What this process
fetches, and each 304 that confirms it, is handed back to the cache for the others.

It must not know about evaluation, the client or the remote ``/flags`` endpoint.
"""

from __future__ import annotations

import enum
import logging
import threading
from typing import Any, Callable, Mapping, Optional
from urllib.parse import quote

import requests

from analytics_compat.errors import (
    ConfigurationError,
    DeliveryError,
    HTTPStatusError,
    TransportError,
)
from analytics_compat.flags.cache import FlagDefinitionCacheProvider
from analytics_compat.flags.model import FlagDefinitions, parse_definitions

__all__ = [
    "DEFAULT_DEFINITIONS_PATH",
    "LEGACY_DEFINITIONS_PATH",
    "DefinitionsPoller",
    "PollerState",
]

logger = logging.getLogger(__name__)

DEFAULT_DEFINITIONS_PATH = "/flags/definitions"
LEGACY_DEFINITIONS_PATH = "/api/feature_flag/local_evaluation/"
"""Where servers without ``/flags/definitions`` serve the same body (tried after a 404)."""
_BACKOFF_STATUSES = frozenset({401, 403, 429})


class PollerState(enum.Enum):
    """Lifecycle of a ``DefinitionsPoller``."""

    IDLE = "idle"  # created; load_now() works, no thread yet
    RUNNING = "running"  # the polling thread is alive
    STOPPED = "stopped"  # stop() was called; it cannot be restarted


class DefinitionsPoller:
    """Keeps ``definitions`` fresh from the PostHog local-evaluation endpoint.

    ``path`` None (the default) means ``DEFAULT_DEFINITIONS_PATH``, falling back to
    ``LEGACY_DEFINITIONS_PATH`` after a 404; a given path is used as it is.
    ``session`` and ``timeout`` (seconds, per request) are used for every request.
    ``interval`` is the normal delay between polls (default 30 s); ``max_backoff``
    caps the doubled delay after 401/403/429. ``on_update(defs_or_None)`` is called
    on the polling thread (or the ``load_now()`` caller's) whenever the definitions
    change; ``None`` means they were cleared (402). ``on_error(exc)`` receives an
    ``HTTPStatusError`` or ``TransportError``. ``ready`` is set after the first
    successful load. ``cache`` shares definitions with other processes (see module).
    """

    def __init__(
        self,
        session: requests.Session,
        host: str,
        project_key: str,
        personal_api_key: str,
        *,
        path: Optional[str] = None,
        interval: float = 30.0,
        timeout: float = 10.0,
        max_backoff: float = 300.0,
        on_update: Optional[Callable[[Optional[FlagDefinitions]], None]] = None,
        on_error: Optional[Callable[[DeliveryError], None]] = None,
        cache: Optional[FlagDefinitionCacheProvider] = None,
    ) -> None:
        if not project_key or not personal_api_key:
            raise ConfigurationError("a project key and a personal API key are required")
        for option, value in (
            ("interval", interval),
            ("timeout", timeout),
            ("max_backoff", max_backoff),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"{option} must be a positive number", option=option)
        if path is not None and not path.startswith("/"):
            raise ConfigurationError("path must start with '/'", option="path")
        self._session = session
        self._host = host.rstrip("/")
        self._fallback = LEGACY_DEFINITIONS_PATH if path is None else None
        self._project_key = project_key
        self._personal_api_key = personal_api_key
        self._interval = float(interval)
        self._timeout = float(timeout)
        self._max_backoff = max(float(max_backoff), self._interval)
        self._on_update = on_update
        self._on_error = on_error
        self._cache = cache
        self._body: Optional[Mapping[str, Any]] = None  # raw, kept to share it (cache only)
        self._use_path(DEFAULT_DEFINITIONS_PATH if path is None else path)

        self.ready = threading.Event()
        self._stop_event = threading.Event()
        self._fetch_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._state = PollerState.IDLE
        self._definitions: Optional[FlagDefinitions] = None
        self._etag: Optional[str] = None
        self._delay = self._interval

    def __repr__(self) -> str:
        return (
            f"DefinitionsPoller(host={self._host!r}, path={self._path!r}, "
            f"interval={self._interval}, state={self._state.value})"
        )

    # ------------------------------------------------------------------ public

    @property
    def definitions(self) -> Optional[FlagDefinitions]:
        """The latest definitions, or None before the first load or after a 402."""
        return self._definitions

    @property
    def path(self) -> str:
        """The path polled now (the legacy one once a server answered the default with 404)."""
        return self._path

    @property
    def state(self) -> PollerState:
        return self._state

    @property
    def next_delay(self) -> float:
        """Seconds the thread waits before its next poll (grows during backoff)."""
        return self._delay

    def start(self, *, load_first: bool = True) -> None:
        """Start the polling thread (idempotent); ``load_first``: poll now, not after a delay."""
        with self._state_lock:
            if self._state is not PollerState.IDLE:
                return
            self._state = PollerState.RUNNING
            self._thread = threading.Thread(
                target=self._run,
                args=(load_first,),
                name="analytics-compat-flag-poller",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop polling; waits up to ``timeout`` for an in-flight request to finish."""
        with self._state_lock:
            self._state = PollerState.STOPPED
            thread = self._thread
        self._stop_event.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._cache is not None:
            try:
                self._cache.shutdown()
            except Exception:
                logger.debug("feature flag definitions cache: shutdown failed", exc_info=True)

    def load_now(self) -> bool:
        """Load once, synchronously. True if this load succeeded (from the cache, a 200
        parsed, or a 304).

        Never raises for a bad response; failures go to ``on_error``.
        """
        with self._fetch_lock:
            try:
                if self._cache is not None and self._load_from_cache():
                    return True
                return self._fetch()
            except Exception:  # a bug here must not kill the polling thread
                logger.exception("unexpected failure while loading feature flag definitions")
                self._delay = self._interval
                return False

    # ------------------------------------------------------------------ internals

    def _run(self, load_first: bool) -> None:
        delay = 0.0 if load_first else self._interval
        while not self._stop_event.wait(delay):
            self.load_now()
            delay = self._delay

    def _load_from_cache(self) -> bool:
        """True when the definitions came from the cache and no request is needed."""
        cache = self._cache
        assert cache is not None
        try:
            if cache.should_fetch_flag_definitions():
                return False
            body = cache.get_flag_definitions()
        except Exception:
            logger.debug("feature flag definitions cache failed; asking the server", exc_info=True)
            return False
        if not isinstance(body, Mapping):
            return False  # missing, stale or corrupt there: this process polls itself
        self._delay = self._interval
        if body is not self._body and body != self._body:
            self._body = body
            self._etag = None  # our ETag described what we fetched, not this
            self._definitions = parse_definitions(body)
            self._notify(self._definitions)  # before ready: a waiter must find them
            self.ready.set()
        else:
            self.ready.set()
        return True

    def _share(self, body: Mapping[str, Any]) -> None:
        if self._cache is None:
            return
        self._body = body
        try:
            self._cache.on_flag_definitions_received(body)
        except Exception:
            logger.debug("feature flag definitions cache: store failed", exc_info=True)

    def _use_path(self, path: str) -> None:
        self._path = path
        separator = "&" if "?" in path else "?"
        token = quote(self._project_key, safe="")
        self._url = f"{self._host}{path}{separator}token={token}&send_cohorts"

    def _fetch(self) -> bool:
        headers = {"Authorization": f"Bearer {self._personal_api_key}"}
        if self._etag:
            headers["If-None-Match"] = self._etag
        try:
            response = self._session.get(self._url, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            self._delay = self._interval
            where = self._where()
            self._report(
                TransportError(f"no answer from {where} ({type(exc).__name__})", url=where)
            )
            return False
        try:
            if response.status_code == 404 and self._fallback is not None:
                # An older server without /flags/definitions: ask the legacy path, now.
                logger.info("feature flag definitions: %s not found, using %s", self._path,
                            self._fallback)  # fmt: skip
                self._use_path(self._fallback)
                self._fallback = None
                self._etag = None
                return self._fetch()
            return self._handle(response)
        finally:
            response.close()

    def _handle(self, response: requests.Response) -> bool:
        status = response.status_code
        if status == 304:
            self._delay = self._interval
            self._etag = response.headers.get("ETag") or self._etag
            if self._definitions is not None:
                self.ready.set()
                if self._body is not None:
                    self._share(self._body)  # still current: tell the readers it is fresh
            return True
        if status == 200:
            return self._load_body(response)
        if status in _BACKOFF_STATUSES:
            delay = min(max(self._delay, self._interval) * 2, self._max_backoff)
            retry_after = _retry_after(response)
            if retry_after is not None:
                delay = min(max(delay, retry_after), self._max_backoff)
            self._delay = delay
            # Said once, in the error the client's listeners (or its default one) log.
            logger.debug("feature flag definitions: HTTP %d; next attempt in %.1fs", status, delay)
        else:
            self._delay = self._interval
        detail = f"next attempt in {self._delay:.0f} s" if status in _BACKOFF_STATUSES else ""
        if status == 402:
            detail = "feature flags quota limited; local definitions cleared"
            self._etag = None
            self._body = None
            if self._definitions is not None:
                self._definitions = None
                self._notify(None)
        retryable = status in (408, 429) or status >= 500
        where = self._where()
        self._report(
            HTTPStatusError(
                status, retryable=retryable, detail=detail, url=where, credential="personal"
            )
        )
        return False

    def _load_body(self, response: requests.Response) -> bool:
        self._delay = self._interval
        try:
            body = response.json()
        except ValueError:
            self._report(TransportError("feature flag definitions response is not valid JSON"))
            return False
        if not isinstance(body, dict):
            self._report(TransportError("feature flag definitions response is not an object"))
            return False
        definitions = parse_definitions(body)
        self._definitions = definitions
        self._etag = response.headers.get("ETag")
        self._notify(definitions)  # before ready: a waiter must find them loaded
        self.ready.set()
        self._share(body)
        return True

    def _notify(self, definitions: Optional[FlagDefinitions]) -> None:
        if self._on_update is None:
            return
        try:
            self._on_update(definitions)
        except Exception:
            logger.exception("feature flag on_update callback failed")

    def _report(self, error: DeliveryError) -> None:
        logger.debug("feature flag definitions: %s", error)
        if self._on_error is None:
            return
        try:
            self._on_error(error)
        except Exception:
            logger.exception("feature flag on_error callback failed")

    def _where(self) -> str:
        """The URL asked, for error text: without its query string (it holds the token)."""
        return self._host + self._path.split("?", 1)[0]


def _retry_after(response: requests.Response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: fall back to plain backoff
    return seconds if seconds >= 0 else None
