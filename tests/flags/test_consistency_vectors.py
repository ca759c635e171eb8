"""Cross-SDK bucketing vectors: every case x 1000 distinct ids must reproduce exactly.

The vectors (shared by PostHog's server and official SDKs) pin the SHA-1 bucketing
of rollouts and multivariate variants. The file lives next to the repository, in
``../shared/data``; the test is skipped only when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analytics_compat.flags.evaluator import evaluate_flag
from analytics_compat.flags.model import parse_definitions

VECTORS = Path(__file__).resolve().parents[3] / "shared/data/flag_consistency_vectors.json"


def _cases() -> list[Any]:
    if not VECTORS.exists():
        return []
    return list(json.loads(VECTORS.read_text())["cases"])


CASES = _cases()


@pytest.mark.skipif(not VECTORS.exists(), reason=f"consistency vectors not found at {VECTORS}")
def test_vector_file_holds_2000_vectors() -> None:
    """The shared file has the expected shape: cases of 1000 expected values each."""
    assert len(CASES) >= 2
    assert all(len(case["expected"]) == 1000 for case in CASES)


@pytest.mark.skipif(not VECTORS.exists(), reason=f"consistency vectors not found at {VECTORS}")
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_local_evaluation_reproduces_every_vector(case: dict[str, Any]) -> None:
    """evaluate_flag(definition, pattern.format(i)) == expected[i] for i in 0..999."""
    definition = case["definition"]
    defs = parse_definitions({"flags": [definition], "group_type_mapping": {}, "cohorts": {}})
    mismatches = []
    for i, expected in enumerate(case["expected"]):
        result = evaluate_flag(defs, definition["key"], case["distinct_id_pattern"].format(i=i))
        assert result is not None and result.decided
        if result.value != expected:
            mismatches.append((i, expected, result.value))
    assert mismatches == [], f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
