"""The flag-evaluation workload: 50 flag definitions and 2,000 callers, deterministic.

Definitions are PostHog's local-evaluation JSON (``GET /api/feature_flag/local_evaluation/``):
10 rollout flags, 10 person-property flags, 10 multivariate flags (some with payloads
and property filters), 10 group flags (``company`` group, group-property filters)
and 10 cohort flags (nested AND/OR cohorts, one negated). Every property a filter
reads is given by the caller, so every flag can be decided locally by any SDK.
"""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Tuple

N_FLAGS = 50
N_IDS = 2000

PLANS = ["free", "pro", "team", "enterprise"]
COUNTRIES = ["US", "DE", "FR", "GB", "BR", "IN", "JP", "CA"]
DOMAINS = ["example.com", "posthog.com", "acme.io", "mail.test"]
INDUSTRIES = ["saas", "retail", "health", "finance", "media"]


def _prop(
    key: str, value: Any, operator: str, ptype: str = "person", **extra: Any
) -> Dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": ptype, **extra}


def definitions() -> Dict[str, Any]:
    rng = random.Random(1234)
    flags: List[Dict[str, Any]] = []
    cohorts: Dict[str, Any] = {}
    fid = 0

    def flag(key: str, filters: Dict[str, Any]) -> None:
        nonlocal fid
        fid += 1
        flags.append(
            {
                "id": fid,
                "name": key,
                "key": key,
                "active": True,
                "deleted": False,
                "version": 1,
                "ensure_experience_continuity": False,
                "filters": filters,
            }
        )

    # 10 plain rollouts
    for i in range(10):
        flag(
            f"rollout-{i}",
            {
                "groups": [
                    {"properties": [], "rollout_percentage": rng.choice([5, 20, 50, 80, 100])}
                ]
            },
        )
    # 10 person-property flags
    property_sets = [
        [_prop("plan", ["pro", "team"], "exact")],
        [_prop("email", "example.com", "icontains")],
        [_prop("age", 30, "gt")],
        [_prop("country", ["US", "CA"], "exact"), _prop("age", 50, "lt")],
        [_prop("email", r"^user1\d*@", "regex")],
        [_prop("plan", "free", "is_not")],
        [_prop("beta", True, "exact")],
        [_prop("age", 25, "gte"), _prop("plan", ["enterprise"], "exact")],
        [_prop("email", "mail.test", "not_icontains")],
        [_prop("country", "is_set", "is_set")],
    ]
    for i, props in enumerate(property_sets):
        flag(
            f"person-{i}",
            {
                "groups": [
                    {"properties": props, "rollout_percentage": rng.choice([30, 60, 100])},
                    {
                        "properties": [_prop("plan", ["enterprise"], "exact")],
                        "rollout_percentage": 100,
                    },
                ]
            },
        )
    # 10 multivariate flags
    for i in range(10):
        n = 2 + i % 3
        shares = [100 // n] * n
        shares[0] += 100 - sum(shares)
        variants = [
            {"key": f"v{j}", "name": f"variant {j}", "rollout_percentage": shares[j]}
            for j in range(n)
        ]
        groups: List[Dict[str, Any]] = [
            {"properties": [], "rollout_percentage": rng.choice([50, 100])}
        ]
        if i % 2:
            groups.insert(
                0,
                {
                    "properties": [_prop("plan", ["pro"], "exact")],
                    "rollout_percentage": 100,
                    "variant": "v1",
                },
            )
        filters: Dict[str, Any] = {"groups": groups, "multivariate": {"variants": variants}}
        if i % 3 == 0:
            filters["payloads"] = {"v0": json.dumps({"color": "blue", "n": i}), "v1": '"green"'}
        flag(f"multivariate-{i}", filters)
    # 10 group flags (company)
    for i in range(10):
        props = [
            [_prop("size", 50, "gt", "group", group_type_index=0)],
            [_prop("industry", ["saas", "finance"], "exact", "group", group_type_index=0)],
            [],
        ][i % 3]
        flag(
            f"group-{i}",
            {
                "aggregation_group_type_index": 0,
                "groups": [{"properties": props, "rollout_percentage": rng.choice([25, 50, 100])}],
            },
        )
    # 10 cohort flags
    for i in range(10):
        cid = 100 + i
        inner = [
            {"type": "AND", "values": [_prop("plan", ["pro", "team", "enterprise"], "exact")]},
            {
                "type": "AND",
                "values": [
                    _prop("country", ["DE", "FR", "GB"], "exact"),
                    _prop("age", 20 + i, "gt"),
                ],
            },
        ]
        if i % 4 == 3:
            inner.append(
                {"type": "AND", "values": [_prop("email", "acme.io", "icontains", negation=True)]}
            )
        cohorts[str(cid)] = {"type": "OR", "values": inner}
        flag(
            f"cohort-{i}",
            {
                "groups": [
                    {
                        "properties": [_prop("id", cid, "in", "cohort")],
                        "rollout_percentage": rng.choice([50, 100]),
                    }
                ]
            },
        )
    assert len(flags) == N_FLAGS
    return {"flags": flags, "group_type_mapping": {"0": "company"}, "cohorts": cohorts}


def callers() -> List[Tuple[str, Dict[str, Any], Dict[str, str], Dict[str, Dict[str, Any]]]]:
    """(distinct_id, person_properties, groups, group_properties) for each of the 2,000 ids."""
    rng = random.Random(99)
    out = []
    for i in range(N_IDS):
        company = f"company_{i % 97}"
        person = {
            "email": f"user{i}@{rng.choice(DOMAINS)}",
            "plan": rng.choice(PLANS),
            "age": rng.randint(18, 70),
            "country": rng.choice(COUNTRIES),
            "beta": rng.random() < 0.3,
        }
        crng = random.Random(i % 97)
        company_props = {"size": crng.randint(1, 500), "industry": crng.choice(INDUSTRIES)}
        out.append((f"user_{i}", person, {"company": company}, {"company": company_props}))
    return out


if __name__ == "__main__":
    print(json.dumps(definitions(), indent=1))
