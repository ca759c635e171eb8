"""A definitions cache shared by the processes of one host, and the interface it implements.

Owns ``FlagDefinitionCacheProvider``, the interface ``DefinitionsPoller`` consults before
each poll, with posthog-python 7.x's method names and meaning (synchronous only), so a
provider written for posthog-python works here too:

- ``should_fetch_flag_definitions()``: True if this process should ask the server now
  (the one that holds the lease), False if it should read the cache;
- ``get_flag_definitions()``: the cached body (``{"flags": [...], "group_type_mapping":
  {...}, "cohorts": {...}}``, as the server sends it), or None;
- ``on_flag_definitions_received(body)``: a process fetched ``body``: store it;
- ``shutdown()``: release what the provider holds.

And ``FileDefinitionsCache``, the provider for gunicorn/celery-style hosts: one JSON file
(replaced atomically: written to a temporary file in the same directory, then
``os.replace``) and a sidecar ``<file>.lock`` holding the lease: the owner's pid, a token
and an expiry, read and renewed under ``fcntl.flock``. The lease holder polls; a lease
whose owner died (its pid is gone) or that expired (owner stuck) is taken by the next
process that asks. The others read the file when it changed (``stat``), and ignore it
when it is corrupt or older than ``max_age``: the poller then asks the server itself.
Right after a new lease is taken, a reader finding no file yet waits up to
``startup_wait`` for the first write instead of polling too.

The file holds definitions only, never keys (they are in the request, not the body). It
is created with mode 0600. Without ``fcntl`` (Windows) every process polls, and the file
is still shared. An error here (a read-only directory, a full disk) reaches the poller,
which logs it and asks the server itself.

It must not know about HTTP, evaluation or the client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import uuid
from typing import (
    Any,
    Callable,
    Dict,
    Mapping,
    Optional,
    Protocol,
    Tuple,
    Union,
    runtime_checkable,
)

from analytics_compat.errors import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileDefinitionsCache", "FlagDefinitionCacheProvider"]

logger = logging.getLogger(__name__)

_FORMAT = 1
_POLL_FOR_FIRST_WRITE = 0.05


@runtime_checkable
class FlagDefinitionCacheProvider(Protocol):
    """Where the processes of a deployment share feature-flag definitions (see module)."""

    def should_fetch_flag_definitions(self) -> bool: ...

    def get_flag_definitions(self) -> Optional[Mapping[str, Any]]: ...

    def on_flag_definitions_received(self, data: Mapping[str, Any]) -> None: ...

    def shutdown(self) -> None: ...


class FileDefinitionsCache:
    """Definitions shared through ``path`` by the processes of one host (see module).

    ``lease`` (seconds) is how long a poller keeps the right to poll without renewing
    it; it renews it at each poll, so make it a few poll intervals. ``max_age`` bounds
    how old a file may be and still be used; make it longer than ``lease``. ``clock``
    is wall-clock time (shared by processes), injectable for tests.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        lease: float = 90.0,
        max_age: float = 300.0,
        startup_wait: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for option, value in (("lease", lease), ("max_age", max_age)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"{option} must be a positive number", option=option)
        self.path = os.fspath(path)
        self.lock_path = self.path + ".lock"
        self._lease = float(lease)
        self._max_age = float(max_age)
        self._startup_wait = max(float(startup_wait), 0.0)
        self._clock = clock
        self._token = uuid.uuid4().hex
        self._seen: Optional[Tuple[int, int, int]] = None
        self._body: Optional[Dict[str, Any]] = None
        self._written_at = 0.0

    def __repr__(self) -> str:
        return f"FileDefinitionsCache(path={self.path!r}, lease={self._lease})"

    # ------------------------------------------------------------------ provider

    def should_fetch_flag_definitions(self) -> bool:
        """Take or renew the lease; True if this process holds it (and should poll)."""
        if fcntl is None:
            return True
        now = self._clock()
        with _Locked(self.lock_path) as lock:
            lease = lock.read()
            mine = lease.get("owner") == self._owner()
            if mine or not _held(lease, now):
                since = lease.get("since", now) if mine else now
                lock.write({"owner": self._owner(), "pid": os.getpid(),
                            "expires": now + self._lease, "since": since})  # fmt: skip
                return True
            return False

    def get_flag_definitions(self) -> Optional[Dict[str, Any]]:
        """The cached body if the file is there, readable and fresh; else None."""
        body = self._read()
        if body is None and self._startup_wait and self._first_write_expected():
            deadline = time.monotonic() + self._startup_wait
            while body is None and time.monotonic() < deadline:
                time.sleep(_POLL_FOR_FIRST_WRITE)
                body = self._read()
        return body

    def on_flag_definitions_received(self, data: Mapping[str, Any]) -> None:
        """Write ``data`` for the other processes: temporary file, then ``os.replace``."""
        envelope = {"format": _FORMAT, "written_at": self._clock(), "body": data}
        directory = os.path.dirname(os.path.abspath(self.path))
        handle, temporary = tempfile.mkstemp(
            dir=directory, prefix=os.path.basename(self.path) + ".", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(envelope, stream, separators=(",", ":"))
            os.replace(temporary, self.path)
        except BaseException:
            _remove(temporary)
            raise

    def shutdown(self) -> None:
        """Give the lease up, if this process holds it, so another takes over at once."""
        if fcntl is None:
            return
        with _Locked(self.lock_path) as lock:
            if lock.read().get("owner") == self._owner():
                lock.write({})

    # ------------------------------------------------------------------ internals

    def _owner(self) -> str:
        # The pid is part of it: a forked child is never the owner its parent was.
        return f"{os.getpid()}:{self._token}"

    def _read(self) -> Optional[Dict[str, Any]]:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if key != self._seen:
            self._seen, self._body = key, None
            try:
                with open(self.path, encoding="utf-8") as stream:
                    envelope = json.load(stream)
            except (OSError, ValueError, RecursionError):
                logger.debug("feature flag definitions cache %s is unreadable; ignored", self.path)
                return None
            if not _valid(envelope):
                logger.debug("feature flag definitions cache %s is corrupt; ignored", self.path)
                return None
            body, written_at = envelope["body"], envelope["written_at"]
            self._body, self._written_at = body, float(written_at)
        if self._body is None or self._clock() - self._written_at > self._max_age:
            return None
        return self._body

    def _first_write_expected(self) -> bool:
        """A live lease taken moments ago by another process: its first write is coming."""
        if fcntl is None or os.path.exists(self.path):
            return False
        now = self._clock()
        with _Locked(self.lock_path) as lock:
            lease = lock.read()
        since = lease.get("since")
        return (
            _held(lease, now)
            and lease.get("owner") != self._owner()
            and isinstance(since, (int, float))
            and now - since <= self._startup_wait
        )


def _valid(envelope: Any) -> bool:
    if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT:
        return False
    body, written_at = envelope.get("body"), envelope.get("written_at")
    return (
        isinstance(body, dict)
        and isinstance(body.get("flags"), list)
        and isinstance(written_at, (int, float))
        and not isinstance(written_at, bool)
    )


def _held(lease: Mapping[str, Any], now: float) -> bool:
    """Whether ``lease`` is in force: not expired, and its owner process still exists."""
    expires, pid = lease.get("expires"), lease.get("pid")
    if not isinstance(expires, (int, float)) or expires <= now or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # the poller died: replace it now, not when its lease runs out
    except OSError:
        pass  # exists, owned by someone else
    return True


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class _Locked:
    """The lease file, opened and exclusively ``flock``-ed for one read-modify-write."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> _Locked:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)  # closing releases the flock

    def read(self) -> Dict[str, Any]:
        os.lseek(self._fd, 0, os.SEEK_SET)
        raw = os.read(self._fd, 4096)
        try:
            lease = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return lease if isinstance(lease, dict) else {}

    def write(self, lease: Mapping[str, Any]) -> None:
        data = json.dumps(lease).encode()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)
