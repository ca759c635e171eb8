"""The processor stages of a client's pipeline, in the one order they run.

Owns the list, and so the order, that DESIGN.md documents: what a submitted message
passes through on the caller's thread between being built and being queued:

1. context: tags, the context's distinct id and session (``_context_calls``;
   dormant until the process first enters a context)
2. personless: a message with no distinct id anywhere gets a random one and
   ``$process_person_profile: false`` (hinted calls only: a message built without
   a distinct id is submitted with a ``Hint``)
3. super properties                                                       [to come]
4. ``$geoip_disable``                                                     [to come]
5. feature flags: ``$feature/*`` for calls with ``send_feature_flags``
6. ``before_send``, last, failing closed                                  [to come]

Each feature builds its own ``Stage``; this module only puts them in order. A stage
that serves a feature not in use is left out (or dormant), so it costs nothing.
"""

from __future__ import annotations

from ._config import ClientOptions
from ._context_calls import context_stage, personless_stage
from ._flag_calls import feature_flags_stage
from ._flag_service import FlagService
from ._pipeline import Pipeline, Stage

__all__ = ["build_pipeline"]


def build_pipeline(options: ClientOptions, flags: FlagService) -> Pipeline:
    """The pipeline for a client being initialized with ``options``."""
    stages: list[Stage] = [context_stage(), personless_stage(), feature_flags_stage(flags)]
    return Pipeline(stages)
