"""The SHA-1 that bucketing hashes with: the interpreter's own when it has one.

Owns the choice only. ``hashlib.sha1`` goes through OpenSSL, whose per-object setup
costs more than hashing the 20-odd bytes of a bucketing key; CPython's built-in
``_sha1`` gives the same digest for less (a flag check hashes once or twice; the
choice takes a tenth off a local flag check, measured with callgrind). A build
without it gets ``hashlib``'s. It must not know why the digest is wanted.
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any, Callable

__all__ = ["sha1"]


def _choose() -> Callable[[bytes], Any]:
    try:
        builtin: Callable[[bytes], Any] = importlib.import_module("_sha1").sha1
    except (ImportError, AttributeError):  # pragma: no cover - a build without it
        return hashlib.sha1
    if builtin(b"abc").digest() != hashlib.sha1(b"abc").digest():  # pragma: no cover
        return hashlib.sha1
    return builtin


sha1 = _choose()
