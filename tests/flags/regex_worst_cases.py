"""Child process for test_flag_regex_bounded: evaluates catastrophic regex flags, prints timings.

Each case is a flag with one ``regex`` condition, evaluated through the public
``evaluate_flag`` twice (cold: right after parsing; warm: cached automaton). One JSON line
per case: pattern, value length, the answer (True/False, or None = deferred to the
service), and the CPU milliseconds of parsing and of each evaluation.
"""

from __future__ import annotations

import json
import random
import sys
import time

from analytics_compat.flags.evaluator import evaluate_flag
from analytics_compat.flags.model import parse_definitions

EMAIL = (
    r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}"
    r"(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$"
)
_rng = random.Random(7)
CASES = [
    (r"^(a+)+$", "a" * 30 + "!"),  # froze posthog-python for > 30 s
    (r"^(a+)+$", "a" * 20_000 + "!"),
    (r"^(a|aa)+$", "a" * 20_000 + "!"),  # 15 s in posthog-python at 30 characters
    (r"^(a|a?)+$", "a" * 20_000 + "!"),
    (r"(x+x+)+y", "x" * 20_000),
    (r"^(a*)*b$", "a" * 20_000),
    (r"^((a+)+)+$", "a" * 20_000 + "b"),
    (r"^([a-zA-Z]+)*$", "abc" * 6_000 + "1"),
    (r"(a|b|ab)*c", "ab" * 10_000),
    (r"^(\w+\s?)*$", "word " * 4_000 + "!"),
    (r"^(\d+)*$", "1" * 20_000 + "x"),
    (EMAIL, "a" * 20_000 + "!"),
    (r"(.*a){12}", "a" * 11 + "b" * 20_000),
    (r"(?i)^(k|K|s)+$", "kKs" * 6_000 + "!"),
    (r"(a|b)*a(a|b){14}c", "".join(_rng.choice("ab") for _ in range(20_000))),
    ("(" * 30 + "a*" + ")*" * 30 + "b", "a" * 20_000),
    (r"(?:[ab]?){900}c", "ab" * 10_000),
    (r"(a?){500}a{500}", "a" * 20_000),
    ("|".join(f"[a-z]{{{n}}}x" for n in range(1, 60)), "q" * 20_000),
]


def main() -> None:
    for pattern, value in CASES:
        start = time.thread_time()
        prop = {"key": "v", "value": pattern, "operator": "regex", "type": "person"}
        condition = {"properties": [prop], "rollout_percentage": 100}
        flag = {"id": 1, "key": "f", "active": True, "filters": {"groups": [condition]}}
        defs = parse_definitions({"flags": [flag]})
        parsed = time.thread_time()
        timings = []
        answer = None
        for _ in range(2):
            begin = time.thread_time()
            result = evaluate_flag(defs, "f", "u", person_properties={"v": value})
            timings.append(1000 * (time.thread_time() - begin))
            assert result is not None
            answer = result.value if result.decided else None
        line = {"pattern": pattern[:60], "length": len(value), "answer": answer,
                "parse_ms": 1000 * (parsed - start),
                "cold_ms": timings[0], "warm_ms": timings[1]}  # fmt: skip
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
