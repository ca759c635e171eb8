"""A headless chromium driven over the DevTools protocol, for reading a live page's DOM.

``--dump-dom`` reads the DOM once, when a virtual-time budget runs out; a load test
needs to ask "how many rows now?" while events are still arriving. This speaks the
DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ending in NUL on
file descriptors 3 and 4 of the browser), so no websocket library is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Optional


class BrowserError(RuntimeError):
    pass


class Browser:
    """``with Browser(chromium, profile) as b: b.open(url); b.evaluate("1 + 1")``."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the browser reads commands on fd 3 and writes answers on fd 4
        wrapper = f'exec 3<&{to_browser_r} 4>&{from_browser_w}; exec "$@"'
        command = [
            "bash",
            "-c",
            wrapper,
            "bash",
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self._process = subprocess.Popen(
            command,
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._buffer = b""
        self._session: Optional[str] = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._call("Browser.close", timeout=5)
                self._process.wait(10)
            except (BrowserError, OSError, subprocess.TimeoutExpired):
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(10)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError("the browser did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("the browser went away")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _call(
        self, method: str, params: Optional[dict[str, Any]] = None, *, timeout: float = 30
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") != self._next_id:
                continue  # an event, or an answer to nobody
            if "error" in answer:
                raise BrowserError(f"{method}: {answer['error']}")
            result: dict[str, Any] = answer.get("result", {})
            return result

    def open(self, url: str) -> None:
        """Attach to the first tab and load ``url`` in it."""
        deadline = time.monotonic() + 30
        while True:
            pages = [
                t for t in self._call("Target.getTargets")["targetInfos"] if t["type"] == "page"
            ]
            if pages:
                break
            if time.monotonic() > deadline:
                raise BrowserError("the browser opened no tab")
            time.sleep(0.1)
        attached = self._call(
            "Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True}
        )
        self._session = attached["sessionId"]
        self._call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page."""
        result = self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float, interval: float = 0.25) -> Any:
        """Evaluate ``expression`` until it is truthy; its value (raises on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None  # the page is still loading
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"still falsy after {timeout} s: {expression}")
            time.sleep(interval)
