"""The processor stages of a client's pipeline, in the one order they run.

Owns the list, and so the order, that DESIGN.md documents: what a submitted message
passes through on the caller's thread between being built and being queued:

1. context: tags, the context's distinct id and session (``_context_calls``;
   dormant until the process first enters a context)
2. personless: no distinct id anywhere: a random one, no person profile (``_enrich``;
   hinted calls only: a message built without a distinct id carries a ``Hint``)
3. super properties, over the call's own (``_enrich``; only while there are some)
4. feature flags: ``$feature/*`` for calls with ``send_feature_flags`` (``_flag_calls``)
5. ``before_send``, last, failing closed (``_enrich``; only when the option is set)

``$lib`` and ``$geoip_disable`` are not stages: they depend on nothing but the
client's options and are added when the event is encoded, on the worker (so
``before_send`` does not see them). A disabled client has no stages at all. Each
feature builds its own ``Stage``; this module only puts them in order, leaving out
(or switching off) what is not in use, so it costs nothing.
"""

from __future__ import annotations

from ._config import ClientOptions
from ._context_calls import context_stage
from ._enrich import SuperProperties, before_send_stage, personless_stage, super_properties_stage
from ._flag_calls import feature_flags_stage
from ._flag_service import FlagService
from ._pipeline import Pipeline, Stage

__all__ = ["build_pipeline"]


def build_pipeline(options: ClientOptions, flags: FlagService, supers: SuperProperties) -> Pipeline:
    """The pipeline for a client being initialized with ``options``."""
    capture = options.capture
    if capture.disabled:
        return Pipeline(())
    stages: list[Stage] = [
        context_stage(),
        personless_stage(),
        super_properties_stage(supers),
        feature_flags_stage(flags),
    ]
    if capture.before_send is not None:
        stages.append(before_send_stage(capture.before_send))
    pipeline = Pipeline(stages, off=() if supers.current else ("super_properties",))
    supers.watch(lambda on: pipeline.switch("super_properties", on))
    return pipeline
