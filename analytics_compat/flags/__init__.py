"""Feature flags: definitions parsed once, a pure local evaluator, polling, remote fallback.

Data flows one way: ``poller`` fetches definitions (optionally shared between the
processes of a host through ``cache``) and ``model`` parses them into immutable
objects; ``evaluator`` (pure, no I/O) decides flags from them; a flag it cannot decide
(``FlagResult.decided is False``) is asked of the server through ``remote``. This
package knows nothing about the client, batching or transport; it only imports
``analytics_compat.errors``.
"""

from __future__ import annotations

from analytics_compat.flags._result import FlagMiss, Miss
from analytics_compat.flags.cache import FileDefinitionsCache, FlagDefinitionCacheProvider
from analytics_compat.flags.evaluator import FlagResult, Reason, evaluate_all, evaluate_flag
from analytics_compat.flags.model import FeatureFlag, FlagDefinitions, parse_definitions
from analytics_compat.flags.poller import (
    DEFAULT_DEFINITIONS_PATH,
    LEGACY_DEFINITIONS_PATH,
    DefinitionsPoller,
    PollerState,
)
from analytics_compat.flags.remote import RemoteFlags, fetch_remote_flags, parse_flags_response

__all__ = [
    "DEFAULT_DEFINITIONS_PATH",
    "LEGACY_DEFINITIONS_PATH",
    "DefinitionsPoller",
    "FeatureFlag",
    "FileDefinitionsCache",
    "FlagDefinitionCacheProvider",
    "FlagDefinitions",
    "FlagMiss",
    "FlagResult",
    "Miss",
    "PollerState",
    "Reason",
    "RemoteFlags",
    "evaluate_all",
    "evaluate_flag",
    "fetch_remote_flags",
    "parse_definitions",
    "parse_flags_response",
]
