"""Differential test: same answers as posthog-python's own local evaluation.

Random person/group properties x a set of definitions that exercise rollouts,
variants and overrides, cohorts (nested, negated, not_in, static), flag
dependencies, holdouts, early exit, mixed group targeting, dates, semver and
regex. For each case both evaluators must agree on "decided" and on the value.

Random regex definitions (``test_regex_conditions_...``): wherever posthog-python
decides, we decide the same value. We decide more: posthog-python 7.91 defers to the
server what its backtracking ``re`` could get wrong or get stuck on, and our engine
(linear time, the server's Rust semantics) answers: nested or overlapping quantifiers,
``$`` against a value ending in a newline, ``\\w``/``\\W``/``\\s`` on non-ASCII values,
``(?i)``/``(?m)``/``(?s)``, and ``[]`` (invalid on the server: False). Our own undecided
set, where posthog-python would answer: none in this sample, by construction of the
grammar; in general a value whose cold search passes the work bound, a pattern beyond
the size bounds (``{n}`` above 1000, too many Unicode classes), an object, exponent-float
or beyond-64-bit value, and non-string filter values, which we render as the server
does (JSON: ``true``, not Python's ``True``) where posthog-python uses ``str()``.
Skipped when posthog-python is not installed (it is a dev-only reference).
"""

from __future__ import annotations

import random
import warnings
from typing import Any, Iterator, Optional

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


# --------------------------------------------------------------------------- regex

_ATOMS = ["a", "b", "c", ".", r"\d", r"\w", r"\s", r"\W", "[ab]", "[^a]", "[a-c]", r"\.",
          "é", r"\x41", r"[\w.-]", "@", " ", "(?:a|ab)", r"\b", "(?=a)", "a++", "{x"]  # fmt: skip
_VALUES = "abcA1 \n_.@é\u0301²\u0661\x1c\u2003"


def _pattern(rng: random.Random, depth: int = 0) -> str:
    def piece() -> str:
        roll = rng.random()
        if depth < 3 and roll < 0.18:
            text = "(" + rng.choice(["", "?:"]) + _pattern(rng, depth + 1) + ")"
        elif roll < 0.23:
            return rng.choice(["^", "$"])
        else:
            text = rng.choice(_ATOMS)
        quantifier = rng.choice(["", "", "", "*", "+", "?", "{1,2}", "{2}", "*?", "+?"])
        return text + quantifier

    branches = [
        "".join(piece() for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 3))
    ]
    return rng.choice(["", "", "", "(?i)", "(?m)"]) * (depth == 0) + "|".join(branches)


def _value(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return rng.choice([None, True, 12, 1.5, ["a", 1]])
    return "".join(rng.choice(_VALUES) for _ in range(rng.randint(0, 7)))


def test_regex_conditions_same_answers_wherever_posthog_python_decides(reference: Any) -> None:
    rng = random.Random(20240612)
    flags = []
    for index in range(150):
        prop = {"key": "email", "type": "person", "value": _pattern(rng),
                "operator": rng.choice(["regex", "not_regex"])}  # fmt: skip
        condition = {"properties": [prop], "rollout_percentage": 100}
        flags.append({"id": index, "key": f"rx{index}", "active": True,
                      "filters": {"groups": [condition]}})  # fmt: skip
    body = {"flags": flags, "cohorts": {}, "group_type_mapping": {}}
    reference.feature_flags = body["flags"]
    defs = parse_definitions(body)
    undecidable = (posthog_flags.InconclusiveMatchError, posthog_flags.RequiresServerEvaluation)
    both = ours_only = 0
    differences = []
    for _ in range(60):
        person = {"email": _value(rng)}
        for key in defs.by_key:
            ours = evaluate_flag(defs, key, "user-1", person_properties=person)
            assert ours is not None
            theirs: Optional[Any] = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    theirs = reference._compute_flag_locally(
                        reference.feature_flags_by_key[key], "user-1", person_properties=person
                    )
                except undecidable:
                    ours_only += ours.decided
                    continue
            both += 1
            if not ours.decided or ours.value != theirs:
                differences.append((key, person, ours, theirs))
    assert differences == []
    assert both > 1000 and ours_only > 1500, (both, ours_only)  # both halves exercised
