"""The compiled fast path answers exactly like the full evaluator, or not at all.

``evaluate_flag`` first runs a flag's compiled plan; a plan returns None whenever
anything is undecidable and the full evaluator takes over. These tests pin that a
plan's answer is always the full evaluator's answer, field for field.
"""

from __future__ import annotations

from typing import Any

from analytics_compat.flags import evaluator
from analytics_compat.flags._fastpath import compile_plan
from analytics_compat.flags.model import parse_definitions


def full(defs: Any, key: str, distinct_id: str, context: dict[str, Any]) -> Any:
    return evaluator._full(
        defs, key, distinct_id, context["groups"], context["person_properties"],
        context["group_properties"], None, None,
    )  # fmt: skip


def test_plans_agree_with_the_full_evaluator_field_for_field(scenarios: Any) -> None:
    defs = parse_definitions(scenarios.body())
    answered = 0
    for distinct_id, context in scenarios.contexts(300, seed=7):
        for key, flag in defs.by_key.items():
            plan = compile_plan(defs, flag)
            fast = plan(distinct_id, context["person_properties"], context["groups"],
                        context["group_properties"], None)  # fmt: skip
            reference = full(defs, key, distinct_id, context)
            if fast is not None:
                answered += 1
                assert fast == reference, (key, distinct_id, context)
            assert evaluator.evaluate_flag(defs, key, distinct_id, **context) == reference
    assert answered > 2000  # most evaluations take the fast path


def test_plans_step_aside_for_what_they_do_not_handle(scenarios: Any) -> None:
    """Dependencies, mixed targeting and static cohorts always use the full evaluator."""
    defs = parse_definitions(scenarios.body())
    for key in ("dep", "deep", "mixed", "static"):
        assert compile_plan(defs, defs.by_key[key])("u", {}, {}, {}, None) is None


def test_cyclic_cohorts_fall_back_and_terminate() -> None:
    ref = {"key": "id", "type": "cohort", "value": 1, "operator": "in"}
    body = {
        "flags": [{"key": "c", "active": True, "filters": {"groups": [{"properties": [ref]}]}}],
        "cohorts": {"1": {"type": "AND", "values": [ref]}},
    }
    defs = parse_definitions(body)
    result = evaluator.evaluate_flag(defs, "c", "u")
    assert result is not None and result.decided is False
