"""Worker side of the flags scenario: local evaluation, benchmark settings (queue for all).

Owns how each library (and analytics_compat's bare evaluator) is set up to evaluate
the 50 flags of ``benchmarks.flagdefs`` locally and the timed loop over them. The
parent (``benchmarks.run``) checks the values against posthog-python's and counts
``$feature_flag_called`` at the sink; this module must not know about either.
"""

from __future__ import annotations

import gc
import json
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchmarks.libs import LIBS, PERSONAL
from benchmarks.profiling import Profiler


def timed_flag_loop(
    evaluate: Callable[..., Any], people: List[Any], keys: List[str], prof: Optional[Profiler]
) -> Tuple[List[Any], float]:
    """Each flag for each caller, once, timed (and profiled by ``prof`` if given)."""
    values: List[Any] = []
    append = values.append
    gc.collect()
    if prof:
        prof.start()
    t0 = time.perf_counter()
    for did, person, groups, gprops in people:
        for key in keys:
            append(evaluate(key, did, person, groups, gprops))
    elapsed = time.perf_counter() - t0
    if prof:
        prof.stop()
    return values, elapsed


def _posthog_flags(cfg: Dict[str, Any], send_events: bool) -> Any:
    lib = LIBS["posthog"]
    import inspect

    from posthog import Posthog

    params = inspect.signature(Posthog.__init__).parameters
    key_arg = "secret_key" if "secret_key" in params else "personal_api_key"
    client = lib.make(
        cfg["host"],
        queue=200_000,
        poll_interval=3600,
        enable_local_evaluation=False,
        **{key_arg: PERSONAL},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.load_feature_flags()
    get = client.get_feature_flag_result

    def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
        res = get(
            key,
            did,
            groups=groups,
            person_properties=person,
            group_properties=gprops,
            only_evaluate_locally=True,
            send_feature_flag_events=send_events,
        )
        return None if res is None else res.get_value()

    return client, evaluate, lambda: lib.flush(client)


def _compat_flags(cfg: Dict[str, Any], send_events: bool) -> Any:
    """analytics_compat through Client's flag methods, or (``pure``) the bare evaluator."""
    import analytics_compat

    pure = cfg.get("pure") or not hasattr(analytics_compat.Client, "get_feature_flag")
    if not pure:
        lib = LIBS["analytics_compat"]
        client = lib.make(
            cfg["host"], queue=200_000, personal_api_key=PERSONAL, poll_interval=3600.0
        )
        if hasattr(client, "wait_for_local_evaluation_ready"):
            client.wait_for_local_evaluation_ready(15)
        elif hasattr(client, "load_feature_flags"):
            client.load_feature_flags()
        result_getter = getattr(client, "get_feature_flag_result", None)
        if result_getter is not None:
            api = "Client.get_feature_flag_result(only_evaluate_locally=True)"

            def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
                res = result_getter(
                    key,
                    did,
                    groups=groups,
                    person_properties=person,
                    group_properties=gprops,
                    only_evaluate_locally=True,
                    send_feature_flag_events=send_events,
                )
                return None if res is None else res.value

        else:
            getter = client.get_feature_flag
            api = "Client.get_feature_flag(only_evaluate_locally=True)"

            def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
                return getter(
                    key,
                    did,
                    groups=groups,
                    person_properties=person,
                    group_properties=gprops,
                    only_evaluate_locally=True,
                    send_feature_flag_events=send_events,
                )

        deadline = time.monotonic() + 15
        while evaluate("rollout-0", "warmup_user", {}, None, None) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("analytics_compat never loaded flag definitions")
            time.sleep(0.05)
        return client, evaluate, lambda: lib.flush(client), api

    # The pure evaluator over the same definitions (no events: it does no I/O).
    if send_events:
        return None
    import urllib.request

    from analytics_compat.flags.evaluator import evaluate_flag
    from analytics_compat.flags.model import parse_definitions

    with urllib.request.urlopen(cfg["host"] + "/api/feature_flag/local_evaluation/") as resp:
        raw = json.loads(resp.read())
    t0 = time.perf_counter()
    defs = parse_definitions(raw)
    parse_ms = (time.perf_counter() - t0) * 1000

    def evaluate(key: str, did: str, person: Any, groups: Any, gprops: Any) -> Any:
        res = evaluate_flag(
            defs, key, did, person_properties=person, groups=groups, group_properties=gprops
        )
        return None if res is None or not res.decided else res.value

    evaluate.parse_ms = parse_ms  # type: ignore[attr-defined]
    return None, evaluate, lambda: None, "analytics_compat.flags.evaluator.evaluate_flag (pure)"


def scenario_flags(cfg: Dict[str, Any]) -> Dict[str, Any]:
    from benchmarks.flagdefs import callers, definitions

    send_events = cfg["events"]
    keys = [f["key"] for f in definitions()["flags"]]
    people = callers()[: cfg.get("ids", 2000)]
    if cfg["lib"] == "posthog":
        _client, evaluate, flush = _posthog_flags(cfg, send_events)
        api = "Posthog.get_feature_flag_result(only_evaluate_locally=True)"
    else:
        made = _compat_flags(cfg, send_events)
        if made is None:
            return {"skipped": "the pure evaluator sends no events"}
        _client, evaluate, flush, api = made
    # warm-up on ids outside the measured set (fills nothing the measured loop reuses)
    for key in keys:
        evaluate(key, "warmup_user", people[0][1], people[0][2], people[0][3])
    prof = Profiler("caller") if cfg.get("profile") else None
    values, elapsed = timed_flag_loop(evaluate, people, keys, prof)
    t1 = time.perf_counter()
    flush()
    flush_s = time.perf_counter() - t1
    count = len(values)
    result: Dict[str, Any] = {
        "api": api,
        "evaluations": count,
        "us_per_eval": elapsed / count * 1e6,
        "evals_per_s": count / elapsed,
        "undecided": sum(1 for v in values if v is None),
        "flush_s": flush_s,
        "parse_ms": getattr(evaluate, "parse_ms", None),
    }
    if cfg.get("values_out"):
        with open(cfg["values_out"], "w") as fh:
            json.dump(values, fh)
    if prof:
        result["profile"] = prof.report()
    return result
