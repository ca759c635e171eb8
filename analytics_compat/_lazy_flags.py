"""Import ``analytics_compat.flags`` on first use.

The flag model, evaluator and operators cost ~30 ms of import time; an application
that never checks a flag should not pay it. Owns nothing else.
"""

from __future__ import annotations

from types import ModuleType
from typing import Optional

__all__ = ["flags"]

_module: Optional[ModuleType] = None


def flags() -> ModuleType:
    """The ``analytics_compat.flags`` package, imported the first time it is asked for."""
    global _module
    if _module is None:
        from . import flags as module

        _module = module
    return _module
