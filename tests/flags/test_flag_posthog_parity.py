"""Differential test: same answers as posthog-python's own local evaluation.

Random person/group properties x a set of definitions that exercise rollouts,
variants and overrides, cohorts (nested, negated, not_in, static), flag
dependencies, holdouts, early exit, mixed group targeting, dates, semver and
regex. For each case both evaluators must agree on "decided" and on the value.
Skipped when posthog-python is not installed (it is a dev-only reference).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import pytest

from analytics_compat.flags import evaluator
from analytics_compat.flags.evaluator import evaluate_flag
from analytics_compat.flags.model import parse_definitions

posthog = pytest.importorskip("posthog", minversion="7")
posthog_flags = pytest.importorskip("posthog.feature_flags")


@pytest.fixture
def reference(scenarios: Any) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = posthog.Posthog(
            "phc_test", secret_key="phx_test", enable_local_evaluation=False, sync_mode=True
        )
        body = scenarios.body()
        client.feature_flags = body["flags"]
        client.cohorts = body["cohorts"]
        client.group_type_mapping = body["group_type_mapping"]
        if not hasattr(client, "_compute_flag_locally"):
            pytest.skip("this posthog version has no _compute_flag_locally")
        yield client
        client.shutdown()


def test_same_decisions_as_posthog_python(reference: Any, scenarios: Any) -> None:
    """Both the public path (fast plans) and the full evaluator agree with posthog-python."""
    defs = parse_definitions(scenarios.body())
    undecidable = (posthog_flags.InconclusiveMatchError, posthog_flags.RequiresServerEvaluation)
    differences = []
    decided = 0
    for distinct_id, context in scenarios.contexts(400, seed=20240331):
        for key in defs.by_key:
            ours = evaluate_flag(defs, key, distinct_id, **context)
            full = _full_evaluation(defs, key, distinct_id, context)
            assert ours is not None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    theirs = reference._compute_flag_locally(
                        reference.feature_flags_by_key[key], distinct_id, **context
                    )
                    their_decided = True
                except undecidable:
                    theirs, their_decided = None, False
            decided += ours.decided
            for mine in (ours, full):
                if mine.decided != their_decided or (their_decided and mine.value != theirs):
                    differences.append((key, distinct_id, context, mine, theirs))
    assert differences == []
    assert decided > 1000  # the sample exercises decided paths, not only fallbacks


def _full_evaluation(defs: Any, key: str, distinct_id: str, context: dict[str, Any]) -> Any:
    return evaluator._full(
        defs, key, distinct_id, context["groups"], context["person_properties"],
        context["group_properties"], None, None,
    )  # fmt: skip
