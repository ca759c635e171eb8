"""fetch_remote_flags against a real local HTTP server: body, headers, retry, parsing.

It never raises for delivery problems: failures come back in ``RemoteFlags.error``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from analytics_compat.errors import HTTPStatusError, RetriesExhaustedError, TransportError
from analytics_compat.flags.remote import REMOTE_REASON, fetch_remote_flags, parse_flags_response

pytestmark = pytest.mark.timeout(60)  # a hung socket fails fast, never stalls the suite

PATH = "/flags/"
KEY = "phc_project_SECRET"

V2 = {
    "flags": {
        "beta": {
            "key": "beta",
            "enabled": True,
            "variant": None,
            "reason": {"code": "condition_match", "condition_index": 1, "description": "x"},
            "metadata": {"id": 12, "version": 3, "payload": json.dumps({"a": 1})},
        },
        "exp": {
            "key": "exp",
            "enabled": True,
            "variant": "test",
            "reason": {"code": "condition_match", "condition_index": 0},
            "metadata": {"id": 13, "version": 1, "payload": "[1, 2]"},
        },
        "off": {
            "key": "off",
            "enabled": False,
            "variant": None,
            "reason": {"code": "no_condition_match"},
            "metadata": {"id": 14, "payload": '"ignored"'},
        },
    },
    "errorsWhileComputingFlags": False,
    "requestId": "req-123",
}


def fetch(server: Any, session: Any, **kw: Any) -> Any:
    kw.setdefault("retry_delay", 0.0)
    return fetch_remote_flags(session, server.url, KEY, "user-1", **kw)


def test_posts_the_documented_body_to_flags_v2_without_authorization(flag_server, session):
    """The session's own Authorization header is removed: /flags/ takes the project key."""
    flag_server.script("POST", PATH, flag_server.reply(200, V2))
    session.headers["Authorization"] = "Bearer phx_personal_SECRET"
    result = fetch(
        flag_server,
        session,
        groups={"company": "acme"},
        person_properties={"plan": "pro"},
        group_properties={"company": {"tier": "gold"}},
        disable_geoip=True,
        flag_keys=["beta", "exp"],
    )
    assert result.ok
    (request,) = flag_server.requests
    assert (request.path, request.raw_query) == ("/flags/", "v=2")
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "api_key": KEY,
        "distinct_id": "user-1",
        "groups": {"company": "acme"},
        "person_properties": {"plan": "pro"},
        "group_properties": {"company": {"tier": "gold"}},
        "geoip_disable": True,
        "flag_keys_to_evaluate": ["beta", "exp"],
    }


def test_flag_keys_are_omitted_when_not_given(flag_server, session):
    flag_server.script("POST", PATH, flag_server.reply(200, V2))
    fetch(flag_server, session, disable_geoip=False)
    body = flag_server.requests[0].json()
    assert "flag_keys_to_evaluate" not in body
    assert body["geoip_disable"] is False
    assert body["groups"] == {} and body["person_properties"] == {}


def test_unserializable_property_values_are_sent_as_text(flag_server, session):
    from datetime import datetime

    flag_server.script("POST", PATH, flag_server.reply(200, V2))
    result = fetch(flag_server, session, person_properties={"at": datetime(2024, 1, 2)})
    assert result.ok
    assert flag_server.requests[0].json()["person_properties"] == {"at": "2024-01-02 00:00:00"}


def test_parses_v2_flags_with_reasons_metadata_and_decoded_payloads(flag_server, session):
    flag_server.script("POST", PATH, flag_server.reply(200, V2))
    result = fetch(flag_server, session)
    assert result.request_id == "req-123" and not result.errors_while_computing
    beta, exp, off = result.flags["beta"], result.flags["exp"], result.flags["off"]
    assert (beta.value, beta.variant, beta.payload) == (True, None, {"a": 1})
    assert (beta.reason, beta.condition_index, beta.flag_id, beta.version) == (
        "condition_match",
        1,
        12,
        3,
    )
    assert (exp.value, exp.variant, exp.payload) == ("test", "test", [1, 2])
    assert (off.value, off.payload, off.reason) == (False, None, "no_condition_match")
    assert all(r.decided and not r.locally_evaluated for r in result.flags.values())
    assert {r.request_id for r in result.flags.values()} == {"req-123"}


def test_parses_the_legacy_decide_answer(flag_server, session):
    legacy = {
        "featureFlags": {"beta": True, "exp": "control", "off": False},
        "featureFlagPayloads": {"beta": '{"x": true}', "exp": "7", "off": "1"},
        "errorsWhileComputingFlags": True,
    }
    flag_server.script("POST", PATH, flag_server.reply(200, legacy))
    result = fetch(flag_server, session)
    assert result.errors_while_computing is True
    assert {k: (r.value, r.variant, r.payload) for k, r in result.flags.items()} == {
        "beta": (True, None, {"x": True}),
        "exp": ("control", "control", 7),
        "off": (False, None, None),
    }
    assert result.flags["beta"].reason == REMOTE_REASON


def test_quota_limited_answer_means_no_flags(flag_server, session):
    body = {**V2, "quotaLimited": ["feature_flags"]}
    flag_server.script("POST", PATH, flag_server.reply(200, body))
    result = fetch(flag_server, session)
    assert (result.quota_limited, result.flags, result.error) == (True, {}, None)


def test_other_quota_limits_are_ignored() -> None:
    result = parse_flags_response({**V2, "quotaLimited": ["recordings"]})
    assert not result.quota_limited and "beta" in result.flags


def test_records_the_server_failed_to_compute_are_left_out() -> None:
    body = {"flags": {"ok": {"enabled": True}, "bad": {"failed": True, "enabled": False}}}
    result = parse_flags_response(body)
    assert list(result.flags) == ["ok"] and result.errors_while_computing


@pytest.mark.parametrize("status", [502, 504])
def test_one_retry_on_502_and_504(flag_server, session, status):
    flag_server.script("POST", PATH, flag_server.reply(status), flag_server.reply(200, V2))
    result = fetch(flag_server, session)
    assert result.ok and "beta" in result.flags
    assert len(flag_server.requests) == 2


def test_gives_up_after_the_single_retry(flag_server, session):
    flag_server.script("POST", PATH, flag_server.reply(502))
    result = fetch(flag_server, session)
    assert len(flag_server.requests) == 2
    assert isinstance(result.error, RetriesExhaustedError)
    assert isinstance(result.error.last_error, HTTPStatusError)
    assert result.error.last_error.status_code == 502
    assert result.flags == {}


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_other_statuses_are_not_retried(flag_server, session, status):
    flag_server.script("POST", PATH, flag_server.reply(status, {"detail": "no"}))
    result = fetch(flag_server, session)
    assert len(flag_server.requests) == 1
    assert isinstance(result.error, HTTPStatusError) and result.error.status_code == status


def test_one_retry_on_a_dropped_connection(flag_server, session):
    flag_server.script("POST", PATH, flag_server.DROP, flag_server.reply(200, V2))
    result = fetch(flag_server, session)
    assert result.ok and len(flag_server.requests) == 2


def test_unreachable_server_returns_an_error_and_never_raises(session, closed_port_url):
    result = fetch_remote_flags(session, closed_port_url, KEY, "u", retry_delay=0.0)
    assert isinstance(result.error, RetriesExhaustedError)
    assert isinstance(result.error.last_error, TransportError)
    assert "SECRET" not in str(result.error)


def test_unreadable_body_is_a_transport_error(flag_server, session):
    flag_server.script("POST", PATH, flag_server.reply(200, "<html>oops</html>"))
    result = fetch(flag_server, session)
    assert isinstance(result.error, TransportError) and len(flag_server.requests) == 1
