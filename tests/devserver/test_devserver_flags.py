"""Flag endpoints: definitions behind a personal API key with ETags; /flags and /decide."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import posthog
import pytest
import requests

from analytics_compat.devserver import DevServer

from .conftest import FLAGS, PERSONAL_KEY, TOKEN

# These tests drive the official SDK's 7.x API; pip gives Python 3.9 an older posthog.
POSTHOG_7 = int(posthog.VERSION.split(".")[0]) >= 7


DEFINITION_PATHS = ["/api/feature_flag/local_evaluation/", "/flags/definitions"]


@pytest.fixture(autouse=True)
def _fresh_sdk_sessions() -> Iterator[None]:
    yield
    # Close the SDK's pooled sessions (older posthog releases have no such hook).
    getattr(posthog.request, "reset_sessions", lambda: None)()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("path", DEFINITION_PATHS)
def test_definitions_need_the_personal_api_key(
    flag_server: DevServer, http: requests.Session, path: str
) -> None:
    url = flag_server.url + path
    assert http.get(url, timeout=10).status_code == 401
    assert http.get(url, headers=_bearer("phx_wrong"), timeout=10).status_code == 401
    assert http.get(url, headers={"Authorization": "Basic abc"}, timeout=10).status_code == 401
    wrong_token = http.get(url + "?token=phc_nope", headers=_bearer(PERSONAL_KEY), timeout=10)
    assert wrong_token.status_code == 401
    response = http.get(url + f"?token={TOKEN}&send_cohorts", headers=_bearer(PERSONAL_KEY))
    assert response.status_code == 200
    assert response.json() == FLAGS


@pytest.mark.parametrize("path", DEFINITION_PATHS)
def test_definitions_etag_answers_304_until_the_file_changes(
    flag_server: DevServer, http: requests.Session, flags_file: Path, path: str
) -> None:
    url = flag_server.url + path
    first = http.get(url, headers=_bearer(PERSONAL_KEY), timeout=10)
    etag = first.headers["ETag"]
    again = http.get(url, headers={**_bearer(PERSONAL_KEY), "If-None-Match": etag}, timeout=10)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    weak = http.get(url, headers={**_bearer(PERSONAL_KEY), "If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304

    edited = {**FLAGS, "flags": FLAGS["flags"][:1]}
    flags_file.write_text(json.dumps(edited), encoding="utf-8")
    stat = flags_file.stat()
    os.utime(flags_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = http.get(url, headers={**_bearer(PERSONAL_KEY), "If-None-Match": etag}, timeout=10)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert [f["key"] for f in changed.json()["flags"]] == ["beta"]


def test_definitions_accept_any_key_when_none_is_configured(http: requests.Session) -> None:
    with DevServer(tokens=(TOKEN,)) as server:
        url = server.url + "/flags/definitions"
        assert http.get(url, timeout=10).status_code == 401
        response = http.get(url, headers=_bearer("phx_anything"), timeout=10)
        assert response.status_code == 200
        assert response.json() == {"flags": [], "group_type_mapping": {}, "cohorts": {}}


def _seed_person_and_group(server: DevServer, http: requests.Session) -> None:
    batch = [
        {"event": "$set", "distinct_id": "u1", "properties": {"$set": {"plan": "pro"}}},
        {
            "event": "$groupidentify",
            "distinct_id": "u1",
            "properties": {
                "$group_type": "company",
                "$group_key": "acme",
                "$group_set": {"tier": "gold"},
            },
        },
    ]
    response = http.post(server.url + "/batch/", json={"api_key": TOKEN, "batch": batch})
    assert response.status_code == 200


def _flags(
    server: DevServer, http: requests.Session, body: dict[str, Any], path: str = "/flags/?v=2"
) -> requests.Response:
    return http.post(server.url + path, json=body, timeout=10)


def test_flags_v2_evaluates_against_stored_person_and_group_properties(
    flag_server: DevServer, http: requests.Session
) -> None:
    _seed_person_and_group(flag_server, http)
    body = {"token": TOKEN, "distinct_id": "u1", "groups": {"company": "acme"}}
    answer = _flags(flag_server, http, body).json()
    assert answer["errorsWhileComputingFlags"] is False
    assert isinstance(answer["requestId"], str)
    beta = answer["flags"]["beta"]
    assert beta == {
        "key": "beta",
        "enabled": True,
        "variant": None,
        "reason": {
            "code": "condition_match",
            "description": "condition match",
            "condition_index": 0,
        },
        "metadata": {"id": 1, "version": 3, "payload": '{"color":"blue"}'},
    }
    assert answer["flags"]["company-gold"]["enabled"] is True
    assert answer["flags"]["everyone"]["enabled"] is True
    undecided = answer["flags"]["static-cohort-flag"]
    assert undecided["enabled"] is False, "undecidable flags are answered false"
    assert "devserver" in undecided["reason"]["description"]


def test_flags_request_properties_override_stored_ones(
    flag_server: DevServer, http: requests.Session
) -> None:
    _seed_person_and_group(flag_server, http)
    body = {
        "api_key": TOKEN,
        "distinct_id": "u1",
        "groups": {"company": "acme"},
        "person_properties": {"plan": "free"},
        "group_properties": {"company": {"tier": "silver"}},
    }
    flags = _flags(flag_server, http, body).json()["flags"]
    assert flags["beta"]["enabled"] is False
    assert flags["beta"]["metadata"]["payload"] is None
    assert flags["company-gold"]["enabled"] is False
    assert _flags(flag_server, http, {**body, "distinct_id": "stranger"}).status_code == 200


def test_flags_v4_adds_typed_values(flag_server: DevServer, http: requests.Session) -> None:
    body = {"token": TOKEN, "distinct_id": "x", "person_properties": {"plan": "pro"}}
    flags = _flags(flag_server, http, body, "/flags/?v=4").json()["flags"]
    assert flags["beta"]["value"] is True
    assert flags["static-cohort-flag"]["value"] is False


def test_decide_answers_values_and_payloads(flag_server: DevServer, http: requests.Session) -> None:
    _seed_person_and_group(flag_server, http)
    answer = _flags(flag_server, http, {"token": TOKEN, "distinct_id": "u1"}, "/decide/").json()
    assert answer["featureFlags"] == {
        "beta": True,
        "everyone": True,
        "company-gold": False,
        "static-cohort-flag": False,
    }
    assert answer["featureFlagPayloads"] == {"beta": '{"color":"blue"}'}


@pytest.mark.parametrize("path", ["/flags/?v=2", "/decide/"])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"distinct_id": "u1"}, 401),
        ({"token": "phc_wrong", "distinct_id": "u1"}, 401),
        ({"token": TOKEN}, 400),
        ({"token": TOKEN, "distinct_id": "u1", "person_properties": [1]}, 400),
    ],
    ids=["no-token", "wrong-token", "no-distinct-id", "bad-person-properties"],
)
def test_flags_and_decide_refuse_bad_requests(
    flag_server: DevServer, http: requests.Session, path: str, body: dict[str, Any], status: int
) -> None:
    assert _flags(flag_server, http, body, path).status_code == status


@pytest.mark.skipif(not POSTHOG_7, reason="needs posthog>=7 (Python 3.10+)")
def test_posthog_sdk_remote_and_local_evaluation_work_against_the_devserver(
    flag_server: DevServer, http: requests.Session
) -> None:
    _seed_person_and_group(flag_server, http)
    common: dict[str, Any] = {
        "project_api_key": TOKEN,
        "host": flag_server.url,
        "sync_mode": True,
        "capture_mode": "v0",
        "max_retries": 0,
    }
    remote = posthog.Posthog(**common, enable_local_evaluation=False)
    try:
        flags = remote.evaluate_flags("u1", groups={"company": "acme"})
        assert flags.get_flag("beta") is True
        assert flags.get_flag_payload("beta") == {"color": "blue"}
        assert flags.get_flag("company-gold") is True
    finally:
        remote.shutdown()
    local = posthog.Posthog(**common, secret_key=PERSONAL_KEY)
    try:
        flags = local.evaluate_flags(
            "someone", person_properties={"plan": "pro"}, only_evaluate_locally=True
        )
        assert flags.get_flag("beta") is True
        assert flags.get_flag("everyone") is True
    finally:
        local.shutdown()
    definitions = [r for r in flag_server.requests_log if r.path == "/flags/definitions"]
    assert definitions and all(r.status == 200 for r in definitions)


def test_set_flags_replaces_the_definitions(flag_server: DevServer, http: requests.Session) -> None:
    flag_server.set_flags({"flags": [FLAGS["flags"][1]]})
    answer = _flags(flag_server, http, {"token": TOKEN, "distinct_id": "u"}, "/decide/").json()
    assert answer["featureFlags"] == {"everyone": True}
