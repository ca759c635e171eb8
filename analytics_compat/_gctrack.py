"""Keeping messages that wait in a deep queue out of CPython's cyclic garbage collector.

A queued message is plain data, freed by its reference count once its batch is sent:
it is in no reference cycle while it waits (its listeners are dropped when it
settles). Tracked, though, every collection walks it, and each one that outlives two
collections is promoted to the oldest generation, until the interpreter runs a full
collection over the whole heap on whichever thread allocates next: under a flood of
``track()`` calls that was a 35-45 ms pause inside one caller's call, every ~50,000
calls (measured: BENCHMARKS.md, flood). So the batcher untracks a message it queues
behind ``UNTRACK_DEPTH`` others, and a message is tracked again when it fails (its
error's traceback can lead back to it, which only the collector can free).

CPython with its interpreter lock only, through the C API it documents for this
(``PyObject_GC_UnTrack`` / ``PyObject_GC_Track``, called with the lock held); on other
interpreters and free-threaded builds both do nothing. An untracked message is
invisible to ``gc.get_objects()`` and ``gc.get_referrers()`` while it waits.
"""

from __future__ import annotations

import gc
import sys
from typing import Any, Callable, Iterable, Optional

__all__ = ["UNTRACK_DEPTH", "retrack", "retrack_all", "untracker"]

# A message queued behind this many others is untracked. Below it a queue adds at
# most this many objects to any collection; above it the worker is behind.
UNTRACK_DEPTH = 100

_untrack: Optional[Callable[[Any], None]] = None
_track: Optional[Callable[[Any], None]] = None
_loaded = False


def _noop(_obj: Any) -> None:
    return None


def _load() -> None:
    """Find the two C functions, once (ctypes costs ~5 ms to import: paid by the first
    batcher, not by ``import analytics_compat``)."""
    global _untrack, _track, _loaded
    _loaded = True
    gil = getattr(sys, "_is_gil_enabled", None)
    if sys.implementation.name != "cpython" or (gil is not None and not gil()):
        return
    try:
        import ctypes

        untrack = ctypes.pythonapi.PyObject_GC_UnTrack
        track = ctypes.pythonapi.PyObject_GC_Track
    except (ImportError, AttributeError, OSError):  # an embedded or stripped interpreter
        return
    for function in (untrack, track):
        function.argtypes = [ctypes.py_object]
        function.restype = None
    _untrack, _track = untrack, track


def untracker() -> Callable[[Any], None]:
    """The function that takes an object out of the collector (a no-op where unsupported)."""
    if not _loaded:
        _load()
    return _untrack or _noop


def retrack(obj: Any) -> None:
    """Give an untracked object back to the collector; a tracked one is left as it is.

    The caller makes sure no other thread tracks ``obj`` at the same time (CPython
    aborts on tracking an object twice): promises do it under their settle lock.
    """
    if _track is not None and not gc.is_tracked(obj):
        _track(obj)


def retrack_all(objects: Iterable[Any]) -> None:
    """``retrack`` each of ``objects`` (a queue a forked child will never send)."""
    for obj in objects:
        retrack(obj)
