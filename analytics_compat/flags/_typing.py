"""Type aliases shared by the operator modules.

Owns nothing but names; it must not know about any operator or flag.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Optional, Tuple

Matcher = Callable[[Any, Optional[datetime]], Optional[bool]]
"""``matcher(property_value, now)``: True/False, or None for "cannot decide locally"."""

Compiler = Callable[[Any, int], Optional[Matcher]]
"""``compiler(filter_value, property_matching_version)``: a Matcher, or None if unsupported."""

Version = Tuple[int, int, int]
