"""``DevServer``: the programmatic front of the devserver (start, stop, url, store).

Owns the lifecycle (``State``: created -> running -> stopped), the background serving
thread, and the wiring of store, flag endpoints and HTTP server. It knows nothing about
how requests are decoded or answered.
"""

from __future__ import annotations

import enum
import os
import threading
from types import TracebackType
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from ._app import App
from ._flags import FlagsEndpoint
from ._http import DevHTTPServer
from ._messages import RequestRecord
from ._security import HostPolicy, is_loopback_host
from ._store import MEMORY, EventStore

__all__ = ["DevServer", "State", "is_loopback_host"]


class State(enum.Enum):
    """Where a DevServer is in its life."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


class DevServer:
    """A local PostHog-compatible server: capture, persons, flags, live events page.

    ``DevServer(host="127.0.0.1", port=0, db_path=None, tokens=("phc_test",),
    flags_file=None, personal_api_key=None)``; ``db_path=None`` keeps everything in
    memory. ``start()`` binds and serves on a background thread (port 0 picks a free
    port; read ``url``), ``stop()`` closes connections and the store. Use as a context
    manager to do both. ``store`` reads what was received; ``requests_log`` lists the
    answered requests.

    Binding a non-loopback host needs ``allow_remote=True``: the server has no TLS and
    its inspection endpoints (``/``, ``/api/events``) need no credentials. Without it,
    requests must also be addressed (``Host``) to a loopback name, which stops DNS
    rebinding; with it, any name is served.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: Union[str, os.PathLike[str], None] = None,
        tokens: Iterable[str] = ("phc_test",),
        flags_file: Union[str, os.PathLike[str], None] = None,
        personal_api_key: Optional[str] = None,
        *,
        allow_remote: bool = False,
    ) -> None:
        token_tuple = (tokens,) if isinstance(tokens, str) else tuple(tokens)
        if not token_tuple or not all(isinstance(t, str) and t for t in token_tuple):
            raise ValueError("tokens must be one or more non-empty strings")
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(f"{host} is not a loopback address; pass allow_remote=True")
        self.host = host
        self._port = port
        self._flags = FlagsEndpoint(personal_api_key=personal_api_key, flags_file=flags_file)
        self.store = EventStore(MEMORY if db_path is None else db_path)
        policy = HostPolicy(bound_host=host, allow_remote=allow_remote)
        self._app = App(self.store, token_tuple, self._flags, policy)
        self._httpd: Optional[DevHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._state = State.CREATED
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.url if self._state is State.RUNNING else f"{self.host}:{self._port}"
        return f"<DevServer {self._state.value} {where} db={self.store.path!r}>"

    @property
    def state(self) -> State:
        """CREATED, RUNNING or STOPPED."""
        return self._state

    @property
    def port(self) -> int:
        """The bound port (the requested one before ``start()``)."""
        return self._httpd.server_address[1] if self._httpd is not None else self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def requests_log(self) -> list[RequestRecord]:
        """Every answered request in order (method, path, status, events, inserted, gzip)."""
        return self._app.requests_log()

    def capture_requests(self) -> list[RequestRecord]:
        """The answered requests to the capture endpoints (v0 and v1), in order."""
        paths = ("/batch", "/capture", "/e", "/i/v0/e", "/i/v1/analytics/events")
        return [r for r in self.requests_log if r.path.rstrip("/") in paths]

    def set_flags(self, definitions: Mapping[str, Any]) -> None:
        """Serve these local-evaluation definitions (replaces any ``flags_file``)."""
        self._flags.set_definitions(definitions)

    def add_request_hook(self, hook: Callable[[str, str], None]) -> None:
        """Call ``hook(method, path)`` on the serving thread before each request."""
        self._app.add_hook(hook)

    def start(self) -> DevServer:
        """Bind and serve on a background thread; returns self."""
        with self._lock:
            if self._state is not State.CREATED:
                raise RuntimeError(f"cannot start a {self._state.value} server")
            try:
                httpd = DevHTTPServer((self.host, self._port), self._app)
            except BaseException:
                self._state = State.STOPPED
                self.store.close()
                raise
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="devserver",
                daemon=True,
            )
            self._thread.start()
            self._state = State.RUNNING
        return self

    def serve_forever(self) -> None:
        """Block until ``stop()`` is called from another thread (or a signal handler)."""
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(0.5)

    def stop(self) -> None:
        """Stop serving, close open connections and the store; idempotent."""
        with self._lock:
            if self._state is State.STOPPED:
                return
            previous, self._state = self._state, State.STOPPED
            httpd, thread = self._httpd, self._thread
        if previous is State.RUNNING and httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
            if thread is not None:
                thread.join(5.0)
        self.store.close()

    def __enter__(self) -> DevServer:
        if self._state is State.CREATED:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
